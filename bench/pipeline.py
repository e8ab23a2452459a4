"""End-to-end throughput: ray-ocr's scheduler vs two baselines, on the same generated videos.

    .venv/bin/python bench/pipeline.py            # 6 x 60 s + one 120 s 720p video
    .venv/bin/python bench/pipeline.py --quick    # 3 x 20 s + one 30 s video

Systems, all on one local Ray cluster of --cpus CPUs (default 2), same keyframes, same models:
  ours        Scheduler: video at a time, any-stage workers (one per CPU), recognition first,
              early stop on a keyword hit.
  sequential  (a) one process, every keyframe OCRed in order (onnxruntime using all cores).
  fixed 1:3   (b) producer/consumer: 1 detector actor feeding 3 recognizer actors (CPUs split
              evenly), frames FIFO over videos; it also stops a video at its first hit.
Reports videos/hour, latency from submission p50/p95, CPU busy fraction (CPU time of this
process tree / wall / CPUs), and how long the 2-minute video takes against its duration.
The machine may be shared: figures are noisy, compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import ray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ray_ocr.config import Settings  # noqa: E402

KEYWORDS = ["赌博网站", "代开发票"]


@dataclass
class RunStats:
    name: str
    wall_s: float
    latencies: list[float]
    verdicts: dict[str, str]
    busy: float
    ocr_frames: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def videos_per_hour(self) -> float:
        return len(self.latencies) / self.wall_s * 3600

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return float("nan")
        k = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
        return xs[k]


class CpuMeter:
    """CPU seconds used by this process and all its descendants (the local Ray cluster)."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.seen: dict[int, float] = {}

    def _sample(self) -> None:
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = max(self.seen.get(p.pid, 0.0), t.user + t.system)
            except psutil.Error:
                pass

    def total(self) -> float:
        self._sample()
        return sum(self.seen.values())

    def poll_in_background(self, stop: threading.Event) -> threading.Thread:
        # Short-lived actors would take their CPU time with them; sample often.
        def loop() -> None:
            while not stop.wait(0.5):
                self._sample()

        th = threading.Thread(target=loop, daemon=True)
        th.start()
        return th


def measured(name: str, ncpu: int, fn: Callable[[float], tuple[dict[str, float], dict[str, str], int, dict]]) -> RunStats:
    """Time fn(t0); each system starts (and warms) its actors/sessions before calling this."""
    meter = CpuMeter()
    c0 = meter.total()
    stop = threading.Event()
    meter.poll_in_background(stop)
    t0 = time.time()
    done_at, verdicts, frames, extra = fn(t0)
    wall = time.time() - t0
    stop.set()
    busy = (meter.total() - c0) / (wall * ncpu)
    return RunStats(name, wall, [t - t0 for t in done_at.values()], verdicts, busy, frames, extra)


# ------------------------------------------------------------------------------ ours
def start_ours(kw: Path, work: Path, settings: Settings, name: str, ncpu: int):
    """A running pipeline with its pool warm (workers_min = CPUs), as a standing service has."""
    from ray_ocr.cluster.run import start_pipeline

    settings = settings.model_copy(deep=True)
    settings.cluster.workers_min = ncpu
    pipe = start_pipeline(work, kw, settings, name=name)
    deadline = time.time() + 120
    while ray.get(pipe.scheduler.stats.remote())["pool"]["idle"] < ncpu and time.time() < deadline:
        time.sleep(0.2)
    return pipe


def run_ours(pipe, paths: Sequence[Path], t0: float):
    from ray_ocr.cluster.run import collect, submit

    try:
        tasks = submit(pipe, paths, submitted_at=[t0 - i * 1e-3 for i in range(len(paths))])  # FIFO order, like (b)
        done, verdicts, frames = {}, {}, 0
        for r in collect(pipe, [t.video_id for t in tasks]):
            done[r.video_id] = time.time()
            verdicts[Path(r.path).name] = r.verdict.value
            frames += r.ocr_frames
        stats = ray.get(pipe.scheduler.stats.remote())
        return done, verdicts, frames, {"pool": stats["pool_history"][-1] if stats["pool_history"] else None,
                                        "counters": stats["counters"]}
    finally:
        pipe.stop()


# ------------------------------------------------------------------------------ (a) sequential
def start_sequential(settings: Settings, ncpu: int):
    from ray_ocr.ocr.engine import OcrEngine

    return OcrEngine.from_settings(settings.ocr, intra_op_threads=ncpu)


def run_sequential(engine, paths: Sequence[Path], kw: Path, settings: Settings, t0: float):
    from ray_ocr.moderation.keywords import KeywordLibrary
    from ray_ocr.moderation.moderator import Moderator
    from ray_ocr.video.keyframes import iter_keyframes

    mod = Moderator(KeywordLibrary.load(kw))
    done, verdicts, frames = {}, {}, 0
    for p in paths:
        hit = False
        for kf in iter_keyframes(p, settings.video):
            lines = engine.read(kf.image)
            frames += 1
            hit = hit or bool(mod.check_frame(lines))
        done[p.name] = time.time()
        verdicts[p.name] = "reject" if hit else "pass"
    return done, verdicts, frames, {}


# ------------------------------------------------------------------------------ (b) fixed ratio
def start_fixed_ratio(settings: Settings, ncpu: int, n_det: int = 1, n_rec: int = 3):
    from ray_ocr.cluster.extractor import FrameExtractor
    from ray_ocr.cluster.worker import OcrWorker

    per = ncpu / (n_det + n_rec)
    ocr_json = settings.ocr.model_dump_json()
    dets = [OcrWorker.options(num_cpus=per).remote(ocr_json, 1, ("det",)) for _ in range(n_det)]
    recs = [OcrWorker.options(num_cpus=per).remote(ocr_json, 1, ("rec",)) for _ in range(n_rec)]
    ex = FrameExtractor.options(num_cpus=0, max_concurrency=4).remote(settings.video.model_dump_json())
    ray.get([w.ready.remote() for w in dets + recs] + [ex.fingerprint.remote(__file__)])
    return dets, recs, ex


def run_fixed_ratio(actors, paths: Sequence[Path], kw: Path, settings: Settings, t0: float):
    from ray_ocr.moderation.keywords import KeywordLibrary
    from ray_ocr.moderation.moderator import Moderator
    from ray_ocr.schemas import TextLine

    dets, recs, ex = actors
    n_det, n_rec = len(dets), len(recs)
    mod = Moderator(KeywordLibrary.load(kw))
    drop = settings.ocr.rec.drop_score

    frames_q: queue.Queue = queue.Queue(maxsize=64)

    def produce() -> None:  # the producer: keyframes of each video in FIFO order
        for p in paths:
            n = 0
            meta = None
            for ref in ex.keyframes.remote(str(p), p.name):
                if meta is None:
                    meta = ray.get(ref)
                    if meta["kind"] == "end":
                        meta = None
                    continue
                frames_q.put((p.name, meta["index"], ref))
                meta = None
                n += 1
            frames_q.put((p.name, None, n))  # end of video: n keyframes
        frames_q.put(None)

    threading.Thread(target=produce, daemon=True).start()
    outstanding: dict[Any, tuple] = {}  # ref -> (kind, video, index, extra)
    det_load = [0] * n_det
    rr = 0
    expected: dict[str, int | None] = {p.name: None for p in paths}
    finished_frames: dict[str, int] = {p.name: 0 for p in paths}
    rejected: set[str] = set()
    done, verdicts = {}, {}
    frames = 0
    produced_all = False

    def maybe_done(v: str) -> None:
        if v in done:
            return
        if v in rejected or (expected[v] is not None and finished_frames[v] >= expected[v]):
            done[v] = time.time()
            verdicts[v] = "reject" if v in rejected else "pass"

    while len(done) < len(paths):
        # Feed each detector up to 2 queued frames (its input queue).
        while not produced_all and min(det_load) < 2:
            try:
                item = frames_q.get(timeout=0.01 if outstanding else 1.0)
            except queue.Empty:
                break
            if item is None:
                produced_all = True
                break
            v, idx, ref = item
            if idx is None:
                expected[v] = ref
                maybe_done(v)
                continue
            if v in rejected:
                continue
            d = det_load.index(min(det_load))
            meta_ref, crops_ref = dets[d].detect.remote(ref)
            det_load[d] += 1
            outstanding[meta_ref] = ("det", v, idx, (d, crops_ref))
        if not outstanding:
            continue
        ready, _ = ray.wait(list(outstanding), num_returns=1, timeout=0.05)
        for r in ready:
            kind, v, idx, extra = outstanding.pop(r)
            res = ray.get(r)
            if kind == "det":
                det_load[extra[0]] -= 1
                frames += 1
                if res["n"] and v not in rejected:
                    rec_ref = recs[rr % n_rec].recognize.remote(extra[1])  # fixed consumers, round robin
                    rr += 1
                    outstanding[rec_ref] = ("rec", v, idx, res)
                else:
                    finished_frames[v] += 1
            else:
                lines = [TextLine(text=t, score=s, box=b) for b, (t, s) in zip(extra["boxes"], res["texts"][0]) if s >= drop and t.strip()]
                if mod.check_frame(lines):
                    rejected.add(v)
                finished_frames[v] += 1
            maybe_done(v)
    for a in dets + recs + [ex]:
        ray.kill(a)
    return done, verdicts, frames, {}


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--videos", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline")
    ap.add_argument("--skip", default="", help="comma list of systems to skip: sequential,fixed")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per system, interleaved; the best is reported (default 1 quick, 2 full)")
    args = ap.parse_args(argv)
    n = args.videos or (3 if args.quick else 6)
    dur = args.duration or (20.0 if args.quick else 60.0)
    long_dur = 30.0 if args.quick else 120.0

    from ray_ocr.training.synth_video import make_sample_set

    vids = args.out / "videos"
    print(f"generating/reusing {n} x {dur:.0f} s + 1 x {long_dur:.0f} s 720p videos in {vids} ...", file=sys.stderr)
    paths = make_sample_set(vids / f"batch_{dur:.0f}", n, seed=11, banned=KEYWORDS, duration_s=dur)
    long_path = make_sample_set(vids / f"long_{long_dur:.0f}", 1, seed=12, banned=[], duration_s=long_dur)[0]
    kw = args.out / "keywords.txt"
    kw.write_text("".join(f"{k}\tbench\n" for k in KEYWORDS), encoding="utf-8")

    settings = Settings()
    ray.init(num_cpus=args.cpus, include_dashboard=False, namespace=f"ray-ocr-bench-{uuid.uuid4().hex[:6]}", log_to_driver=False)
    runs: list[RunStats] = []
    try:
        repeat = args.repeat or (1 if args.quick else 2)
        best: dict[str, RunStats] = {}

        def keep(r: RunStats) -> None:
            # Best of the interleaved repeats: other load on a shared machine only slows a run down.
            if r.name not in best or r.videos_per_hour > best[r.name].videos_per_hour:
                best[r.name] = r

        for rep in range(repeat):
            tag = uuid.uuid4().hex[:6]  # a fresh journal each time, or the re-run would be all duplicates
            pipe = start_ours(kw, args.out / f"work-{tag}-ours", settings, f"bench-ours-{rep}", args.cpus)
            keep(measured("ours", args.cpus, lambda t0: run_ours(pipe, paths, t0)))
            if "sequential" not in args.skip:
                engine = start_sequential(settings, args.cpus)
                keep(measured("sequential (a)", args.cpus, lambda t0: run_sequential(engine, paths, kw, settings, t0)))
                del engine
            if "fixed" not in args.skip:
                actors = start_fixed_ratio(settings, args.cpus)
                keep(measured("fixed 1:3 (b)", args.cpus, lambda t0: run_fixed_ratio(actors, paths, kw, settings, t0)))
        runs.extend(best.values())
        # The 2-minute video alone on a warm pipeline: must finish faster than it plays.
        pipe = start_ours(kw, args.out / f"work-{tag}-long", settings, "bench-long", args.cpus)
        single = measured("ours, 1 long video", args.cpus, lambda t0: run_ours(pipe, [long_path], t0))
    finally:
        ray.shutdown()

    ours = runs[0]
    print(f"\n{n} videos x {dur:.0f} s 720p, {args.cpus} CPUs, best of {repeat} interleaved runs "
          "(shared machine: noisy; compare ratios)")
    print(f"{'system':<18}{'videos/h':>10}{'p50 s':>9}{'p95 s':>9}{'CPU busy':>10}{'OCR frames':>12}{'ours x':>9}")
    for r in runs:
        print(f"{r.name:<18}{r.videos_per_hour:>10.1f}{r.pct(0.5):>9.1f}{r.pct(0.95):>9.1f}{r.busy:>10.0%}{r.ocr_frames:>12d}"
              f"{ours.videos_per_hour / r.videos_per_hour:>9.2f}")
    lat = single.latencies[0]
    print(f"\n{long_dur:.0f} s 720p video alone: {lat:.1f} s ({long_dur / lat:.2f}x real time, CPU busy {single.busy:.0%})")
    agree = all(r.verdicts == ours.verdicts for r in runs[1:] if len(r.verdicts) == len(ours.verdicts))
    print(f"verdicts agree across systems: {agree}  ({json.dumps(ours.verdicts)})")
    report = {
        "videos": n, "duration_s": dur, "cpus": args.cpus,
        "runs": [{"name": r.name, "videos_per_hour": r.videos_per_hour, "p50_s": r.pct(0.5), "p95_s": r.pct(0.95),
                  "cpu_busy": r.busy, "ocr_frames": r.ocr_frames, "wall_s": r.wall_s, "verdicts": r.verdicts} for r in runs],
        "long_video": {"duration_s": long_dur, "elapsed_s": lat, "realtime_x": long_dur / lat, "cpu_busy": single.busy},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
