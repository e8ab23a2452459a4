"""What the OCR workers do next: the video-at-a-time scheduling policy, free of Ray.

The scheduler actor keeps one `VideoWork` per in-flight video and asks `plan()` which work
units to hand to its idle workers. The rules (DESIGN.md, "Data flow"):

1. Videos are served in the order given (the scheduler passes the current video first, then
   the next ones newest-first). A later video only gets the workers the earlier ones cannot
   use, so a video is finished before the next one is started, yet no worker idles at a tail.
2. Within a video, recognition of already-detected frames goes before new detection: a hit
   found early stops the video and saves the remaining detections.
3. At the tail of a video (its undetected frames fit on the workers), detection goes first,
   because each detection still has a recognition behind it; starting the detections first
   shortens the video's critical path.
4. Frames are taken in time order.

Workers may be restricted to one stage (`WorkerSlot.stages`), which also lets the same policy
drive a fixed detector:recognizer split; ray-ocr's own pool uses workers that take either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    DETECT = "det"
    RECOGNIZE = "rec"


class FrameState(StrEnum):
    PENDING = "pending"  # extracted, not yet detected
    DETECTING = "detecting"
    DETECTED = "detected"  # crops waiting for recognition
    RECOGNIZING = "recognizing"
    DONE = "done"


@dataclass
class FrameWork:
    index: int  # keyframe ordinal within the video; time order
    ts: float
    state: FrameState = FrameState.PENDING
    n_crops: int = 0
    attempts: int = 0  # dispatches lost to a dead worker


@dataclass
class VideoWork:
    """The part of a video's state the policy needs; the scheduler keeps refs elsewhere."""

    video_id: str
    frames: list[FrameWork] = field(default_factory=list)
    extraction_done: bool = False  # no more frames will be appended

    def add_frame(self, index: int, ts: float) -> FrameWork:
        fw = FrameWork(index=index, ts=ts)
        self.frames.append(fw)
        return fw

    def frame(self, index: int) -> FrameWork:
        # Frames arrive in order, so the ordinal is the list position.
        fw = self.frames[index]
        if fw.index != index:  # pragma: no cover - guarded by add order
            raise KeyError(index)
        return fw

    def count(self, *states: FrameState) -> int:
        return sum(1 for f in self.frames if f.state in states)

    @property
    def finished(self) -> bool:
        return self.extraction_done and all(f.state is FrameState.DONE for f in self.frames)

    @property
    def remaining(self) -> int:
        return sum(1 for f in self.frames if f.state is not FrameState.DONE)


@dataclass(frozen=True)
class WorkerSlot:
    worker_id: str
    stages: frozenset[Stage] = frozenset({Stage.DETECT, Stage.RECOGNIZE})


@dataclass(frozen=True)
class Assignment:
    worker_id: str
    stage: Stage
    video_id: str
    frames: tuple[int, ...]  # keyframe ordinals, in time order
    n_crops: int = 0  # recognition only


@dataclass(frozen=True)
class PolicyConfig:
    det_batch_frames: int = 1  # frames per detect call; 1 keeps early stop fine-grained
    rec_batch_crops: int = 24  # most crops per recognize call
    rec_min_split: int = 4  # never split a recognition batch below this many crops
    tail_det_first: bool = True


def _rec_units(frames: Sequence[FrameWork], max_crops: int) -> list[list[FrameWork]]:
    """Group detected frames (time order) into recognition batches of at most max_crops crops;
    a frame with more crops than that is a unit of its own (the recognizer sub-batches)."""
    units: list[list[FrameWork]] = []
    cur: list[FrameWork] = []
    n = 0
    for f in frames:
        if cur and n + f.n_crops > max_crops:
            units.append(cur)
            cur, n = [], 0
        cur.append(f)
        n += f.n_crops
    if cur:
        units.append(cur)
    return units


def _det_units(frames: Sequence[FrameWork], batch: int) -> list[list[FrameWork]]:
    return [list(frames[i : i + batch]) for i in range(0, len(frames), batch)]


def is_tail(video: VideoWork, n_workers: int) -> bool:
    """True when the frames still to detect fit on the workers at once."""
    left = video.count(FrameState.PENDING, FrameState.DETECTING)
    return video.extraction_done and 0 < left <= n_workers


def plan(
    videos: Sequence[VideoWork],
    idle: Iterable[WorkerSlot],
    n_workers: int,
    config: PolicyConfig = PolicyConfig(),
) -> list[Assignment]:
    """Assignments for the idle workers. Does not mutate the videos; the caller marks the
    chosen frames DETECTING / RECOGNIZING when it dispatches them.

    `n_workers` is the whole pool (busy + idle), used to recognise a video's tail.
    """
    free = list(idle)
    out: list[Assignment] = []
    for video in videos:
        if not free:
            break
        detected = [f for f in video.frames if f.state is FrameState.DETECTED]
        pending = [f for f in video.frames if f.state is FrameState.PENDING]
        if not detected and not pending:
            continue
        # Split recognition finer when there are more free workers than units, so the tail of
        # a video's recognition spreads over them instead of one worker doing it all.
        total_crops = sum(f.n_crops for f in detected)
        want_units = max(1, len(free) - len(pending))
        batch = config.rec_batch_crops
        if total_crops and want_units > 1:
            batch = min(batch, max(config.rec_min_split, math.ceil(total_crops / want_units)))
        rec = [(Stage.RECOGNIZE, u) for u in _rec_units(detected, batch)]
        det = [(Stage.DETECT, u) for u in _det_units(pending, config.det_batch_frames)]
        units = det + rec if (config.tail_det_first and is_tail(video, n_workers)) else rec + det
        for stage, unit in units:
            slot = next((w for w in free if stage in w.stages), None)
            if slot is None:
                continue  # no free worker takes this stage; a later unit may fit another
            free.remove(slot)
            out.append(
                Assignment(
                    worker_id=slot.worker_id,
                    stage=stage,
                    video_id=video.video_id,
                    frames=tuple(f.index for f in unit),
                    n_crops=sum(f.n_crops for f in unit) if stage is Stage.RECOGNIZE else 0,
                )
            )
            if not free:
                break
    return out


def apply(videos: Sequence[VideoWork], assignments: Iterable[Assignment]) -> None:
    """Mark the frames of dispatched assignments as in flight."""
    by_id = {v.video_id: v for v in videos}
    for a in assignments:
        v = by_id[a.video_id]
        new = FrameState.DETECTING if a.stage is Stage.DETECT else FrameState.RECOGNIZING
        for i in a.frames:
            v.frame(i).state = new


def complete_detect(video: VideoWork, index: int, n_crops: int) -> None:
    fw = video.frame(index)
    fw.n_crops = n_crops
    # A frame without text needs no recognition.
    fw.state = FrameState.DETECTED if n_crops else FrameState.DONE


def complete_recognize(video: VideoWork, indices: Iterable[int]) -> None:
    for i in indices:
        video.frame(i).state = FrameState.DONE


def requeue(video: VideoWork, a: Assignment) -> int:
    """Put an assignment lost with its worker back; returns the highest attempt count of its
    frames so the caller can give up on a frame that keeps killing workers."""
    worst = 0
    for i in a.frames:
        fw = video.frame(i)
        fw.state = FrameState.PENDING if a.stage is Stage.DETECT else FrameState.DETECTED
        fw.attempts += 1
        worst = max(worst, fw.attempts)
    return worst
