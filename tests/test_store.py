"""Result store and task journal: queries, crash safety (kill -9 mid-write), restarts and
two processes at once. Real Parquet files and a real SQLite database throughout."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ray_ocr.schemas import TaskState, TextLine, Verdict, VideoHit, VideoResult, VideoTask
from ray_ocr.store import FrameText, ResultItem, ResultStore, TaskJournal

REPO = Path(__file__).resolve().parent.parent
DAY = "2026-03-14"
T0 = 1773489600.0  # 2026-03-14T12:00:00Z


def _line(text: str, x: float = 0) -> TextLine:
    return TextLine(text=text, score=0.9, box=[[x, 0], [x + 50, 0], [x + 50, 20], [x, 20]])


def _result(vid: str, verdict: Verdict = Verdict.PASS, md5: str = "m", hits: int = 0) -> VideoResult:
    return VideoResult(
        video_id=vid, path=f"/v/{vid}.mp4", md5=md5, verdict=verdict, keyframes=5, ocr_frames=3, elapsed_s=1.5,
        hits=[VideoHit(keyword="微信", category="ad", ts=1.0 + i, text="加微信", evidence=f"e{i}.jpg", frame_index=i)
              for i in range(hits)],
        reason="ad: 微信" if hits else None, timings={"ocr": 1.0},
    )


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


# -- queries ---------------------------------------------------------------------------------


def test_write_and_query(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    frames = [FrameText(7, 2.5, [_line("加微信"), _line("领红包", 60)]), FrameText(9, 3.0, [_line("谢谢")])]
    rid = store.write_result(_result("a", Verdict.REJECT, "md5a", hits=2), frames, submitted_at=T0 - 60,
                             finished_at=T0, model_version="ppocr-v5@1", keywords_version="kv1")
    store.write_result(_result("b", Verdict.PASS, "md5b"), finished_at=T0 + 1)
    store.write_result(_result("c", Verdict.REJECT, "md5a", hits=1), finished_at=T0 + 2)
    store.write_result(_result("d", Verdict.REJECT, "md5d", hits=1), finished_at=T0 + 86400)  # next day

    a = store.by_video_id("a")
    assert a is not None and a["result_id"] == rid and a["day"] == DAY and a["verdict"] == "reject"
    assert a["model_version"] == "ppocr-v5@1" and a["timings"] == {"ocr": 1.0} and a["submitted_at"] == T0 - 60
    assert [(h["keyword"], h["ts"], h["evidence"]) for h in a["hits"]] == [("微信", 1.0, "e0.jpg"), ("微信", 2.0, "e1.jpg")]
    lines = store.lines_for("a")
    assert [(r["frame_index"], r["line_index"], r["text"]) for r in lines] == [(7, 0, "加微信"), (7, 1, "领红包"), (9, 0, "谢谢")]
    assert lines[1]["box"][1] == [110.0, 0.0]
    assert store.by_video_id("zzz") is None and store.lines_for("zzz") == []
    assert store.by_md5("md5a")["video_id"] == "a"  # the earliest
    assert store.by_md5("nope") is None
    assert [r["video_id"] for r in store.rejected_by_day(DAY)] == ["a", "c"]
    assert [r["video_id"] for r in store.rejected_by_day("2026-03-15")] == ["d"]
    with pytest.raises(ValueError):
        store.rejected_by_day("14/03/2026")

    # Re-processing a video: the latest result wins everywhere.
    store.write_result(_result("c", Verdict.PASS, "md5a"), finished_at=T0 + 3)
    assert store.by_video_id("c")["verdict"] == "pass"
    assert [r["video_id"] for r in store.rejected_by_day(DAY)] == ["a"]


def test_reviews_and_false_positives(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for i, v in enumerate(["r1", "r2", "r3"]):
        store.write_result(_result(v, Verdict.REJECT, hits=1), finished_at=T0 + i)
    store.write_result(_result("p1"), finished_at=T0 + 5)
    store.record_review("r1", "pass", "alice", "a game ad, fine")
    store.record_review("r2", "pass", "bob")
    store.record_review("r2", "reject", "carol", "second look")  # the latest decision counts
    store.record_review("p1", "pass", "bob")  # machine passed: not a false positive
    assert [r["video_id"] for r in store.false_positives(DAY)] == ["r1"]
    assert [r.decision for r in store.journal.reviews("r2")] == ["pass", "reject"]
    with pytest.raises(KeyError):
        store.record_review("unknown", "pass", "alice")
    with pytest.raises(ValueError):
        store.record_review("r1", "maybe", "alice")
    with pytest.raises(ValueError):
        store.record_review("r1", "pass", "")


def test_batch_write_spans_days(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_many([ResultItem(_result("x"), finished_at=T0), ResultItem(_result("y"), finished_at=T0 + 86400)])
    assert {p.name for p in (tmp_path / "videos").iterdir()} == {"day=2026-03-14", "day=2026-03-15"}
    assert store.table("videos").num_rows == 2
    with pytest.raises(ValueError):
        store.write_many([ResultItem(_result("z"), day="yesterday")])
    assert store.table("videos").num_rows == 2


# -- crash safety ------------------------------------------------------------------------------

WRITER = """
import sys, time
from ray_ocr.schemas import TextLine, VideoResult, Verdict
from ray_ocr.store import FrameText, ResultStore
store = ResultStore(sys.argv[1])
lines = [TextLine(text=f"第{i}行字幕文字", score=0.9, box=[[i, 0], [i + 9, 0], [i + 9, 9], [i, 9]]) for i in range(400)]
frames = [FrameText(f, f / 4, lines) for f in range(int(sys.argv[2]))]
n = 0
while True:
    store.write_result(VideoResult(video_id=f"big{n}", path="p", verdict=Verdict.PASS), frames, finished_at=1773489600.0 + n)
    n += 1
    print(n, flush=True)
"""
FRAMES = 250  # 250 frames x 400 lines = 100k lines per video


def test_killed_writer_leaves_previous_data_readable(tmp_path: Path) -> None:
    proc = _spawn(WRITER, str(tmp_path), str(FRAMES))
    committed = 0
    try:
        while committed < 2:  # two full results on disk
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            committed = int(line)
        deadline = time.time() + 60
        tmp = []
        while not tmp and time.time() < deadline:  # wait until it is in the middle of a file
            tmp = list(tmp_path.rglob(".tmp-*"))
            time.sleep(0.001)
        assert tmp, "writer never seen mid-write"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert list(tmp_path.rglob(".tmp-*")), "the kill should have left a half-written temp file"

    store = ResultStore(tmp_path)  # reopening cleans the dead writer's temp files
    assert store.removed_tmp >= 1 and not list(tmp_path.rglob(".tmp-*"))
    vids = store.table("videos").column("video_id").to_pylist()
    assert len(vids) >= committed and set(vids) == {f"big{i}" for i in range(len(vids))}
    for v in vids:  # every visible result is complete
        assert len(store.lines_for(v)) == FRAMES * 400
    # and the store carries on
    store.write_result(_result("after"), [FrameText(0, 0.0, [_line("继续")])], finished_at=T0)
    assert store.by_video_id("after")["verdict"] == "pass"
    assert store.table("videos").num_rows == len(vids) + 1


JOURNAL_WRITER = """
import sys
from ray_ocr.schemas import TaskState, VideoTask
from ray_ocr.store import TaskJournal
j = TaskJournal(sys.argv[1])
prefix, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    vid = f"{prefix}{i}"
    j.enqueue(VideoTask(video_id=vid, uri=f"/v/{vid}.mp4", submitted_at=1000.0 + i))
    j.set_state(vid, TaskState.RUNNING)
    if i % 2 == 0:
        j.set_state(vid, TaskState.DONE, verdict="pass", md5=f"md5-{i}")
    print(i, flush=True)
"""


def test_journal_survives_kill_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    proc = _spawn(JOURNAL_WRITER, str(db), "k", "100000")
    acked = -1
    try:
        while acked < 50:
            acked = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    j = TaskJournal(db)
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for i in range(acked + 1):  # everything acknowledged before the kill is there
        rec = j.get(f"k{i}")
        assert rec is not None and rec.state == (TaskState.DONE if i % 2 == 0 else TaskState.RUNNING)
        assert rec.attempts == 1
    unfinished = j.unfinished()
    assert {r.video_id for r in unfinished} >= {f"k{i}" for i in range(1, acked + 1, 2)}
    assert [r.submitted_at for r in unfinished] == sorted((r.submitted_at for r in unfinished), reverse=True)
    assert j.by_md5("md5-4").video_id == "k4"


def test_journal_operations_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    j = TaskJournal(db)
    for i, vid in enumerate(["old", "mid", "new"]):
        assert j.enqueue(VideoTask(video_id=vid, uri=f"/v/{vid}", submitted_at=100.0 + i, metadata={"k": i}))
    assert j.enqueue(VideoTask(video_id="mid", uri="/other")) is False  # known id: unchanged
    assert j.get("mid").uri == "/v/mid"
    assert [t.video_id for t in j.pending_newest_first()] == ["new", "mid", "old"]
    assert [t.video_id for t in j.pending_newest_first(2)] == ["new", "mid"]
    assert j.pending_newest_first(1)[0].metadata == {"k": 2}

    rec = j.set_state("new", TaskState.RUNNING, payload={"worker": "w1"})
    assert rec.attempts == 1 and rec.payload["worker"] == "w1" and rec.payload["task"]["uri"] == "/v/new"
    j.set_state("new", "done", verdict=Verdict.REJECT, reason="ad: 微信", md5="abc", result_day=DAY)
    j.set_state("old", TaskState.EXPIRED, reason="evicted")
    j.enqueue(VideoTask(video_id="dup", uri="/v/dup"), md5="abc")
    j.set_state("dup", TaskState.DUPLICATE, duplicate_of="new")
    with pytest.raises(KeyError):
        j.set_state("nobody", TaskState.DONE)
    with pytest.raises(TypeError):
        j.set_state("mid", TaskState.DONE, colour="red")
    with pytest.raises(ValueError):
        j.set_state("mid", "finished")
    j.close()

    j2 = TaskJournal(db)  # a restart
    assert j2.get("new").verdict == "reject" and j2.get("new").result_day == DAY
    assert [r.video_id for r in j2.unfinished()] == ["mid"]
    assert j2.by_md5("abc").video_id == "new"
    assert j2.by_md5("abc", exclude="new") is None
    assert j2.counts() == {"queued": 1, "running": 0, "done": 1, "error": 0, "expired": 1, "duplicate": 1}
    assert j2.get("old").task().uri == "/v/old"


def test_two_processes_share_the_journal_and_store(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    procs = [_spawn(JOURNAL_WRITER, str(db), p, "150") for p in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    j = TaskJournal(db)
    assert j.counts()["done"] == 150 and j.counts()["running"] == 150

    code = """
    import sys
    from ray_ocr.schemas import VideoResult, Verdict
    from ray_ocr.store import ResultStore
    s = ResultStore(sys.argv[1])
    for i in range(20):
        s.write_result(VideoResult(video_id=f"{sys.argv[2]}{i}", path="p", verdict=Verdict.PASS), finished_at=1773489600.0)
        s.journal.record_review(f"{sys.argv[2]}{i}", "pass", sys.argv[2])
    """
    procs = [_spawn(code, str(tmp_path), p) for p in ("x", "y")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = ResultStore(tmp_path)
    assert sorted(store.table("videos").column("video_id").to_pylist()) == sorted(
        [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(20)])
    assert len(store.journal.latest_decisions([f"x{i}" for i in range(20)])) == 20


def test_pickled_store_reopens(tmp_path: Path) -> None:
    import pickle

    store = ResultStore(tmp_path)
    store.write_result(_result("p"), finished_at=T0)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.by_video_id("p")["video_id"] == "p"
    assert pickle.loads(pickle.dumps(store.journal)).path == store.journal.path


def test_stale_temp_cleanup_spares_live_writers(tmp_path: Path) -> None:
    from ray_ocr.store.atomic import TMP_PREFIX, _host_tag, atomic_write_bytes, remove_stale_tmp

    d = tmp_path / "videos" / "day=2026-03-14"
    d.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = d / f"{TMP_PREFIX}{os.getpid()}-aaaaaaaa-{_host_tag()}-part-1.parquet"
    gone = d / f"{TMP_PREFIX}{dead.pid}-bbbbbbbb-{_host_tag()}-part-2.parquet"
    other_host = d / f"{TMP_PREFIX}{dead.pid}-cccccccc-00000000-part-3.parquet"
    for p in (live, gone, other_host):
        p.write_bytes(b"half")
    assert remove_stale_tmp(tmp_path) == 1
    assert live.exists() and not gone.exists() and other_host.exists()  # another host's: only by age

    out = atomic_write_bytes(tmp_path / "x" / "e.jpg", b"data")
    assert out.read_bytes() == b"data" and [p.name for p in out.parent.iterdir()] == ["e.jpg"]


def test_journal_without_autocheckpoint_keeps_the_wal_until_checkpoint(tmp_path):
    from ray_ocr.schemas import VideoTask
    from ray_ocr.store.journal import TaskJournal

    j = TaskJournal(tmp_path / "j.sqlite", autocheckpoint=False)
    for i in range(1500):  # past SQLite's 1000-page default, which would have checkpointed
        j.enqueue(VideoTask(video_id=f"v{i}", uri="/v.mp4", submitted_at=float(i), metadata={"pad": "x" * 3000}))
    wal = tmp_path / "j.sqlite-wal"
    assert wal.stat().st_size > 4 * 1024 * 1024
    pages, copied = j.checkpoint()
    assert pages > 1000 and copied == pages
    assert TaskJournal(tmp_path / "j.sqlite").get("v1499") is not None
