#!/usr/bin/env python
"""OCR core: ray_ocr vs RapidOCR 1.4.4 on the same PP-OCRv5 model files and the same frames.

Frames are rendered 1280x720 video-like images (subtitle, watermark, scattered text of varied
size, colour and tilt) with exact ground truth. Every engine sees every frame once after a
warm-up; we report frames/s, character accuracy, exact-line accuracy, and the ratio to RapidOCR.

    .venv/bin/python bench/ocr_core.py            # 60 frames
    .venv/bin/python bench/ocr_core.py --quick    # 12 frames

RapidOCR runs twice: as shipped (direction classifier on) and with the classifier off, which is
the like-for-like comparison since ray_ocr leaves it off by default.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ray_ocr.config import OcrSettings, cpu_count  # noqa: E402
from ray_ocr.ocr.engine import OcrEngine  # noqa: E402
from ray_ocr.training.evaluate import Accuracy, score_frame  # noqa: E402
from ray_ocr.training.synth import render_text_image  # noqa: E402


def rapidocr_engine(model_set, use_cls: bool):
    from rapidocr_onnxruntime import RapidOCR

    dict_path = model_set.det_path.parent.parent / "ppocrv5_dict.txt"
    return RapidOCR(
        det_model_path=str(model_set.det_path),
        rec_model_path=str(model_set.rec_path),
        rec_keys_path=str(dict_path),
        use_cls=use_cls,
    )


def run_rapid(engine, frames):
    out = []
    for f in frames:
        result, _ = engine(f)
        out.append([(text, box) for box, text, _score in (result or [])])
    return out


def run_ours(engine: OcrEngine, frames, workers: int):
    return [[(ln.text, ln.box) for ln in lines] for lines in engine.read_many(frames, workers=workers)]


def measure(engines: dict, frames, truths, chunk: int = 4) -> list[dict]:
    """Frames/s and accuracy of each engine, interleaved chunk by chunk.

    Interleaving means a burst of load from elsewhere on the machine hits every engine about
    equally, so the ratios stay meaningful on a shared box.
    """
    for fn in engines.values():
        fn(frames[:2])  # warm-up: first runs allocate buffers and pick kernels
    rows = {name: {"name": name, "seconds": 0.0, "acc": Accuracy()} for name in engines}
    for k in range(0, len(frames), chunk):
        part, part_truth = frames[k : k + chunk], truths[k : k + chunk]
        for name, fn in engines.items():
            t0 = time.perf_counter()
            preds = fn(part)
            rows[name]["seconds"] += time.perf_counter() - t0
            for truth, pred in zip(part_truth, preds):
                rows[name]["acc"] += score_frame(truth, pred)
    for r in rows.values():
        r["fps"] = len(frames) / r["seconds"]
    return list(rows.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--quick", action="store_true", help="12 frames")
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    n = 12 if args.quick else args.frames

    print(f"rendering {n} frames 1280x720 ...", file=sys.stderr)
    synth = [render_text_image(seed=args.seed + i, width=1280, height=720, n_items=(3, 9)) for i in range(n)]
    frames = [s.image for s in synth]
    truths = [[(it.text, it.polygon) for it in s.items] for s in synth]
    cores = cpu_count()

    ours = OcrEngine.from_settings(OcrSettings(model_set="ppocr-v5-mobile"))
    ms = ours.model_set
    print(f"models: {ms.version} det={ms.det_path.name} rec={ms.rec_path.name}; cores={cores}", file=sys.stderr)

    rapid_cls = rapidocr_engine(ms, use_cls=True)
    rapid = rapidocr_engine(ms, use_cls=False)
    rows = measure(
        {
            "RapidOCR 1.4.4 (as shipped, cls on)": lambda fr: run_rapid(rapid_cls, fr),
            "RapidOCR 1.4.4 (cls off)": lambda fr: run_rapid(rapid, fr),
            "ray_ocr, 1 stream x all cores": lambda fr: run_ours(ours, fr, 1),
            f"ray_ocr, {cores} streams x 1 core": lambda fr: run_ours(ours, fr, cores),
        },
        frames,
        truths,
    )

    base = rows[1]["fps"]
    chars = rows[0]["acc"].chars
    print(f"\nOCR core, {n} frames 1280x720, {chars} ground-truth characters, {cores} cores, onnxruntime threads as noted")
    print(f"{'engine':42s} {'frames/s':>9s} {'vs Rapid(cls off)':>18s} {'char acc':>9s} {'line acc':>9s}")
    for r in rows:
        a = r["acc"]
        print(f"{r['name']:42s} {r['fps']:9.2f} {r['fps'] / base:17.2f}x {a.char_accuracy:9.4f} {a.line_accuracy:9.4f}")
    best = rows[-1]
    print(
        f"\nray_ocr ({cores} streams) vs RapidOCR cls off: {best['fps'] / base:.2f}x frames/s, "
        f"char accuracy {best['acc'].char_accuracy:.4f} vs {rows[1]['acc'].char_accuracy:.4f}"
    )
    print(f"ray_ocr ({cores} streams) vs RapidOCR as shipped: {best['fps'] / rows[0]['fps']:.2f}x frames/s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
