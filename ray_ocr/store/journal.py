"""The task journal: every video task's state in SQLite, surviving restarts.

WAL mode lets readers run while one process writes; ``busy_timeout`` makes a second writer
(another process: the Serve ingress, the scheduler, a CLI) wait for the lock instead of
failing. Each write is one short ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``,
so a state the journal acknowledged survives a crash of the process or the machine.
Connections are per thread and per process (re-opened after fork); the object pickles as
its path, so a Ray actor can be handed one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ray_ocr.schemas import TaskState, VideoTask

FINISHED = (TaskState.DONE, TaskState.ERROR, TaskState.EXPIRED, TaskState.DUPLICATE)
UNFINISHED = (TaskState.QUEUED, TaskState.RUNNING)
REVIEW_DECISIONS = ("pass", "reject")
_SETTABLE = frozenset({"uri", "md5", "verdict", "reason", "payload", "attempts", "result_day", "duplicate_of"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    video_id     TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    uri          TEXT NOT NULL,
    md5          TEXT,
    verdict      TEXT,
    reason       TEXT,
    duplicate_of TEXT,
    result_day   TEXT,
    submitted_at REAL NOT NULL,
    updated_at   REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS tasks_state_submitted ON tasks(state, submitted_at);
-- by_md5 looks for the finished original among every upload of the same bytes: a clip
-- re-uploaded 10k times must not make that a 10k-row scan.
DROP INDEX IF EXISTS tasks_md5;
CREATE INDEX IF NOT EXISTS tasks_md5_state ON tasks(md5, state, updated_at) WHERE md5 IS NOT NULL;
CREATE TABLE IF NOT EXISTS reviews (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id   TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('pass', 'reject')),
    reviewer   TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_video ON reviews(video_id, id);
"""


class TaskRecord(BaseModel):
    video_id: str
    state: TaskState
    uri: str
    md5: str | None = None
    verdict: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None
    result_day: str | None = None
    submitted_at: float
    updated_at: float
    attempts: int = 0
    payload: dict[str, Any] = {}

    def task(self) -> VideoTask:
        """The submitted VideoTask (as enqueued)."""
        data = self.payload.get("task")
        if data is not None:
            return VideoTask.model_validate(data)
        return VideoTask(video_id=self.video_id, uri=self.uri, submitted_at=self.submitted_at)


class ReviewRecord(BaseModel):
    id: int
    video_id: str
    decision: str
    reviewer: str
    note: str
    created_at: float


class TaskJournal:
    def __init__(self, path: str | os.PathLike[str], busy_timeout_s: float = 30.0, autocheckpoint: bool = True):
        """``autocheckpoint=False``: commits never copy the WAL back into the database (SQLite
        does that inside whichever COMMIT crosses 1000 pages, an 8 ms stall on this machine);
        the owner calls checkpoint() from a background thread instead."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self.autocheckpoint = autocheckpoint
        self._local = threading.local()
        # executescript manages its own transaction; CREATE ... IF NOT EXISTS is idempotent
        # so two processes opening a fresh journal at once both succeed.
        self._conn().executescript(_SCHEMA)

    def __reduce__(self):
        return (TaskJournal, (str(self.path), self.busy_timeout_s, self.autocheckpoint))

    def checkpoint(self) -> tuple[int, int]:
        """Copy committed WAL pages into the database without blocking writers (PASSIVE).
        Returns (pages in the WAL, pages copied)."""
        _, log_pages, done = self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log_pages, done

    # -- connection handling -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            if not self.autocheckpoint:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        if getattr(self._local, "depth", 0):
            # Inside batch(): part of the enclosing transaction.
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0
        db.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction (one fsync) for every write in the block: group commit for callers
        that have several changes ready at once. All or nothing: an error rolls back them all."""
        with self._tx():
            yield

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def _record(row: sqlite3.Row | None) -> TaskRecord | None:
        if row is None:
            return None
        d = dict(row)
        d["payload"] = json.loads(d["payload"] or "{}")
        return TaskRecord.model_validate(d)

    # -- tasks -------------------------------------------------------------------------------

    def enqueue(self, task: VideoTask, *, md5: str | None = None) -> bool:
        """Record a new queued task. False (and nothing changed) if the video_id is known."""
        now = time.time()
        payload = json.dumps({"task": task.model_dump(mode="json")}, ensure_ascii=False)
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO tasks (video_id, state, uri, md5, submitted_at, updated_at, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task.video_id, TaskState.QUEUED.value, task.uri, md5, task.submitted_at, now, payload),
            )
            return cur.rowcount == 1

    def set_state(self, video_id: str, state: TaskState | str, **fields: Any) -> TaskRecord:
        """Move a task to ``state`` and update any of uri, md5, verdict, reason, payload
        (a dict, merged into the stored one), attempts, result_day, duplicate_of. Entering
        ``running`` counts an attempt. KeyError for an unknown video_id."""
        state = TaskState(state)
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise TypeError(f"set_state got unknown field(s) {sorted(unknown)}; allowed: {sorted(_SETTABLE)}")
        with self._tx() as db:
            row = db.execute("SELECT payload FROM tasks WHERE video_id = ?", (video_id,)).fetchone()
            if row is None:
                raise KeyError(video_id)
            cols = {"state": state.value, "updated_at": time.time()}
            for k, v in fields.items():
                if k == "payload":
                    merged = json.loads(row["payload"] or "{}")
                    merged.update(v or {})
                    v = json.dumps(merged, ensure_ascii=False)
                elif k == "verdict" and v is not None:
                    v = str(v.value if hasattr(v, "value") else v)
                cols[k] = v
            sets = ", ".join(f"{k} = ?" for k in cols)
            extra = ", attempts = attempts + 1" if state == TaskState.RUNNING and "attempts" not in fields else ""
            db.execute(f"UPDATE tasks SET {sets}{extra} WHERE video_id = ?", (*cols.values(), video_id))
            out = db.execute("SELECT * FROM tasks WHERE video_id = ?", (video_id,)).fetchone()
        return self._record(out)  # type: ignore[return-value]

    def get(self, video_id: str) -> TaskRecord | None:
        return self._record(self._conn().execute("SELECT * FROM tasks WHERE video_id = ?", (video_id,)).fetchone())

    def unfinished(self) -> list[TaskRecord]:
        """Queued and running tasks, newest first: what a restarted scheduler resumes."""
        rows = self._conn().execute(
            "SELECT * FROM tasks WHERE state IN (?, ?) ORDER BY submitted_at DESC, video_id",
            tuple(s.value for s in UNFINISHED),
        ).fetchall()
        return [self._record(r) for r in rows]  # type: ignore[misc]

    def pending_newest_first(self, limit: int | None = None) -> list[VideoTask]:
        """Queued (not yet started) tasks, newest submission first."""
        sql = "SELECT * FROM tasks WHERE state = ? ORDER BY submitted_at DESC, video_id"
        params: tuple[Any, ...] = (TaskState.QUEUED.value,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (int(limit),)
        return [self._record(r).task() for r in self._conn().execute(sql, params).fetchall()]  # type: ignore[union-attr]

    def by_md5(self, md5: str, exclude: str | None = None) -> TaskRecord | None:
        """The earliest finished (done) task with this content hash: the original a
        re-upload is a duplicate of."""
        row = self._conn().execute(
            "SELECT * FROM tasks WHERE md5 = ? AND state = ? AND video_id != ? ORDER BY updated_at, video_id LIMIT 1",
            (md5, TaskState.DONE.value, exclude or ""),
        ).fetchone()
        return self._record(row)

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state").fetchall()
        out = {s.value: 0 for s in TaskState}
        out.update({r["state"]: r["n"] for r in rows})
        return out

    # -- human reviews ---------------------------------------------------------------------------

    def record_review(self, video_id: str, decision: str, reviewer: str, note: str = "") -> ReviewRecord:
        if decision not in REVIEW_DECISIONS:
            raise ValueError(f"decision must be one of {REVIEW_DECISIONS}, got {decision!r}")
        if not reviewer:
            raise ValueError("reviewer must not be empty")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO reviews (video_id, decision, reviewer, note, created_at) VALUES (?, ?, ?, ?, ?)",
                (video_id, decision, reviewer, note or "", time.time()),
            )
            row = db.execute("SELECT * FROM reviews WHERE id = ?", (cur.lastrowid,)).fetchone()
        return ReviewRecord.model_validate(dict(row))

    def reviews(self, video_id: str) -> list[ReviewRecord]:
        rows = self._conn().execute("SELECT * FROM reviews WHERE video_id = ? ORDER BY id", (video_id,)).fetchall()
        return [ReviewRecord.model_validate(dict(r)) for r in rows]

    def latest_decisions(self, video_ids: Sequence[str]) -> dict[str, str]:
        """video_id → the most recent human decision, for those reviewed."""
        out: dict[str, str] = {}
        ids = list(video_ids)
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            q = ",".join("?" * len(chunk))
            rows = self._conn().execute(
                f"SELECT r.video_id, r.decision FROM reviews r JOIN (SELECT video_id, MAX(id) AS id FROM reviews"
                f" WHERE video_id IN ({q}) GROUP BY video_id) last ON r.id = last.id",
                chunk,
            ).fetchall()
            out.update({r["video_id"]: r["decision"] for r in rows})
        return out
