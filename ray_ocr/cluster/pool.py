"""The elastic OcrWorker pool as the scheduler sees it (bookkeeping; actors made by a factory).

Workers move starting -> idle <-> busy; a dead one is dropped and the pool refills to its
target. Shrinking retires idle workers only, newest first, so warm sessions that are busy are
never torn down mid-task. A worker that cannot be placed stays `starting`: that pending actor
is the resource demand the Ray autoscaler turns into a node.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ray_ocr.cluster.policy import Stage, WorkerSlot


class WorkerState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"


@dataclass
class WorkerInfo:
    worker_id: str
    handle: Any
    stages: frozenset[Stage]
    state: WorkerState = WorkerState.STARTING
    created: float = field(default_factory=time.monotonic)
    busy_since: float | None = None
    busy_s: float = 0.0
    tasks: int = 0


class WorkerPool:
    def __init__(self, factory: Callable[[str], Any], prefix: str, stages: frozenset[Stage] = frozenset(Stage)):
        self.factory = factory
        self.prefix = prefix
        self.stages = stages
        self.workers: dict[str, WorkerInfo] = {}
        self._ids = itertools.count()
        self.started_total = 0
        self.lost_total = 0
        self.retired_total = 0
        self.size_history: list[tuple[float, int, int]] = []  # (t, live, ready)

    # --- views --------------------------------------------------------------------------
    def ready(self) -> list[WorkerInfo]:
        return [w for w in self.workers.values() if w.state is not WorkerState.STARTING]

    def idle_slots(self) -> list[WorkerSlot]:
        return [WorkerSlot(w.worker_id, w.stages) for w in self.workers.values() if w.state is WorkerState.IDLE]

    def count(self, state: WorkerState | None = None) -> int:
        return sum(1 for w in self.workers.values() if state is None or w.state is state)

    # --- transitions --------------------------------------------------------------------
    def resize(self, target: int) -> tuple[list[WorkerInfo], list[WorkerInfo]]:
        """Start or retire workers toward target. Returns (started, retired); the caller waits
        on the started ones' readiness and kills the retired ones."""
        started: list[WorkerInfo] = []
        retired: list[WorkerInfo] = []
        while len(self.workers) < target:
            wid = f"{self.prefix}{next(self._ids)}"
            info = WorkerInfo(wid, self.factory(wid), self.stages)
            self.workers[wid] = info
            self.started_total += 1
            started.append(info)
        excess = len(self.workers) - target
        if excess > 0:
            # Not-yet-placed workers first (they do nothing yet), then idle ones, newest first.
            order = sorted(
                (w for w in self.workers.values() if w.state is not WorkerState.BUSY),
                key=lambda w: (w.state is not WorkerState.STARTING, -w.created),
            )
            for w in order[:excess]:
                del self.workers[w.worker_id]
                self.retired_total += 1
                retired.append(w)
        self._note()
        return started, retired

    def mark_ready(self, wid: str) -> bool:
        w = self.workers.get(wid)
        if w is None or w.state is not WorkerState.STARTING:
            return False
        w.state = WorkerState.IDLE
        self._note()
        return True

    def mark_busy(self, wid: str) -> Any:
        w = self.workers[wid]
        w.state = WorkerState.BUSY
        w.busy_since = time.monotonic()
        w.tasks += 1
        return w.handle

    def mark_idle(self, wid: str) -> None:
        w = self.workers.get(wid)
        if w is None:
            return
        if w.busy_since is not None:
            w.busy_s += time.monotonic() - w.busy_since
            w.busy_since = None
        w.state = WorkerState.IDLE

    def remove(self, wid: str) -> WorkerInfo | None:
        w = self.workers.pop(wid, None)
        if w is not None:
            self.lost_total += 1
            self._note()
        return w

    def _note(self) -> None:
        self.size_history.append((time.time(), len(self.workers), len(self.ready())))
        del self.size_history[:-2000]
