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


# --- with the real SQLite journal ----------------------------------------------------------


def test_journal_records_expiry_and_a_restart_restores_the_queue(tmp_path):
    from ray_ocr.cluster.task_buffer import BufferCore
    from ray_ocr.schemas import Verdict

    core = BufferCore(tmp_path / "journal.sqlite", cap=3)
    for i in range(5):
        assert core.submit(task(f"v{i}", float(i)))["state"] in ("queued", "expired")
    assert core.journal.get("v0").state is TaskState.EXPIRED
    assert core.result("v0").verdict is Verdict.EXPIRED and "evicted" in core.result("v0").reason
    popped = core.pop()
    assert popped.video_id == "v4" and core.journal.get("v4").state is TaskState.RUNNING

    again = BufferCore(tmp_path / "journal.sqlite", cap=3)  # the actor restarted
    assert again.restored == 2
    assert [t.video_id for t in again.queue.snapshot()] == ["v3", "v2"]
    assert [t.video_id for t in again.running()] == ["v4"]  # what a restarted scheduler resumes
    # Resubmitting a known id changes nothing.
    assert again.submit(task("v0", 9.0)) == {"video_id": "v0", "state": "expired", "evicted": [], "known": True}


def test_restore_under_a_smaller_cap_expires_the_oldest(tmp_path):
    from ray_ocr.cluster.task_buffer import BufferCore

    core = BufferCore(tmp_path / "j.sqlite", cap=5)
    for i in range(5):
        core.submit(task(f"v{i}", float(i)))
    small = BufferCore(tmp_path / "j.sqlite", cap=2)
    assert [t.video_id for t in small.queue.snapshot()] == ["v4", "v3"]
    assert {small.journal.get(f"v{i}").state for i in range(3)} == {TaskState.EXPIRED}


def test_finish_records_verdicts_and_duplicates_find_the_original(tmp_path):
    from ray_ocr.cluster.task_buffer import BufferCore
    from ray_ocr.schemas import Verdict, VideoResult

    core = BufferCore(tmp_path / "j.sqlite", cap=5)
    core.submit(task("a", 1.0))
    core.submit(task("b", 2.0))
    core.pop(), core.pop()
    core.finish(VideoResult(video_id="a", path="/videos/a.mp4", md5="m1", verdict=Verdict.REJECT, reason="x"))
    assert core.journal.get("a").state is TaskState.DONE
    assert core.by_md5("m1", exclude="b").video_id == "a"
    assert core.by_md5("m1", exclude="a") is None
    core.finish(VideoResult(video_id="b", path="/videos/b.mp4", md5="m1", verdict=Verdict.DUPLICATE, duplicate_of="a"))
    assert core.journal.get("b").state is TaskState.DUPLICATE and core.result("b").duplicate_of == "a"


# ---------------------------------------------------------------- group commit (TaskBuffer.submit)


def test_group_commit_gives_calls_that_arrive_together_one_commit():
    import asyncio

    from ray_ocr.cluster.task_buffer import GroupCommit

    commits: list[list[list[str]]] = []

    def commit(calls):
        commits.append([[t.video_id for t in c] for c in calls])
        return [[{"video_id": t.video_id} for t in c] for c in calls]

    async def go():
        gc = GroupCommit(commit)
        together = await asyncio.gather(*(gc.submit([task(f"v{i}", float(i))]) for i in range(10)))
        alone = await gc.submit([task("late", 99.0)])
        return gc, together, alone

    gc, together, alone = asyncio.run(go())
    assert commits == [[[f"v{i}"] for i in range(10)], [["late"]]]
    assert [o[0]["video_id"] for o in together] == [f"v{i}" for i in range(10)]  # each call gets its own answer
    assert alone == [{"video_id": "late"}]
    assert (gc.commits, gc.calls) == (2, 11)


def test_group_commit_failure_reaches_every_call_of_the_batch_and_not_the_next():
    import asyncio

    from ray_ocr.cluster.task_buffer import GroupCommit

    state = {"fail": True}

    def commit(calls):
        if state["fail"]:
            state["fail"] = False
            raise OSError("disk full")
        return [[{"ok": True}] for _ in calls]

    async def go():
        gc = GroupCommit(commit)
        first = await asyncio.gather(*(gc.submit([task(f"v{i}", 1.0)]) for i in range(3)), return_exceptions=True)
        return first, await gc.submit([task("w", 2.0)])

    first, second = asyncio.run(go())
    assert all(isinstance(e, OSError) for e in first)
    assert second == [{"ok": True}]


def test_journal_batch_is_one_transaction_all_or_nothing(tmp_path):
    from ray_ocr.store.journal import TaskJournal

    j = TaskJournal(tmp_path / "j.sqlite")
    with j.batch():
        assert j.enqueue(task("a", 1.0))
        assert j.enqueue(task("b", 2.0))
        j.set_state("a", TaskState.RUNNING)
        # Another connection (another process, e.g. the HTTP replica) sees nothing yet.
        assert TaskJournal(j.path).get("a") is None
    assert j.get("a").state is TaskState.RUNNING and j.get("b").state is TaskState.QUEUED

    with pytest.raises(RuntimeError):
        with j.batch():
            j.enqueue(task("c", 3.0))
            raise RuntimeError("boom")
    assert j.get("c") is None
    assert j.enqueue(task("c", 3.0))  # and the journal still takes writes afterwards
