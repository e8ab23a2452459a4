"""`ray-ocr keyframes` and `ray-ocr synth` (wired into ray_ocr/cli.py by the lead).

JSON lines on stdout, messages on stderr; exit 0 ok, 1 failure (a bad video), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time

from ray_ocr.cli import emit as _emit


def add_keyframes_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("keyframes", help="MD5 and keyframes of videos, one JSON line each")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--sample-fps", type=float, default=None, help="frames per second examined (default from settings)")
    p.add_argument("--save", metavar="DIR", default=None, help="also write the keyframes as JPEGs into DIR")
    p.set_defaults(func=cmd_keyframes)
    return p


def cmd_keyframes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ray_ocr.config import get_settings
    from ray_ocr.video.keyframes import select_keyframes

    settings = get_settings().video
    if args.sample_fps is not None:
        if args.sample_fps <= 0:
            print("ray-ocr keyframes: --sample-fps must be > 0", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"sample_fps": args.sample_fps})
    failed = 0
    for video in args.videos:
        t0 = time.perf_counter()
        res = select_keyframes(video, settings)
        line = res.to_json_dict()
        line["elapsed_s"] = round(time.perf_counter() - t0, 3)
        _emit(line)
        if res.error:
            failed += 1
            print(f"ray-ocr keyframes: {res.error_detail}", file=sys.stderr)
        if args.save and res.keyframes:
            import cv2

            out = Path(args.save)
            out.mkdir(parents=True, exist_ok=True)
            stem = Path(video).stem
            for k in res.keyframes:
                cv2.imwrite(str(out / f"{stem}_{k.index:06d}.jpg"), k.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return 1 if failed else 0


def add_synth_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("synth", help="generate synthetic moderation videos with ground-truth JSON")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--n", type=int, default=4, help="number of videos (default 4)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per video (default 20)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--banned", action="append", default=[], metavar="PHRASE",
                   help="phrase to burn into every other video (repeatable)")
    p.set_defaults(func=cmd_synth)
    return p


def cmd_synth(args: argparse.Namespace) -> int:
    from ray_ocr.training.synth_video import gt_path, make_sample_set

    if args.n < 1 or args.duration <= 0 or args.fps <= 0:
        print("ray-ocr synth: --n must be >= 1, --duration and --fps > 0", file=sys.stderr)
        return 2
    try:
        paths = make_sample_set(args.out, args.n, seed=args.seed, banned=args.banned, duration_s=args.duration, fps=args.fps)
    except (OSError, RuntimeError) as exc:
        print(f"ray-ocr synth: {exc}", file=sys.stderr)
        return 1
    for p in paths:
        _emit({"path": str(p), "ground_truth": str(gt_path(p))})
    return 0
