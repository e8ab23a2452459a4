"""`ray-ocr` entry point.

Exit codes: 0 ok, 1 failure, 2 bad usage. Machine output is JSON lines on stdout; progress and
logs go to stderr. Subcommands owned by a stage live beside that stage (``*/cli_cmds.py``) and
are registered here, imported lazily so `ray-ocr image` never pays for importing Ray.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# (module, add-parser function) of each stage's subcommands; the module is imported on use.
STAGE_COMMANDS: list[tuple[str, str]] = [
    ("ray_ocr.video.cli_cmds", "add_keyframes_parser"),
    ("ray_ocr.video.cli_cmds", "add_synth_parser"),
    ("ray_ocr.moderation.cli_cmds", "add_match_parser"),
    ("ray_ocr.cluster.cli_cmds", "add_run_parser"),
    ("ray_ocr.cluster.cli_cmds", "add_demo_parser"),
    ("ray_ocr.serve.cli_cmds", "add_up_parser"),
    ("ray_ocr.serve.cli_cmds", "add_serve_parser"),
    ("ray_ocr.training.cli_cmds", "add_relabel_parser"),
    ("ray_ocr.training.cli_cmds", "add_dataset_parser"),
    ("ray_ocr.training.cli_cmds", "add_eval_parser"),
]


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is already 2; keep the message short
        self.print_usage(sys.stderr)
        log(f"{self.prog}: error: {message}")
        raise SystemExit(EXIT_USAGE)


def cmd_image(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from ray_ocr.config import get_settings
    from ray_ocr.ocr.engine import OcrEngine
    from ray_ocr.ocr.session import ModelError

    settings = get_settings().ocr.model_copy(update={"model_set": args.models} if args.models else {})
    try:
        engine = OcrEngine.from_settings(settings)
    except ModelError as exc:
        log(f"ray-ocr image: {exc}")
        return EXIT_FAIL
    failed = 0
    for path in args.files:
        p = Path(path)
        frame = None
        if p.is_file():
            # imdecode over a byte buffer copes with non-ASCII paths, which cv2.imread does not.
            data = np.fromfile(p, dtype=np.uint8)
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if frame is None:
            reason = "not found" if not p.exists() else "not a readable image"
            emit({"path": str(path), "error": reason})
            log(f"ray-ocr image: {path}: {reason}")
            failed += 1
            continue
        t0 = time.perf_counter()
        lines = engine.read(frame)
        ms = (time.perf_counter() - t0) * 1000
        emit({"path": str(path), "lines": [ln.model_dump() for ln in lines], "elapsed_ms": round(ms, 1)})
    return EXIT_FAIL if failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ray-ocr", description="Read burned-in video text and flag banned words, on Ray.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("image", help="OCR image files; one JSON line per image")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--models", metavar="SET", help="model set (default from settings: ppocr-v5-mobile)")
    p.set_defaults(func=cmd_image)

    for module, fn in STAGE_COMMANDS:
        try:
            add: Callable = getattr(importlib.import_module(module), fn)
        except (ImportError, AttributeError):
            continue  # stage not installed in this build
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
