"""The Ray pipeline end to end on a real local Ray cluster and real ONNX models.

One 2-CPU cluster is shared by the module; each test starts its own named pipeline (TaskBuffer
+ Scheduler + workers) and removes it. Videos are rendered here with the project font, so the
position of a banned line is known exactly.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import ray
from PIL import Image, ImageDraw

from ray_ocr.cluster.run import collect, run_videos, start_pipeline, submit
from ray_ocr.config import ClusterSettings, ModerationSettings, Settings
from ray_ocr.fonts import cjk_font
from ray_ocr.schemas import Verdict

pytestmark = pytest.mark.timeout(300)

CLEAN = ["今天天气很好", "我们去公园散步", "晚上一起吃饭吧", "明天早上见", "谢谢大家观看", "下次再会"]
BANNED_WORD = "赌博网站"


def subtitle_video(path: Path, texts: list[str], seconds_each: float = 1.5, fps: int = 10, size=(640, 360)) -> Path:
    w, h = size
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    font = cjk_font(30, "Bold")
    per = int(seconds_each * fps)
    for k, text in enumerate(texts):
        img = Image.new("RGB", (w, h), (30 + 25 * k % 200, 70, 110))
        ImageDraw.Draw(img).text((60, h - 70), text, font=font, fill=(255, 255, 255))
        frame = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
        for _ in range(per):
            vw.write(frame)
    vw.release()
    return path


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, namespace=f"ray-ocr-test-{uuid.uuid4().hex[:6]}", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    clean = subtitle_video(d / "clean.mp4", CLEAN)
    early = subtitle_video(d / "early_hit.mp4", [f"欢迎来到{BANNED_WORD}"] + CLEAN)
    late = subtitle_video(d / "late_hit.mp4", CLEAN + [f"欢迎来到{BANNED_WORD}"])
    long = subtitle_video(d / "long.mp4", CLEAN * 3, seconds_each=1.0)
    garbage = d / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video at all" * 100)
    truncated = d / "truncated.mp4"
    truncated.write_bytes(clean.read_bytes()[: clean.stat().st_size // 2])
    copy = d / "clean_copy.mp4"
    shutil.copy(clean, copy)
    kw = d / "keywords.txt"
    kw.write_text(f"# test\n{BANNED_WORD}\tgambling\n", encoding="utf-8")
    return {"truncated": truncated, "clean": clean, "early": early, "late": late, "long": long, "garbage": garbage, "copy": copy, "kw": kw}


def by_name(results) -> dict[str, object]:
    return {Path(r.path).name: r for r in results}


def test_verdicts_on_clean_banned_unreadable_and_duplicate(cluster, videos, tmp_path):
    paths = [videos["clean"], videos["late"], videos["garbage"], videos["truncated"], videos["garbage"].parent / "missing.mp4"]
    res = by_name(run_videos(paths, videos["kw"], tmp_path, progress=False, name="t-verdicts"))
    assert res["clean.mp4"].verdict is Verdict.PASS and res["clean.mp4"].hits == []
    assert res["clean.mp4"].keyframes >= len(CLEAN) and res["clean.mp4"].ocr_frames == res["clean.mp4"].keyframes
    late = res["late_hit.mp4"]
    assert late.verdict is Verdict.REJECT
    assert [h.keyword for h in late.hits] == [BANNED_WORD]
    assert BANNED_WORD in late.hits[0].text
    assert late.hits[0].ts >= len(CLEAN) * 1.5 - 0.5  # the last subtitle
    ev = Path(late.hits[0].evidence)
    assert ev.is_file() and cv2.imread(str(ev)) is not None
    for name in ("garbage.mp4", "truncated.mp4", "missing.mp4"):
        assert res[name].verdict is Verdict.ERROR and res[name].reason, name
    assert "not_a_video" in res["garbage.mp4"].reason or "not a" in res["garbage.mp4"].reason
    # A byte-identical re-upload is a duplicate of the earlier verdict (no OCR at all).
    dup = list(run_videos([videos["copy"]], videos["kw"], tmp_path, progress=False, name="t-verdicts2"))[0]
    assert dup.verdict is Verdict.DUPLICATE and dup.duplicate_of == res["clean.mp4"].video_id
    assert dup.ocr_frames == 0 and dup.md5 == res["clean.mp4"].md5


def test_early_stop_does_less_ocr_than_a_full_pass(cluster, videos, tmp_path):
    stop = list(run_videos([videos["early"]], videos["kw"], tmp_path / "a", progress=False, name="t-stop"))[0]
    full_settings = Settings(moderation=ModerationSettings(stop_on_hit=False))
    full = list(run_videos([videos["early"]], videos["kw"], tmp_path / "b", settings=full_settings, progress=False, name="t-full"))[0]
    assert stop.verdict is Verdict.REJECT and full.verdict is Verdict.REJECT
    assert full.ocr_frames == full.keyframes >= len(CLEAN) + 1
    assert stop.ocr_frames < full.ocr_frames
    assert stop.hits[0].ts < 1.5


def test_newest_first_and_eviction_under_a_small_cap(cluster, videos, tmp_path):
    settings = Settings(cluster=ClusterSettings(buffer_cap=3, lookahead_videos=1))
    pipe = start_pipeline(tmp_path, videos["kw"], settings, name="t-order")
    try:
        # Five submissions at once, oldest first, into a buffer that holds three.
        t0 = time.time()
        paths = [videos["clean"]] * 5
        tasks = submit(pipe, paths, submitted_at=[t0 + i for i in range(5)])
        results = {r.video_id: r for r in collect(pipe, [t.video_id for t in tasks], timeout_s=240)}
        ids = [t.video_id for t in tasks]
        assert [results[v].verdict for v in ids[:2]] == [Verdict.EXPIRED, Verdict.EXPIRED]
        assert all("evicted" in (results[v].reason or "") for v in ids[:2])
        started = ray.get(pipe.scheduler.stats.remote())["activations"]
        assert started == [ids[4], ids[3], ids[2]]  # newest first
        # The first processed is the original; the later copies are duplicates of it.
        assert results[ids[4]].verdict is Verdict.PASS
        assert {results[v].verdict for v in ids[2:4]} == {Verdict.DUPLICATE}
    finally:
        pipe.stop()


def _kill_named(name: str) -> bool:
    try:
        ray.kill(ray.get_actor(name), no_restart=True)
        return True
    except ValueError:  # finished and retired (or already replaced) between the two calls
        return False


def _kill_busy(pipe, stage: str, deadline_s: float = 60.0) -> dict:
    """Kill the first worker seen busy with `stage`; returns what it was doing."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for b in ray.get(pipe.scheduler.busy.remote()):
            if b["stage"] == stage and _kill_named(b["worker"]):
                return b
        time.sleep(0.005)
    raise AssertionError(f"never saw a worker busy with {stage}")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["det", "rec"])
def test_killed_worker_loses_nothing(cluster, videos, tmp_path, stage):
    settings = Settings(moderation=ModerationSettings(stop_on_hit=False))
    pipe = start_pipeline(tmp_path, videos["kw"], settings, name=f"t-kill-{stage}")
    try:
        tasks = submit(pipe, [videos["long"], videos["late"]])
        killed = _kill_busy(pipe, stage)
        results = by_name(collect(pipe, [t.video_id for t in tasks], timeout_s=240))
        stats = ray.get(pipe.scheduler.stats.remote())
        assert stats["pool_lost_total"] >= 1 and stats["counters"]["retries"] >= 1
        assert killed["video_id"] in {t.video_id for t in tasks}
        assert results["long.mp4"].verdict is Verdict.PASS
        assert results["long.mp4"].ocr_frames == results["long.mp4"].keyframes  # the lost frame was redone
        assert results["late_hit.mp4"].verdict is Verdict.REJECT
    finally:
        pipe.stop()


@pytest.mark.slow
def test_killed_scheduler_resumes_from_the_journal(cluster, videos, tmp_path):
    pipe = start_pipeline(tmp_path, videos["kw"], Settings(), name="t-kill-sched")
    try:
        tasks = submit(pipe, [videos["long"], videos["late"], videos["clean"]])
        # Wait until it is mid-run (some detection done), then kill it; Ray restarts it.
        end = time.monotonic() + 60
        while ray.get(pipe.scheduler.stats.remote())["counters"]["det_frames"] < 2:
            assert time.monotonic() < end
            time.sleep(0.05)
        before = ray.get(pipe.scheduler.stats.remote())["gen_id"]
        ray.kill(pipe.scheduler, no_restart=False)
        results = by_name(collect(pipe, [t.video_id for t in tasks], timeout_s=240))
        stats = ray.get(pipe.scheduler.stats.remote())
        assert stats["gen_id"] != before and stats["counters"]["resumed"] >= 1
        assert results["long.mp4"].verdict is Verdict.PASS
        assert results["late_hit.mp4"].verdict is Verdict.REJECT
        assert results["clean.mp4"].verdict is Verdict.PASS
    finally:
        pipe.stop()


@pytest.mark.slow
def test_input_that_keeps_killing_workers_fails_only_its_video(cluster, videos, tmp_path):
    settings = Settings(cluster=ClusterSettings(max_task_retries=1))
    pipe = start_pipeline(tmp_path, videos["kw"], settings, name="t-poison")
    try:
        tasks = submit(pipe, [videos["clean"], videos["long"]])  # long is newer: goes first
        victim = tasks[1].video_id
        frame = None
        end = time.monotonic() + 120
        kills = 0
        # Every worker that touches frame `frame` of the victim dies, as a poisoned frame would.
        while kills < 2 and time.monotonic() < end:
            for b in ray.get(pipe.scheduler.busy.remote()):
                if b["video_id"] == victim and b["stage"] == "det" and (frame is None or b["frames"] == frame):
                    if _kill_named(b["worker"]):
                        frame = b["frames"]
                        kills += 1
                        break
            time.sleep(0.002)
        results = {r.video_id: r for r in collect(pipe, [t.video_id for t in tasks], timeout_s=240)}
        assert results[victim].verdict is Verdict.ERROR
        assert "killed the OCR worker" in results[victim].reason
        assert results[tasks[0].video_id].verdict is Verdict.PASS  # the pool carried on
    finally:
        pipe.stop()


def test_task_buffer_actor_restart_restores_from_the_journal(cluster, tmp_path):
    from ray_ocr.cluster.task_buffer import TaskBuffer
    from ray_ocr.schemas import VideoTask

    buf = TaskBuffer.options(name="t-buffer-restart").remote(str(tmp_path / "journal.sqlite"), 2)
    tasks = [VideoTask(video_id=f"v{i}", uri=f"/x/{i}.mp4", submitted_at=float(i)).model_dump(mode="json") for i in range(3)]
    out = ray.get(buf.submit.remote(tasks))
    assert out[2]["evicted"] == ["v0"]
    pid = ray.get(buf.stats.remote())["pid"]
    ray.kill(buf, no_restart=False)  # Ray restarts it; it reloads the journal
    end = time.monotonic() + 30
    while True:
        assert time.monotonic() < end
        try:
            stats = ray.get(buf.stats.remote(), timeout=10)
            if stats["pid"] != pid:
                break
        except ray.exceptions.RayActorError:
            pass
        time.sleep(0.2)
    assert stats["restored"] == 2 and stats["queued_newest_first"] == ["v2", "v1"]
    assert ray.get(buf.pop_wait.remote(0))["task"]["video_id"] == "v2"
    got = ray.get(buf.wait_results.remote(["v0", "v1"], 0.1))
    assert [(g["video_id"], g["verdict"]) for g in got] == [("v0", "expired")]
    ray.kill(buf, no_restart=True)


def test_cli_run_prints_the_contract_json_lines(cluster, videos, tmp_path, capsys):
    import argparse
    import json

    from ray_ocr.cluster.cli_cmds import add_run_parser

    parser = argparse.ArgumentParser()
    add_run_parser(parser.add_subparsers())
    args = parser.parse_args(["run", str(videos["clean"]), str(videos["garbage"]), "--keywords", str(videos["kw"]),
                              "--out", str(tmp_path), "--no-progress"])
    assert args.func(args) == 1  # one video ended in error
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    keys = {"video_id", "path", "md5", "verdict", "hits", "keyframes", "ocr_frames", "elapsed_s"}
    assert all(keys <= set(d) for d in lines)
    verdicts = {Path(d["path"]).name: d["verdict"] for d in lines}
    assert verdicts == {"clean.mp4": "pass", "garbage.mp4": "error"}
    assert next(d for d in lines if d["verdict"] == "error")["reason"]


def test_cli_run_bad_usage_exits_2(tmp_path, capsys):
    import argparse

    from ray_ocr.cluster.cli_cmds import add_run_parser

    parser = argparse.ArgumentParser()
    add_run_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "x.mp4", "--keywords", str(tmp_path / "nope.txt"), "--out", str(tmp_path)])
    assert args.func(args) == 2
    assert "keyword file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    args = parser.parse_args(["run", "x.mp4", "--keywords", str(bad), "--out", str(tmp_path)])
    assert args.func(args) == 2


def test_workers_that_cannot_load_their_model_fail_videos_with_the_reason(cluster, videos, tmp_path):
    from ray_ocr.config import OcrSettings

    settings = Settings(ocr=OcrSettings(model_set="no-such-model-set"))
    res = list(run_videos([videos["clean"]], videos["kw"], tmp_path, settings=settings, progress=False, name="t-nomodel"))
    assert res[0].verdict is Verdict.ERROR
    assert "OCR workers cannot start" in res[0].reason and "no-such-model-set" in res[0].reason


def test_reload_keywords_applies_to_the_next_video_and_refuses_a_bad_file(cluster, videos, tmp_path):
    first = tmp_path / "kw1.txt"
    first.write_text("不存在的词\n", encoding="utf-8")
    second = tmp_path / "kw2.txt"
    second.write_text("公园\tplace\n", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    pipe = start_pipeline(tmp_path / "out", first, Settings(), name="t-reload")
    try:
        t = submit(pipe, [videos["clean"]])
        assert next(collect(pipe, [t[0].video_id], timeout_s=120)).verdict is Verdict.PASS
        with pytest.raises(Exception):
            ray.get(pipe.scheduler.reload_keywords.remote(str(bad)))
        assert ray.get(pipe.scheduler.reload_keywords.remote(str(second)))["keywords"] == 1
        t = submit(pipe, [videos["long"]])
        r = next(collect(pipe, [t[0].video_id], timeout_s=120))
        assert r.verdict is Verdict.REJECT and r.hits[0].keyword == "公园"
    finally:
        pipe.stop()


def test_extractor_decodes_only_its_window_ahead_and_stops_on_cancel(cluster, videos):
    from ray_ocr.cluster.extractor import FrameExtractor
    from ray_ocr.config import VideoSettings

    ex = FrameExtractor.options(max_concurrency=4).remote(VideoSettings().model_dump_json())
    gen = ex.keyframes.remote(str(videos["long"]), "vid", None, 2)
    metas = []
    for _ in range(4):  # two keyframes: meta + frame each
        metas.append(ray.get(next(gen)))
    assert metas[0]["kind"] == "frame" and metas[2]["index"] == 1
    # Out of credit: the stream (and the decoder) waits.
    ready, _ = ray.wait([gen], timeout=1.5)
    assert not ready
    ray.get(ex.grant.remote("vid", 1))
    ready, _ = ray.wait([gen], timeout=30)
    assert ready and ray.get(next(gen))["index"] == 2
    next(gen)  # its frame
    ray.get(ex.cancel.remote("vid"))
    ready, _ = ray.wait([gen], timeout=30)
    assert ready
    end = ray.get(next(gen), timeout=30)
    assert end["kind"] == "end" and end["cancelled"] and end["keyframes"] == 3
    full = 18 * 10  # frames in long.mp4 (18 subtitles x 1 s x 10 fps)
    assert end["frames_decoded"] < full / 2
    ray.kill(ex)


def test_near_duplicate_keyframes_are_dropped_before_ocr(cluster, tmp_path):
    # One still shot with one subtitle for 32 s: keyframing keeps the first frame plus one forced
    # every max_gap_s; all but the first are near-duplicates that the dedupe actor removes.
    path = subtitle_video(tmp_path / "still.mp4", ["这一句字幕一直不变"], seconds_each=32, fps=5)
    kw = tmp_path / "kw.txt"
    kw.write_text(f"{BANNED_WORD}\n", encoding="utf-8")
    from ray_ocr.config import DedupeSettings

    on = next(iter(run_videos([path], kw, tmp_path / "on", progress=False, name="t-dedupe-on")))
    off_settings = Settings(dedupe=DedupeSettings(enabled=False))
    off = next(iter(run_videos([path], kw, tmp_path / "off", settings=off_settings, progress=False, name="t-dedupe-off")))
    assert on.verdict == off.verdict == Verdict.PASS
    assert off.keyframes >= 3
    assert on.keyframes == 1 and on.ocr_frames == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread SCHED_IDLE is Linux behaviour")
def test_ocr_worker_tasks_run_at_the_lowered_priority_its_constructor_set(cluster):
    # The priority is per thread: this holds only because a sync actor runs its tasks on the
    # thread that ran __init__, which is what the worker relies on.
    from ray_ocr.cluster.worker import OcrWorker
    from ray_ocr.config import OcrSettings

    w = OcrWorker.options(num_cpus=0.5).remote(OcrSettings().model_dump_json(), 1, ("det",), nice=10, idle=True)
    plain = OcrWorker.options(num_cpus=0.5).remote(OcrSettings().model_dump_json(), 1, ("det",))
    try:
        base = ray.get(plain.ready.remote(), timeout=120)["priority"]
        assert base.endswith(" policy=SCHED_OTHER")
        # Ray starts workers at RAY_worker_niceness (15 unless set, as here); nice only goes down.
        base_nice = int(base.split()[0].split("=")[1])
        assert ray.get(w.ready.remote(), timeout=120)["priority"] == f"nice={max(base_nice, 10)} policy=SCHED_IDLE"
    finally:
        ray.kill(w)
        ray.kill(plain)
