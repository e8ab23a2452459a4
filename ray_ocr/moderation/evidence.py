"""Evidence screenshots for reviewers: the frame, every text box outlined, hits in red with
the keyword written beside them, downscaled and saved as a small JPEG (atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ray_ocr.moderation.moderator import FrameHit
from ray_ocr.schemas import TextLine
from ray_ocr.store.atomic import atomic_write_bytes

BOX_BGR = (160, 200, 160)  # pale green: every detected line
HIT_BGR = (0, 0, 255)  # red: lines that hit
HIT_RGB = (255, 0, 0)


def _font(size: int):
    try:
        from ray_ocr.fonts import cjk_font
    except ImportError:  # pragma: no cover - fonts.py is part of the package
        from PIL import ImageFont
        import manimgx_fonts_cjk

        path = Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc"
        font = ImageFont.truetype(str(path), size=size, index=2)
        font.set_variation_by_name("Bold")
        return font
    return cjk_font(size, "Bold")


def render_evidence(
    frame: np.ndarray, lines: Sequence[TextLine], hits: Sequence[FrameHit], max_side: int = 960
) -> np.ndarray:
    """The marked-up image (BGR, long side ≤ ``max_side``). Boxes are drawn after scaling so
    outlines stay thin and labels stay legible whatever the source resolution."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {frame.shape} {frame.dtype}")
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    img = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else frame.copy()
    hit_lines: set[int] = set()
    labels: dict[int, list[str]] = {}  # a phrase split over lines is labelled once, at its first line
    for hit in hits:
        hit_lines.update(hit.line_indices)
        kws = labels.setdefault(hit.line, [])
        if hit.keyword not in kws:
            kws.append(hit.keyword)

    polys = [np.round(np.asarray(ln.box, dtype=np.float64) * scale).astype(np.int32) for ln in lines]
    for i, poly in enumerate(polys):
        if i not in hit_lines:
            cv2.polylines(img, [poly], True, BOX_BGR, 1, cv2.LINE_AA)
    thick = max(2, round(max(img.shape[:2]) / 400))
    for i in hit_lines:
        cv2.polylines(img, [polys[i]], True, HIT_BGR, thick, cv2.LINE_AA)
    if not hit_lines:
        return img

    # Labels need a CJK font, which OpenCV lacks: draw them with PIL.
    size = max(12, round(max(img.shape[:2]) / 45))
    font = _font(size)
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    ih, iw = img.shape[:2]
    for i, kws in labels.items():
        label = " / ".join(kws)
        x0, y0 = polys[i][:, 0].min(), polys[i][:, 1].min()
        x1, y1 = polys[i][:, 0].max(), polys[i][:, 1].max()
        l, t, r, b = draw.textbbox((0, 0), label, font=font)
        tw, th = r - l, b - t
        # Above the box when there is room, else below; clamp inside the image.
        ty = y0 - th - 2 * thick - 4 if y0 - th - 2 * thick - 4 >= 0 else min(ih - th - 4, y1 + thick + 2)
        tx = int(min(max(0, x0), max(0, iw - tw - 6)))
        draw.rectangle((tx, ty, tx + tw + 6, ty + th + 4), fill=HIT_RGB)
        draw.text((tx + 3 - l, ty + 2 - t), label, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def encode_jpeg(img: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:  # pragma: no cover - only on an invalid image, which render_evidence rejects
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def save_evidence(
    path: str | os.PathLike[str],
    frame: np.ndarray,
    lines: Sequence[TextLine],
    hits: Sequence[FrameHit],
    *,
    max_side: int = 960,
    quality: int = 80,
) -> Path:
    """Render and write one evidence JPEG atomically; returns its path."""
    return atomic_write_bytes(path, encode_jpeg(render_evidence(frame, lines, hits, max_side), quality))


def evidence_path(data_dir: str | os.PathLike[str], video_id: str, frame_index: int) -> Path:
    """Where the store keeps a video's evidence: <data_dir>/evidence/<video_id>/<frame>.jpg."""
    return Path(data_dir) / "evidence" / video_id / f"{frame_index:06d}.jpg"
