"""The task buffer's logic, free of Ray: newest first, capped, evictions recorded.

A moderation verdict that arrives after the human review window is worthless, so the freshest
submission is served first and, when the buffer is full, the *oldest unstarted* task makes room
and is recorded as `expired` (never silently dropped). Every change goes to the journal first,
so a restarted buffer rebuilds itself from it.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ray_ocr.schemas import TaskState, VideoTask

EXPIRED_REASON = "evicted from a full task buffer (cap {cap}) by newer submissions"


class JournalLike(Protocol):
    """The part of the SQLite task journal (ray_ocr.store) the buffer writes."""

    def enqueue(self, task: VideoTask) -> Any: ...

    def set_state(self, video_id: str, state: TaskState, **fields: Any) -> Any: ...

    def pending_newest_first(self, limit: int | None = None) -> list[VideoTask]: ...


@dataclass(frozen=True)
class PushResult:
    video_id: str
    state: TaskState  # QUEUED, or EXPIRED if the task itself was the oldest in a full buffer
    evicted: tuple[str, ...] = ()  # older tasks expired to make room
    duplicate: bool = False  # this video_id was already queued


class TaskQueue:
    """Tasks sorted by (submitted_at, arrival); pop takes the newest, eviction the oldest."""

    def __init__(self, cap: int, journal: JournalLike | None = None):
        if cap < 1:
            raise ValueError(f"buffer cap must be >= 1, got {cap}")
        self.cap = cap
        self.journal = journal
        self._seq = itertools.count()
        self._keys: list[tuple[float, int, str]] = []  # sorted ascending
        self._tasks: dict[str, VideoTask] = {}
        self.expired_total = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._tasks

    def restore(self) -> int:
        """Reload the queued tasks from the journal (after a restart). Returns how many."""
        if self.journal is None:
            return 0
        for task in reversed(self.journal.pending_newest_first()):  # oldest first keeps seq order
            if task.video_id not in self._tasks:
                self._insert(task)
        # A journal written under a larger cap may hold more than fits now.
        for vid in self._evict_over_cap():
            self._expire(vid)
        return len(self)

    def push(self, task: VideoTask) -> PushResult:
        if task.video_id in self._tasks:
            return PushResult(task.video_id, TaskState.QUEUED, duplicate=True)
        if self.journal is not None:
            self.journal.enqueue(task)  # journal first: a crash after this loses nothing
        self._insert(task)
        evicted = [vid for vid in self._evict_over_cap()]
        own_state = TaskState.QUEUED
        for vid in evicted:
            self._expire(vid)
            if vid == task.video_id:
                own_state = TaskState.EXPIRED
        return PushResult(task.video_id, own_state, tuple(v for v in evicted if v != task.video_id))

    def push_many(self, tasks: Iterable[VideoTask]) -> list[PushResult]:
        return [self.push(t) for t in tasks]

    def pop(self) -> VideoTask | None:
        """The newest task, marked running in the journal; None when empty."""
        if not self._keys:
            return None
        _, _, vid = self._keys.pop()
        task = self._tasks.pop(vid)
        if self.journal is not None:
            self.journal.set_state(vid, TaskState.RUNNING)
        return task

    def remove(self, video_id: str) -> VideoTask | None:
        task = self._tasks.pop(video_id, None)
        if task is not None:
            self._keys = [k for k in self._keys if k[2] != video_id]
        return task

    def snapshot(self) -> list[VideoTask]:
        """Queued tasks, newest first."""
        return [self._tasks[k[2]] for k in reversed(self._keys)]

    def _insert(self, task: VideoTask) -> None:
        bisect.insort(self._keys, (task.submitted_at, next(self._seq), task.video_id))
        self._tasks[task.video_id] = task

    def _evict_over_cap(self) -> list[str]:
        out = []
        while len(self._keys) > self.cap:
            _, _, vid = self._keys.pop(0)
            self._tasks.pop(vid, None)
            out.append(vid)
        return out

    def _expire(self, video_id: str) -> None:
        self.expired_total += 1
        if self.journal is not None:
            self.journal.set_state(video_id, TaskState.EXPIRED, reason=EXPIRED_REASON.format(cap=self.cap))
