"""WorkerPool bookkeeping without Ray (the factory makes plain objects)."""

from __future__ import annotations

from ray_ocr.cluster.pool import WorkerPool, WorkerState


def make_pool() -> tuple[WorkerPool, list[str]]:
    made: list[str] = []

    def factory(wid: str) -> str:
        made.append(wid)
        return f"handle-{wid}"

    return WorkerPool(factory, prefix="w"), made


def test_grows_to_target_and_only_ready_workers_get_work():
    pool, made = make_pool()
    started, retired = pool.resize(3)
    assert [w.worker_id for w in started] == made == ["w0", "w1", "w2"] and retired == []
    assert pool.idle_slots() == []  # still starting (maybe unplaceable: autoscaler demand)
    assert pool.mark_ready("w1") and not pool.mark_ready("w1")
    assert [s.worker_id for s in pool.idle_slots()] == ["w1"]
    assert pool.mark_busy("w1") == "handle-w1" and pool.count(WorkerState.BUSY) == 1


def test_shrinking_retires_starting_then_idle_never_busy():
    pool, _ = make_pool()
    pool.resize(4)
    for w in ("w0", "w1", "w2"):
        pool.mark_ready(w)
    pool.mark_busy("w0")
    _, retired = pool.resize(1)
    assert [w.worker_id for w in retired] == ["w3", "w2", "w1"]  # not-yet-started first, then newest idle
    assert list(pool.workers) == ["w0"]
    # Busy workers are never retired, even below target.
    _, retired = pool.resize(0)
    assert retired == [] and list(pool.workers) == ["w0"]


def test_lost_worker_is_replaced_with_a_fresh_id():
    pool, made = make_pool()
    pool.resize(2)
    pool.mark_ready("w0")
    pool.mark_busy("w0")
    assert pool.remove("w0") is not None and pool.lost_total == 1
    started, _ = pool.resize(2)
    assert [w.worker_id for w in started] == ["w2"] and made[-1] == "w2"
    pool.mark_idle("gone")  # a late result from a removed worker is ignored
