"""TaskBuffer actor: the one owner of the task journal.

Newest-first, capped queue (buffer.TaskQueue) plus the finished results, so drivers and the
HTTP API read verdicts from here and a restarted Scheduler finds the videos it was running.
Everything is journaled to SQLite first; a restarted TaskBuffer rebuilds itself from the file.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from ray_ocr.cluster.buffer import EXPIRED_REASON, TaskQueue
from ray_ocr.schemas import TaskState, Verdict, VideoResult, VideoTask
from ray_ocr.store.journal import TaskJournal, TaskRecord

STATE_OF_VERDICT = {
    Verdict.REJECT: TaskState.DONE,
    Verdict.PASS: TaskState.DONE,
    Verdict.DUPLICATE: TaskState.DUPLICATE,
    Verdict.ERROR: TaskState.ERROR,
    Verdict.EXPIRED: TaskState.EXPIRED,
}


def result_of_record(rec: TaskRecord) -> VideoResult | None:
    """The VideoResult of a finished journal record (None while it is unfinished)."""
    if rec.state in (TaskState.QUEUED, TaskState.RUNNING):
        return None
    stored = rec.payload.get("result")
    if stored:
        return VideoResult.model_validate(stored)
    verdict = Verdict.EXPIRED if rec.state is TaskState.EXPIRED else Verdict(rec.verdict or Verdict.ERROR)
    return VideoResult(video_id=rec.video_id, path=rec.uri, md5=rec.md5, verdict=verdict, reason=rec.reason,
                       duplicate_of=rec.duplicate_of)


class BufferCore:
    """Ray-free logic of the actor (queue + journal + results), so it is testable directly."""

    def __init__(self, journal_path: str | Path, cap: int, autocheckpoint: bool = True):
        self.journal = TaskJournal(journal_path, autocheckpoint=autocheckpoint)
        self.queue = TaskQueue(cap, self.journal)
        self.restored = self.queue.restore()

    def submit(self, task: VideoTask) -> dict[str, Any]:
        known = self.journal.get(task.video_id)
        if known is not None and task.video_id not in self.queue:
            # Resubmitting a known id is idempotent: report where it is.
            return {"video_id": task.video_id, "state": known.state.value, "evicted": [], "known": True}
        r = self.queue.push(task)
        return {"video_id": r.video_id, "state": r.state.value, "evicted": list(r.evicted), "known": r.duplicate}

    def pop(self) -> VideoTask | None:
        return self.queue.pop()

    def running(self) -> list[VideoTask]:
        return [r.task() for r in self.journal.unfinished() if r.state is TaskState.RUNNING]

    def finish(self, result: VideoResult) -> None:
        state = STATE_OF_VERDICT[result.verdict]
        fields: dict[str, Any] = {
            "verdict": result.verdict.value,
            "reason": result.reason,
            "payload": {"result": result.model_dump(mode="json")},
        }
        if result.md5:
            fields["md5"] = result.md5
        if result.duplicate_of:
            fields["duplicate_of"] = result.duplicate_of
        self.journal.set_state(result.video_id, state, **fields)

    def result(self, video_id: str) -> VideoResult | None:
        rec = self.journal.get(video_id)
        if rec is None:
            return None
        res = result_of_record(rec)
        if res is None or rec.state is not TaskState.EXPIRED or rec.payload.get("result"):
            return res
        return res.model_copy(update={"reason": rec.reason or EXPIRED_REASON.format(cap=self.queue.cap)})

    def by_md5(self, md5: str, exclude: str) -> VideoResult | None:
        rec = self.journal.by_md5(md5, exclude=exclude)
        return None if rec is None else result_of_record(rec)


class GroupCommit:
    """Submissions that arrive together share one commit.

    A burst of HTTP submissions, or the calls that queued up while the actor was busy, are
    handed to `commit` as one list on the next turn of the event loop, so the journal writes
    them in one transaction instead of one per video, and the loop gets back to answering
    sooner. Nothing waits for a batch to fill: a lone call is committed on the next turn.
    """

    def __init__(self, commit: Callable[[list[list[VideoTask]]], list[list[dict[str, Any]]]]):
        self._commit = commit
        self._pending: list[tuple[list[VideoTask], asyncio.Future]] = []
        self.commits = 0
        self.calls = 0

    async def submit(self, tasks: list[VideoTask]) -> list[dict[str, Any]]:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((tasks, fut))
        if len(self._pending) == 1:
            # call_soon runs after the callbacks already runnable this turn: the other calls
            # that arrived meanwhile add theirs first.
            asyncio.get_running_loop().call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            outs = self._commit([tasks for tasks, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every call of the batch hears of it
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.commits += 1
        self.calls += len(batch)
        for (_, fut), out in zip(batch, outs, strict=True):
            if not fut.done():
                fut.set_result(out)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class TaskBuffer:
    def __init__(self, journal_path: str, cap: int):
        # The WAL is copied back by a background thread (_checkpoints), not inside a commit
        # that a submission is waiting on.
        self.core = BufferCore(journal_path, cap, autocheckpoint=False)
        self._arrived = asyncio.Event()
        self._finished = asyncio.Event()
        self.started = time.time()
        # The scheduler generation allowed to pop. A dead scheduler's pop_wait may still be
        # pending here after its successor took over; that pop must not take a task nobody
        # would run (the successor has already read the running list).
        self._owner: str | None = None
        self.commits = GroupCommit(self._commit)
        self._checkpointer: asyncio.Task | None = None

    async def _checkpoints(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(self.core.journal.checkpoint)
            except Exception:  # noqa: BLE001 - a busy database: the next round catches up
                pass

    def _ensure_checkpointer(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoints())

    async def submit(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue tasks (journaled before this returns); see GroupCommit."""
        self._ensure_checkpointer()
        return await self.commits.submit([VideoTask.model_validate(t) for t in tasks])  # a bad task fails only its call

    def _commit(self, calls: list[list[VideoTask]]) -> list[list[dict[str, Any]]]:
        try:
            with self.core.journal.batch():
                outs = [[self.core.submit(t) for t in tasks] for tasks in calls]
        except Exception:
            # Rolled back in the journal; the in-memory queue may hold part of the batch, so it
            # is rebuilt from the journal, the source of truth.
            self.core = BufferCore(self.core.journal.path, self.core.queue.cap, autocheckpoint=False)
            raise
        self._arrived.set()
        if any(o["evicted"] or o["state"] == TaskState.EXPIRED.value for out in outs for o in out):
            self._finished.set()
        return outs

    async def pop_wait(self, timeout_s: float = 1.0, owner: str | None = None) -> dict[str, Any]:
        """The newest task (marked running), waiting up to timeout_s for one to arrive."""
        self._ensure_checkpointer()
        task = self._pop(owner)
        if task is None and timeout_s > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                pass
            task = self._pop(owner)
        return {"task": None if task is None else task.model_dump(mode="json"), "depth": len(self.core.queue)}

    def _pop(self, owner: str | None) -> VideoTask | None:
        if owner is not None and self._owner is not None and owner != self._owner:
            return None  # a superseded scheduler
        return self.core.pop()

    async def running(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Tasks the journal says are running; `owner` (a scheduler generation) takes over popping."""
        if owner is not None:
            self._owner = owner
        return [t.model_dump(mode="json") for t in self.core.running()]

    async def finish(self, result: dict[str, Any]) -> None:
        self._ensure_checkpointer()
        self.core.finish(VideoResult.model_validate(result))
        self._finished.set()

    async def wait_results(self, video_ids: list[str], timeout_s: float = 1.0) -> list[dict[str, Any]]:
        """Results of those of video_ids that have finished; waits up to timeout_s for one."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._finished.clear()
            found = [r for r in (self.core.result(v) for v in video_ids) if r is not None]
            left = deadline - time.monotonic()
            if found or left <= 0:
                return [r.model_dump(mode="json") for r in found]
            try:
                await asyncio.wait_for(self._finished.wait(), left)
            except TimeoutError:
                pass

    async def by_md5(self, md5: str, exclude: str) -> dict[str, Any] | None:
        r = self.core.by_md5(md5, exclude)
        return None if r is None else r.model_dump(mode="json")

    async def get(self, video_id: str) -> dict[str, Any] | None:
        rec = self.core.journal.get(video_id)
        return None if rec is None else rec.model_dump(mode="json")

    async def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "depth": len(self.core.queue),
            "cap": self.core.queue.cap,
            "expired_total": self.core.queue.expired_total,
            "restored": self.core.restored,
            # Tasks per submit commit: above 1 when submissions arrive in bursts.
            "submit_commits": self.commits.commits,
            "submit_calls_per_commit": round(self.commits.calls / self.commits.commits, 2) if self.commits.commits else None,
            "counts": self.core.journal.counts(),
            "queued_newest_first": [t.video_id for t in self.core.queue.snapshot()[:50]],
        }
