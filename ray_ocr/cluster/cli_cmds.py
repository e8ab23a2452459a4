"""`ray-ocr run` and `ray-ocr demo` (wired into ray_ocr/cli.py by the lead).

Output: one JSON line per video on stdout (DESIGN.md contract); progress and logs on stderr.
Exit codes: 0 every video got a verdict other than `error`; 1 some video ended in `error`
(each still has its own line with a reason) or the pipeline failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEMO_KEYWORDS = ["赌博网站", "代开发票", "加微信"]


def add_run_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="moderate videos on Ray: keyframes, OCR, keyword verdicts")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files")
    p.add_argument("--keywords", required=True, metavar="FILE", help="keyword file: keyword[<TAB>category] per line")
    p.add_argument("--out", required=True, metavar="DIR", help="results, evidence JPEGs and the task journal go here")
    p.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto); default: start a local one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_run)
    return p


def add_demo_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="generate sample videos (some with banned words) and moderate them through the HTTP API")
    p.add_argument("--out", default="demo-out", metavar="DIR")
    p.add_argument("--videos", type=int, default=4, help="how many sample videos (even-numbered ones carry banned words)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per sample video")
    p.add_argument("--address", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return p


def _emit(results, out=sys.stdout) -> int:
    from ray_ocr.cluster.run import result_json

    errors = 0
    for r in results:
        print(json.dumps(result_json(r), ensure_ascii=False), file=out, flush=True)
        errors += r.verdict.value == "error"
    return errors


def cmd_run(args: argparse.Namespace) -> int:
    from ray_ocr.cluster.run import run_videos
    from ray_ocr.moderation.keywords import KeywordFileError, KeywordLibrary

    kw = Path(args.keywords)
    if not kw.is_file():
        print(f"ray-ocr run: keyword file not found: {kw}", file=sys.stderr)
        return 2
    try:
        KeywordLibrary.load(kw)  # fail fast on a bad file, before starting Ray
    except (KeywordFileError, UnicodeDecodeError, OSError) as exc:
        print(f"ray-ocr run: bad keyword file: {exc}", file=sys.stderr)
        return 2
    try:
        errors = _emit(run_videos(args.paths, kw, args.out, address=args.address, progress=not args.no_progress))
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for an operator
        print(f"ray-ocr run: pipeline failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 1 if errors else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ray_ocr.serve.demo import demo_over_http
    from ray_ocr.training.synth_video import make_sample_set

    if args.videos < 1 or args.duration <= 0:
        print("ray-ocr demo: --videos must be >= 1 and --duration > 0", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(f"generating {args.videos} sample videos in {out / 'videos'} ...", file=sys.stderr)
    paths = make_sample_set(out / "videos", args.videos, banned=DEMO_KEYWORDS[:2], duration_s=args.duration)
    kw = out / "keywords.txt"
    kw.write_text("# demo keyword library: keyword<TAB>category\n" + "".join(f"{k}\tdemo\n" for k in DEMO_KEYWORDS), encoding="utf-8")
    print(f"keywords: {kw}", file=sys.stderr)
    errors = 0
    try:
        # Through the HTTP API, as a platform submits: Serve app, POST, poll, evidence download.
        for line in demo_over_http(paths, kw, out, address=args.address, progress=not args.no_progress):
            print(json.dumps(line, ensure_ascii=False), flush=True)
            errors += line["verdict"] == "error"
    except Exception as exc:  # noqa: BLE001
        print(f"ray-ocr demo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"evidence JPEGs (downloaded over HTTP): {out / 'evidence'}; results (Parquet) and journal: {out / 'results'}", file=sys.stderr)
    return 1 if errors else 0
