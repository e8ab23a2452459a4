"""TaskQueue (the TaskBuffer's logic) without Ray: order, cap, eviction, journal restore."""

from __future__ import annotations

import pytest

from ray_ocr.cluster.buffer import TaskQueue
from ray_ocr.schemas import TaskState, VideoTask


def task(vid: str, t: float) -> VideoTask:
    return VideoTask(video_id=vid, uri=f"/videos/{vid}.mp4", submitted_at=t)


def test_pops_newest_first_regardless_of_arrival_order():
    q = TaskQueue(cap=10)
    for vid, t in [("b", 2.0), ("a", 1.0), ("d", 4.0), ("c", 3.0)]:
        assert q.push(task(vid, t)).state is TaskState.QUEUED
    assert [q.pop().video_id for _ in range(4)] == ["d", "c", "b", "a"]
    assert q.pop() is None


def test_equal_timestamps_pop_latest_arrival_first():
    q = TaskQueue(cap=10)
    q.push(task("x", 1.0))
    q.push(task("y", 1.0))
    assert q.pop().video_id == "y"


def test_full_buffer_evicts_oldest_and_reports_it():
    q = TaskQueue(cap=3)
    for i in range(3):
        q.push(task(f"v{i}", float(i)))
    r = q.push(task("v3", 3.0))
    assert r.state is TaskState.QUEUED and r.evicted == ("v0",)
    assert len(q) == 3 and "v0" not in q
    # A late-arriving task older than everything is itself the one that expires.
    r = q.push(task("old", -5.0))
    assert r.state is TaskState.EXPIRED and r.evicted == ()
    assert [t.video_id for t in q.snapshot()] == ["v3", "v2", "v1"]
    assert q.expired_total == 2


def test_duplicate_push_is_idempotent():
    q = TaskQueue(cap=3)
    q.push(task("a", 1.0))
    r = q.push(task("a", 9.0))
    assert r.duplicate and len(q) == 1


def test_bad_cap_is_refused():
    with pytest.raises(ValueError):
        TaskQueue(cap=0)
