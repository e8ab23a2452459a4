"""The scheduling policy and the pool autoscaler, without Ray."""

from __future__ import annotations

import pytest

from ray_ocr.cluster.autoscale import AutoscaleConfig, Autoscaler, Backlog, Ewma
from ray_ocr.cluster.policy import (
    FrameState,
    PolicyConfig,
    Stage,
    VideoWork,
    WorkerSlot,
    apply,
    complete_detect,
    complete_recognize,
    plan,
    requeue,
)


def video(vid: str, n: int, done: bool = True) -> VideoWork:
    v = VideoWork(vid)
    for i in range(n):
        v.add_frame(i, ts=i * 2.0)
    v.extraction_done = done
    return v


def workers(n: int, stages: frozenset[Stage] | None = None) -> list[WorkerSlot]:
    if stages is None:
        return [WorkerSlot(f"w{i}") for i in range(n)]
    return [WorkerSlot(f"w{i}", stages) for i in range(n)]


def test_detects_in_time_order_when_nothing_is_detected():
    v = video("a", 10)
    out = plan([v], workers(3), n_workers=3)
    assert [a.stage for a in out] == [Stage.DETECT] * 3
    assert [a.frames for a in out] == [(0,), (1,), (2,)]


def test_recognition_of_detected_frames_goes_before_new_detection():
    v = video("a", 10)
    apply([v], plan([v], workers(2), n_workers=2))
    complete_detect(v, 0, n_crops=3)
    out = plan([v], workers(1), n_workers=2)
    assert len(out) == 1 and out[0].stage is Stage.RECOGNIZE and out[0].frames == (0,)
    assert out[0].n_crops == 3


def test_current_video_takes_every_worker_before_the_next_starts():
    a, b = video("a", 10), video("b", 10)
    out = plan([a, b], workers(4), n_workers=4)
    assert {x.video_id for x in out} == {"a"}


def test_next_video_fills_idle_workers_at_the_tail():
    a, b = video("a", 2), video("b", 10)
    out = plan([a, b], workers(4), n_workers=4)
    assert [x.video_id for x in out] == ["a", "a", "b", "b"]
    assert [x.frames for x in out if x.video_id == "b"] == [(0,), (1,)]


def test_tail_puts_detection_first():
    # 1 frame left to detect (fits on the 2 workers) and one detected frame: detection first so
    # its recognition can follow while the other worker recognises.
    v = video("a", 4)
    for i in range(3):
        v.frame(i).state = FrameState.DONE
    v.frame(2).state = FrameState.DETECTED
    v.frame(2).n_crops = 2
    out = plan([v], workers(1), n_workers=2)
    assert out[0].stage is Stage.DETECT and out[0].frames == (3,)
    # Not the tail (many frames to detect): recognition first.
    w = video("b", 10)
    w.frame(0).state = FrameState.DETECTED
    w.frame(0).n_crops = 2
    assert plan([w], workers(1), n_workers=2)[0].stage is Stage.RECOGNIZE
    # Extraction still streaming in: never the tail.
    x = video("c", 2, done=False)
    x.frame(0).state = FrameState.DETECTED
    x.frame(0).n_crops = 1
    assert plan([x], workers(1), n_workers=2)[0].stage is Stage.RECOGNIZE


def test_recognition_batches_respect_crop_cap_and_time_order():
    v = video("a", 6)
    for i, n in enumerate([10, 10, 10, 30, 0, 5]):
        complete_detect(v, i, n)
    out = plan([v], workers(8), n_workers=8, config=PolicyConfig(rec_batch_crops=24, rec_min_split=24))
    rec = [a for a in out if a.stage is Stage.RECOGNIZE]
    assert [a.frames for a in rec] == [(0, 1), (2,), (3,), (5,)]
    assert all(a.n_crops <= 24 or len(a.frames) == 1 for a in rec)
    assert v.frame(4).state is FrameState.DONE  # no crops: nothing to recognise


def test_recognition_splits_over_free_workers():
    v = video("a", 1)
    complete_detect(v, 0, 0)
    v.add_frame(1, 2.0)
    complete_detect(v, 1, 20)
    out = plan([v], workers(1), n_workers=4)
    assert len(out) == 1 and out[0].n_crops == 20
    # A single frame is one unit: it cannot be split across workers.
    w = video("b", 4)
    for i in range(4):
        complete_detect(w, i, 6)
    out = plan([w], workers(4), n_workers=4, config=PolicyConfig(rec_batch_crops=24, rec_min_split=4))
    assert len(out) == 4 and all(a.n_crops == 6 for a in out)


def test_stage_restricted_workers():
    v = video("a", 5)
    complete_detect(v, 0, 4)
    det_only = WorkerSlot("d", frozenset({Stage.DETECT}))
    rec_only = WorkerSlot("r", frozenset({Stage.RECOGNIZE}))
    out = plan([v], [det_only, rec_only], n_workers=2)
    assert {(a.worker_id, a.stage) for a in out} == {("d", Stage.DETECT), ("r", Stage.RECOGNIZE)}
    # A recognizer-only worker with nothing to recognise stays idle rather than detecting.
    w = video("b", 5)
    assert plan([w], [rec_only], n_workers=1) == []


def test_full_simulation_finishes_every_frame_and_video_in_order():
    vids = [video("a", 7), video("b", 3)]
    slots = workers(3)
    finished: list[str] = []
    busy: list = []
    steps = 0
    while vids and steps < 200:
        steps += 1
        idle = [w for w in slots if w.worker_id not in {a.worker_id for a in busy}]
        new = plan(vids, idle, n_workers=len(slots))
        apply(vids, new)
        busy.extend(new)
        if not busy:
            break
        a = busy.pop(0)  # the oldest dispatch finishes first
        v = next(x for x in vids if x.video_id == a.video_id)
        if a.stage is Stage.DETECT:
            for i in a.frames:
                complete_detect(v, i, n_crops=i % 3)
        else:
            complete_recognize(v, a.frames)
        for x in list(vids):
            if x.finished:
                finished.append(x.video_id)
                vids.remove(x)
    assert finished == ["a", "b"]


def test_requeue_counts_attempts():
    v = video("a", 3)
    out = plan([v], workers(1), n_workers=1)
    apply([v], out)
    assert v.frame(0).state is FrameState.DETECTING
    assert requeue(v, out[0]) == 1
    assert v.frame(0).state is FrameState.PENDING
    out = plan([v], workers(1), n_workers=1)
    assert out[0].frames == (0,)  # retried first, time order kept
    apply([v], out)
    assert requeue(v, out[0]) == 2


# --- autoscale -----------------------------------------------------------------------------


def test_ewma_follows_and_ignores_garbage():
    e = Ewma(alpha=0.5)
    assert e.get(7.0) == 7.0
    e.update(2.0)
    e.update(4.0)
    assert e.value == pytest.approx(3.0)
    e.update(float("nan"))
    e.update(-1.0)
    assert e.value == pytest.approx(3.0)


def test_pool_grows_with_backlog_within_bounds():
    cfg = AutoscaleConfig(workers_min=1, workers_max=6, target_drain_s=5.0)
    s = Autoscaler(cfg)
    assert s.target(Backlog(), current=1, now=0).total == 1
    big = s.target(Backlog(frames_to_detect=500), current=1, now=0)
    assert big.total == 6
    mid = s.desired(Backlog(frames_to_detect=40))
    assert 1 < mid.total < 6


def test_split_follows_measured_costs():
    cfg = AutoscaleConfig(workers_max=20, rec_max=20, target_drain_s=1.0, alpha=1.0)
    s = Autoscaler(cfg)
    s.observe_detect(frames=1, seconds=0.2, crops=0)  # empty frames: recognition is cheap
    s.observe_recognize(crops=1, seconds=0.01)
    few = s.desired(Backlog(frames_to_detect=20))
    s.observe_detect(frames=1, seconds=0.2, crops=30)  # dense pages: recognition dominates
    s.observe_recognize(crops=30, seconds=0.6)
    many = s.desired(Backlog(frames_to_detect=20))
    assert few.det == many.det == 4
    assert few.rec == 0 and many.rec == 12
    assert many.total == 16


def test_scale_down_waits_and_steps():
    cfg = AutoscaleConfig(workers_min=1, workers_max=8, scale_down_delay_s=10)
    s = Autoscaler(cfg)
    assert s.target(Backlog(), current=4, now=0).total == 4
    assert s.target(Backlog(), current=4, now=5).total == 4
    assert s.target(Backlog(), current=4, now=10).total == 3
    assert s.target(Backlog(), current=3, now=12).total == 3
    # New work resets the wait.
    assert s.target(Backlog(frames_to_detect=10_000), current=3, now=13).total == 8
    assert s.target(Backlog(), current=8, now=14).total == 8


def test_queued_videos_count_as_work():
    s = Autoscaler(AutoscaleConfig(workers_max=8, target_drain_s=5.0))
    s.observe_video(40)
    assert s.desired(Backlog(videos_waiting=3)).total > s.desired(Backlog()).total


@pytest.mark.parametrize(
    "kwargs",
    [dict(workers_min=3, workers_max=2), dict(workers_max=0), dict(det_min=3, det_max=1), dict(target_drain_s=0)],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        AutoscaleConfig(**kwargs)
