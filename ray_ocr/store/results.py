"""Video results as Parquet datasets, plus the task journal and human reviews (SQLite).

Layout under ``data_dir``::

    videos/day=YYYY-MM-DD/part-<uuid>.parquet   one row per finished video
    lines/day=YYYY-MM-DD/part-<uuid>.parquet    every recognised line of every OCR'd frame
    hits/day=YYYY-MM-DD/part-<uuid>.parquet     keyword hits with their evidence JPEG
    evidence/<video_id>/<frame>.jpg
    journal.sqlite                              task states and reviews

Each write is a batch (one video or a flush of several) and produces one part file per
table, each written atomically (store/atomic.py), lines and hits first and the videos part
last. A ``result_id`` ties the three together and readers only follow it from a videos row,
so a crash between the files leaves invisible orphans, never a half-visible result. ``day``
is the UTC day the video finished, a Hive partition so day queries only open that folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ray_ocr.schemas import TextLine, Verdict, VideoResult
from ray_ocr.store.atomic import atomic_write, remove_stale_tmp
from ray_ocr.store.journal import ReviewRecord, TaskJournal

_STR = pa.string()
VIDEOS_SCHEMA = pa.schema(
    [
        ("result_id", _STR), ("video_id", _STR), ("path", _STR), ("md5", _STR), ("verdict", _STR),
        ("reason", _STR), ("duplicate_of", _STR), ("keyframes", pa.int32()), ("ocr_frames", pa.int32()),
        ("hit_count", pa.int32()), ("elapsed_s", pa.float64()), ("submitted_at", pa.float64()),
        ("finished_at", pa.float64()), ("model_version", _STR), ("keywords_version", _STR), ("timings", _STR),
    ]
)
BOX_TYPE = pa.list_(pa.list_(pa.float32(), 2), 4)
LINES_SCHEMA = pa.schema(
    [
        ("result_id", _STR), ("video_id", _STR), ("frame_index", pa.int32()), ("ts", pa.float64()),
        ("line_index", pa.int32()), ("text", _STR), ("score", pa.float32()), ("box", BOX_TYPE), ("model_version", _STR),
    ]
)
HITS_SCHEMA = pa.schema(
    [
        ("result_id", _STR), ("video_id", _STR), ("keyword", _STR), ("category", _STR), ("ts", pa.float64()),
        ("frame_index", pa.int32()), ("text", _STR), ("evidence", _STR), ("keywords_version", _STR),
    ]
)
SCHEMAS = {"videos": VIDEOS_SCHEMA, "lines": LINES_SCHEMA, "hits": HITS_SCHEMA}
_PARTITIONING = ds.partitioning(pa.schema([("day", _STR)]), flavor="hive")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _check_day(day: str) -> str:
    if not isinstance(day, str) or not _DAY_RE.match(day):
        raise ValueError(f"day must look like YYYY-MM-DD, got {day!r}")
    return day


@dataclass(frozen=True)
class FrameText:
    """The recognised lines of one OCR'd frame."""

    frame_index: int
    ts: float
    lines: Sequence[TextLine]


@dataclass
class ResultItem:
    """One video's result with everything the store keeps about it."""

    result: VideoResult
    frames: Sequence[FrameText] = ()
    submitted_at: float | None = None
    finished_at: float = field(default_factory=time.time)
    model_version: str = ""
    keywords_version: str = ""
    day: str | None = None  # default: UTC day of finished_at
    result_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class ResultStore:
    def __init__(self, data_dir: str | os.PathLike[str], busy_timeout_s: float = 30.0):
        self.root = Path(data_dir)
        for t in SCHEMAS:
            (self.root / t).mkdir(parents=True, exist_ok=True)
        # Leftover temp files of writers that died mid-write (never visible to readers).
        self.removed_tmp = remove_stale_tmp(self.root)
        self.journal = TaskJournal(self.root / "journal.sqlite", busy_timeout_s)

    def __reduce__(self):
        return (ResultStore, (str(self.root), self.journal.busy_timeout_s))

    # -- writing -----------------------------------------------------------------------------

    def write_result(self, result: VideoResult, frames: Sequence[FrameText] = (), **kw: Any) -> str:
        """Store one video's result; returns its result_id. ``kw``: see ResultItem."""
        item = ResultItem(result=result, frames=frames, **kw)
        self.write_many([item])
        return item.result_id

    def write_many(self, items: Sequence[ResultItem]) -> list[Path]:
        """Store a batch: one part file per table per day, videos last (the commit)."""
        by_day: dict[str, list[ResultItem]] = {}
        for it in items:
            by_day.setdefault(_check_day(it.day) if it.day else utc_day(it.finished_at), []).append(it)
        written: list[Path] = []
        for day, group in by_day.items():
            part = f"part-{uuid.uuid4().hex}.parquet"
            lines, hits = _lines_table(group), _hits_table(group)
            if lines.num_rows:
                written.append(self._write(lines, "lines", day, part))
            if hits.num_rows:
                written.append(self._write(hits, "hits", day, part))
            written.append(self._write(_videos_table(group), "videos", day, part))
        return written

    def _write(self, table: pa.Table, name: str, day: str, part: str) -> Path:
        path = self.root / name / f"day={day}" / part
        atomic_write(path, lambda f: pq.write_table(table, f, compression="zstd"))
        return path

    # -- reading -----------------------------------------------------------------------------

    def dataset(self, name: str) -> ds.Dataset:
        schema = SCHEMAS[name].append(pa.field("day", _STR))
        return ds.dataset(self.root / name, schema=schema, format="parquet", partitioning=_PARTITIONING)

    def table(self, name: str, filter: ds.Expression | None = None, day: str | None = None) -> pa.Table:
        if day is not None:
            f = ds.field("day") == _check_day(day)
            filter = f if filter is None else filter & f
        return self.dataset(name).to_table(filter=filter)

    def by_video_id(self, video_id: str) -> dict[str, Any] | None:
        """The latest stored result of a video with its hits, or None."""
        rows = self.table("videos", ds.field("video_id") == video_id).to_pylist()
        if not rows:
            return None
        row = max(rows, key=lambda r: (r["finished_at"], r["result_id"]))
        return self._with_hits(row)

    def by_md5(self, md5: str) -> dict[str, Any] | None:
        """The earliest decided (reject/pass) result with this content hash."""
        flt = (ds.field("md5") == md5) & ds.field("verdict").isin([Verdict.REJECT.value, Verdict.PASS.value])
        rows = self.table("videos", flt).to_pylist()
        if not rows:
            return None
        return self._with_hits(min(rows, key=lambda r: (r["finished_at"], r["result_id"])))

    def lines_for(self, video_id: str) -> list[dict[str, Any]]:
        """Recognised lines of the latest result of a video, in frame then line order."""
        latest = self.by_video_id(video_id)
        if latest is None:
            return []
        flt = (ds.field("result_id") == latest["result_id"]) & (ds.field("day") == latest["day"])
        rows = self.table("lines", flt).to_pylist()
        return sorted(rows, key=lambda r: (r["frame_index"], r["line_index"]))

    def rejected_by_day(self, day: str) -> list[dict[str, Any]]:
        """Videos whose latest result that day is a machine reject, oldest first."""
        rows = self.table("videos", day=day).to_pylist()
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:
            cur = latest.get(r["video_id"])
            if cur is None or (r["finished_at"], r["result_id"]) > (cur["finished_at"], cur["result_id"]):
                latest[r["video_id"]] = r
        rej = [r for r in latest.values() if r["verdict"] == Verdict.REJECT.value]
        return [self._with_hits(r) for r in sorted(rej, key=lambda r: (r["finished_at"], r["video_id"]))]

    def _with_hits(self, row: dict[str, Any]) -> dict[str, Any]:
        flt = (ds.field("result_id") == row["result_id"]) & (ds.field("day") == row["day"])
        hits = self.table("hits", flt).to_pylist()
        out = dict(row)
        out["timings"] = json.loads(row["timings"] or "{}")
        out["hits"] = [{k: h[k] for k in ("keyword", "category", "ts", "frame_index", "text", "evidence")} for h in sorted(hits, key=lambda h: h["ts"])]
        return out

    # -- human feedback ------------------------------------------------------------------------

    def record_review(self, video_id: str, decision: str, reviewer: str, note: str = "") -> ReviewRecord:
        """A reviewer's decision ('pass' or 'reject') on a stored video. KeyError if the
        store has no result for it (a review of nothing would be silently useless)."""
        if self.by_video_id(video_id) is None:
            raise KeyError(video_id)
        return self.journal.record_review(video_id, decision, reviewer, note)

    def false_positives(self, day: str) -> list[dict[str, Any]]:
        """Machine-rejected videos of ``day`` that a human passed (latest review): the daily
        relabelling package."""
        rejected = self.rejected_by_day(day)
        decisions = self.journal.latest_decisions([r["video_id"] for r in rejected])
        return [r for r in rejected if decisions.get(r["video_id"]) == "pass"]


def _videos_table(items: Sequence[ResultItem]) -> pa.Table:
    rows = []
    for it in items:
        r = it.result
        rows.append(
            {
                "result_id": it.result_id, "video_id": r.video_id, "path": r.path, "md5": r.md5,
                "verdict": r.verdict.value, "reason": r.reason, "duplicate_of": r.duplicate_of,
                "keyframes": r.keyframes, "ocr_frames": r.ocr_frames, "hit_count": len(r.hits),
                "elapsed_s": r.elapsed_s, "submitted_at": it.submitted_at, "finished_at": it.finished_at,
                "model_version": it.model_version, "keywords_version": it.keywords_version,
                "timings": json.dumps(r.timings),
            }
        )
    return pa.Table.from_pylist(rows, schema=VIDEOS_SCHEMA)


def _lines_table(items: Sequence[ResultItem]) -> pa.Table:
    cols: dict[str, list[Any]] = {n: [] for n in LINES_SCHEMA.names}
    for it in items:
        for fr in it.frames:
            for j, ln in enumerate(fr.lines):
                cols["result_id"].append(it.result_id)
                cols["video_id"].append(it.result.video_id)
                cols["frame_index"].append(fr.frame_index)
                cols["ts"].append(fr.ts)
                cols["line_index"].append(j)
                cols["text"].append(ln.text)
                cols["score"].append(ln.score)
                cols["box"].append(ln.box)
                cols["model_version"].append(it.model_version)
    return pa.Table.from_pydict(cols, schema=LINES_SCHEMA)


def _hits_table(items: Sequence[ResultItem]) -> pa.Table:
    rows = []
    for it in items:
        for h in it.result.hits:
            rows.append(
                {
                    "result_id": it.result_id, "video_id": it.result.video_id, "keyword": h.keyword,
                    "category": h.category, "ts": h.ts, "frame_index": h.frame_index, "text": h.text,
                    "evidence": h.evidence, "keywords_version": it.keywords_version,
                }
            )
    return pa.Table.from_pylist(rows, schema=HITS_SCHEMA)
