"""Synthetic training data in PaddleOCR's formats: labels for free from the renderer.

Layout of ``out_dir``::

    images/000000.jpg ...   rendered frames
    Label.txt               det labels: ``images/000000.jpg\\t[{"transcription", "points"}]``
    crops/000000_00.jpg     one upright crop per text line (ocr.detector.crop_box, the same
                            warp the pipeline feeds the recogniser)
    rec_gt.txt              rec labels: ``crops/000000_00.jpg\\ttext``
    stats.json              counts and the arguments, so a dataset says how it was made

Frame ``i`` is rendered from a seed derived from (seed, i), so a dataset is reproducible and
``n`` can grow without changing the first frames. Written into a temp folder and renamed into
place: an interrupted export leaves no half dataset that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ray_ocr.ocr.detector import crop_box
from ray_ocr.store.atomic import fsync_dir
from ray_ocr.training.synth import render_text_image


@dataclass
class DatasetStats:
    out_dir: str
    images: int
    lines: int
    chars: int
    seed: int
    width: int
    height: int

    def to_dict(self) -> dict:
        return asdict(self)


def frame_seed(seed: int, index: int) -> int:
    """The renderer seed of frame ``index``: independent streams per frame (SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _jpeg(path: Path, img: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - only for an empty image, which the renderer never makes
        raise ValueError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def export_synthetic(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    width: int = 1280,
    height: int = 720,
    *,
    jpeg_quality: int = 95,
    progress: bool = True,
) -> DatasetStats:
    """Render ``n`` frames into a new dataset folder ``out_dir`` (it must not exist or be empty)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if width < 64 or height < 64:
        raise ValueError(f"frame size {width}x{height} is too small (at least 64x64)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder; choose a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}-{uuid.uuid4().hex[:8]}")
    (tmp / "images").mkdir(parents=True)
    (tmp / "crops").mkdir()
    det_lines: list[str] = []
    rec_lines: list[str] = []
    chars = 0
    try:
        for i in tqdm(range(n), desc="rendering", unit="img", disable=not progress):
            synth = render_text_image(frame_seed(seed, i), width, height)
            rel = f"images/{i:06d}.jpg"
            _jpeg(tmp / rel, synth.image, jpeg_quality)
            labels = []
            for j, item in enumerate(synth.items):
                if "\t" in item.text or "\n" in item.text:  # would break the one-line label format
                    raise ValueError(f"text with a tab or newline cannot be labelled: {item.text!r}")
                labels.append({"transcription": item.text, "points": [[round(float(x), 2), round(float(y), 2)] for x, y in item.polygon]})
                crel = f"crops/{i:06d}_{j:02d}.jpg"
                _jpeg(tmp / crel, crop_box(synth.image, item.polygon), jpeg_quality)
                rec_lines.append(f"{crel}\t{item.text}")
                chars += len(item.text)
            det_lines.append(f"{rel}\t{json.dumps(labels, ensure_ascii=False)}")
        stats = DatasetStats(str(out), n, len(rec_lines), chars, int(seed), int(width), int(height))
        (tmp / "Label.txt").write_text("".join(s + "\n" for s in det_lines), encoding="utf-8")
        (tmp / "rec_gt.txt").write_text("".join(s + "\n" for s in rec_lines), encoding="utf-8")
        (tmp / "stats.json").write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
        fsync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def read_det_labels(path: str | os.PathLike[str]) -> list[tuple[str, list[dict]]]:
    """Parse a PaddleOCR det label file (Label.txt) into (image path, items)."""
    out = []
    for k, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        img, sep, js = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{k}: no tab between image path and labels")
        out.append((img, json.loads(js)))
    return out
