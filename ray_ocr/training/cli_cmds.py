"""`ray-ocr relabel`, `ray-ocr dataset` and `ray-ocr eval`: the model-improvement loop.

Heavy modules are imported inside the commands so building the parser stays cheap. Machine
output is one JSON line on stdout; messages go to stderr. Exit 0 ok, 1 failure (including a
candidate model set that is worse than its baseline), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json

from ray_ocr.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from ray_ocr.cli import emit as _emit
from ray_ocr.cli import log as _log


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


# ---------------------------------------------------------------- relabel


def add_relabel_parser(sub) -> None:
    p = sub.add_parser("relabel", help="write the day's false-positive relabel package for annotators")
    p.add_argument("--data", required=True, metavar="DIR", help="result store folder (Parquet + journal)")
    p.add_argument("--day", required=True, metavar="YYYY-MM-DD", help="UTC day the videos finished")
    p.add_argument("--out", required=True, metavar="DIR", help="the package is written here as relabel-DAY/")
    p.add_argument("--zip", action="store_true", help="write relabel-DAY.zip instead of a folder")
    p.add_argument("--no-video", action="store_true", help="use the evidence JPEGs only, do not decode the videos again")
    p.set_defaults(func=cmd_relabel)


def cmd_relabel(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ray_ocr.store.results import ResultStore
    from ray_ocr.training.relabel import build_relabel_package, video_frame_source

    data = Path(args.data)
    if not (data / "videos").is_dir():
        _log(f"ray-ocr relabel: {data} is not a result store (no videos/ folder)")
        return EXIT_FAIL
    try:
        store = ResultStore(data)
        path = build_relabel_package(store, args.day, args.out, None if args.no_video else video_frame_source, as_zip=args.zip)
    except ValueError as exc:
        _log(f"ray-ocr relabel: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        _log(f"ray-ocr relabel: {exc}")
        return EXIT_FAIL
    manifest = _read_manifest(path)
    _emit({"path": str(path), "day": args.day, **manifest["counts"], "model_versions": manifest["model_versions"]})
    return EXIT_OK


def _read_manifest(path) -> dict:
    import zipfile

    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(f"{path.stem}/manifest.json"))
    return json.loads((path / "manifest.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- dataset


def add_dataset_parser(sub) -> None:
    p = sub.add_parser("dataset", help="export synthetic PaddleOCR det/rec training data")
    p.add_argument("--out", required=True, metavar="DIR", help="new (or empty) folder to create")
    p.add_argument("--n", type=_positive, default=100, help="frames to render (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=_positive, default=1280)
    p.add_argument("--height", type=_positive, default=720)
    p.set_defaults(func=cmd_dataset)


def cmd_dataset(args: argparse.Namespace) -> int:
    from ray_ocr.training.dataset import export_synthetic

    try:
        stats = export_synthetic(args.out, args.n, args.seed, args.width, args.height, progress=True)
    except ValueError as exc:
        _log(f"ray-ocr dataset: {exc}")
        return EXIT_USAGE
    except OSError as exc:  # FileExistsError included: never write over an existing dataset
        _log(f"ray-ocr dataset: {exc}")
        return EXIT_FAIL
    _emit(stats.to_dict())
    return EXIT_OK


# ---------------------------------------------------------------- eval


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="accuracy and speed of a model set on synthetic frames; gate against a baseline")
    p.add_argument("--models", required=True, metavar="SET", help="candidate model set")
    p.add_argument("--baseline", metavar="SET", help="compare against this set; exit 1 if the candidate is worse")
    p.add_argument("--models-dir", metavar="DIR", help="user model sets (default from settings: models/)")
    p.add_argument("--frames", type=_positive, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=_positive, default=1280)
    p.add_argument("--height", type=_positive, default=720)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all cores)")
    p.add_argument("--char-tolerance", type=float, default=0.002, help="allowed absolute drop in character accuracy")
    p.add_argument("--min-speed-ratio", type=float, default=None, help="also require this fraction of the baseline's frames/s")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from ray_ocr.config import get_settings
    from ray_ocr.ocr.session import ModelError
    from ray_ocr.training.model_eval import compare, evaluate_model_set

    models_dir = args.models_dir or get_settings().ocr.models_dir
    kw = dict(models_dir=models_dir, n_frames=args.frames, seed=args.seed, width=args.width, height=args.height,
              intra_op_threads=max(0, args.threads))
    try:
        cand = evaluate_model_set(args.models, **kw)
        base = evaluate_model_set(args.baseline, **kw) if args.baseline else None
    except ModelError as exc:
        _log(f"ray-ocr eval: {exc}")
        return EXIT_FAIL
    except ValueError as exc:
        _log(f"ray-ocr eval: {exc}")
        return EXIT_USAGE
    out: dict = {"candidate": cand.to_dict()}
    code = EXIT_OK
    if base is not None:
        cmp = compare(cand, base, char_tolerance=args.char_tolerance, min_speed_ratio=args.min_speed_ratio)
        out["baseline"] = base.to_dict()
        out["comparison"] = cmp.to_dict()
        if not cmp.ok:
            _log("ray-ocr eval: candidate is worse than the baseline: " + "; ".join(cmp.reasons))
            code = EXIT_FAIL
    _emit(out)
    return code
