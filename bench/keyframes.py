"""Keyframe stage: sampled decode + selection vs decoding every frame, on generated 2-minute 720p videos.

    .venv/bin/python bench/keyframes.py            # 3 videos x 120 s, 1280x720 @ 25 fps
    .venv/bin/python bench/keyframes.py --quick    # 1 video x 30 s

Ours: every frame grab()-ed, retrieve() (YUV->BGR) only at `sample_fps`, selection on those.
Baseline: read() of every frame and the same selection on every frame. Both in one run, same
files, alternating, so the ratio is fair on a busy machine. Also reported: subtitle-line
coverage (must be 100%), keyframes per minute, and the fewest frames that could cover all text
(an offline oracle) for scale. Videos are cached in bench/results/keyframes_cache (gitignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ray_ocr.config import VideoSettings  # noqa: E402
from ray_ocr.training.synth_video import (  # noqa: E402
    GroundTruth,
    VideoSpec,
    coverage,
    gt_path,
    make_video,
    min_cover,
)
from ray_ocr.video.keyframes import KeyframeSelector, select_keyframes  # noqa: E402


def ensure_videos(cache: Path, n: int, duration: float, fps: float) -> list[tuple[Path, float | None]]:
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = cache / f"kf_{int(duration)}s_{int(fps)}fps_{i}.mp4"
        spec = VideoSpec(duration_s=duration, fps=fps, marquee=(i % 3 == 2), banned=["加微信"] if i % 2 == 0 else [])
        gen_s = None
        if not (p.is_file() and gt_path(p).is_file()):
            t = time.perf_counter()
            make_video(p, spec, seed=500 + i)
            gen_s = time.perf_counter() - t
        out.append((p, gen_s))
    return out


def baseline(path: Path, s: VideoSettings) -> tuple[list[float], int, float]:
    """read() every frame and run the same selector on every frame."""
    t = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    sel = KeyframeSelector(s, w, h)
    kept, i = [], 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if sel.update(img, i / fps):
            kept.append(i / fps)
        i += 1
    cap.release()
    return kept, i, time.perf_counter() - t


def decode_only(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one 30 s video")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "keyframes_cache")
    args = ap.parse_args()
    if args.quick:
        args.videos, args.duration = 1, 30.0
    s = VideoSettings()
    vids = ensure_videos(args.cache, args.videos, args.duration, args.fps)
    for p, g in vids:
        if g is not None:
            print(f"generated {p.name}: {args.duration:.0f} s 720p@{args.fps:.0f} in {g:.1f} s", file=sys.stderr)

    print(f"{'video':28s} {'frames':>6s} {'ours fps':>9s} {'read-all fps':>12s} {'decode-only fps':>15s} {'speedup':>8s} "
          f"{'kept':>5s} {'kept/min':>8s} {'oracle/min':>10s} {'subs cov':>9s} {'all-text cov':>12s} {'base kept/min':>13s}")
    tot = {"frames": 0, "ours": 0.0, "base": 0.0, "dec": 0.0, "kept": 0, "dur": 0.0, "oracle": 0, "cs": 0, "ns": 0, "ca": 0, "na": 0, "bk": 0}
    for p, _ in vids:
        gt = GroundTruth.load(gt_path(p))
        t = time.perf_counter()
        res = select_keyframes(p, s)
        ours_s = time.perf_counter() - t
        base_kept, n_base, base_s = baseline(p, s)
        n_dec, dec_s = decode_only(p)
        assert res.error is None, res.error_detail
        ts = [k.ts for k in res.keyframes]
        cs, ns, _ = coverage(gt, ts)
        text = [i for i in gt.items if i.kind in ("subtitle", "banned", "scattered")]
        ca, na, _ = coverage(gt, ts, text)
        oracle = min_cover(text, gt.fps)
        minutes = res.duration_s / 60
        print(f"{p.name:28s} {res.frames_decoded:6d} {res.frames_decoded / ours_s:9.0f} {n_base / base_s:12.0f} {n_dec / dec_s:15.0f} "
              f"{base_s / ours_s:7.2f}x {len(ts):5d} {len(ts) / minutes:8.1f} {oracle / minutes:10.1f} {cs:>4d}/{ns:<4d} "
              f"{ca:>6d}/{na:<5d} {len(base_kept) / minutes:13.1f}")
        for k, v in (("frames", res.frames_decoded), ("ours", ours_s), ("base", base_s), ("dec", dec_s), ("kept", len(ts)),
                     ("dur", res.duration_s), ("oracle", oracle), ("cs", cs), ("ns", ns), ("ca", ca), ("na", na), ("bk", len(base_kept))):
            tot[k] += v
    m = tot["dur"] / 60
    print()
    print(f"TOTAL {len(vids)} videos, {tot['dur']:.0f} s of 720p video, {tot['frames']} frames")
    print(f"  decode+select (ours):         {tot['frames'] / tot['ours']:7.0f} frames/s  ({tot['dur'] / tot['ours']:.0f}x real time)")
    print(f"  read() all + select (base):   {tot['frames'] / tot['base']:7.0f} frames/s  ({tot['dur'] / tot['base']:.0f}x real time)")
    print(f"  read() all, no selection:     {tot['frames'] / tot['dec']:7.0f} frames/s")
    print(f"  speedup ours / baseline:      {tot['base'] / tot['ours']:7.2f}x   (target >= 2x)")
    print(f"  speedup ours / bare read():   {tot['dec'] / tot['ours']:7.2f}x")
    print(f"  keyframes per minute:         {tot['kept'] / m:7.1f}      (target <= ~20; oracle minimum {tot['oracle'] / m:.1f})")
    print(f"  baseline keyframes per minute:{tot['bk'] / m:7.1f}      (same selector on every frame)")
    print(f"  subtitle-line coverage:       {tot['cs']}/{tot['ns']} = {100 * tot['cs'] / max(1, tot['ns']):.1f}%   (target 100%)")
    print(f"  all static text coverage:     {tot['ca']}/{tot['na']} = {100 * tot['ca'] / max(1, tot['na']):.1f}%")
    print(f"  frames dropped:               {100 * (1 - tot['kept'] / tot['frames']):.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
