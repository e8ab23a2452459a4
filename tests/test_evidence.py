"""Evidence screenshots: a real JPEG, red around the hit box, small, and atomically written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ray_ocr.config import ModerationSettings
from ray_ocr.moderation import KeywordLibrary, Moderator, reason, verdict
from ray_ocr.moderation.evidence import evidence_path, render_evidence, save_evidence
from ray_ocr.schemas import TextLine, Verdict


def _box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _frame(h=1080, w=1920, seed=0) -> np.ndarray:
    # A noisy, textured frame: JPEG size on flat colour would prove nothing.
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(base, (5, 5), 0)


def _red_mask(img: np.ndarray) -> np.ndarray:
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return (r > 170) & (g < 90) & (b < 90)


@pytest.fixture
def scene():
    lib = KeywordLibrary.from_text("微信\tad\n")
    lines = [
        TextLine(text="欢迎来到直播间", score=0.95, box=_box(600, 100, 1300, 160)),
        TextLine(text="加微信领红包", score=0.93, box=_box(700, 900, 1220, 960)),
    ]
    hits = Moderator(lib).check_frame(lines)
    return lines, hits


def test_evidence_jpeg_marks_the_hit_in_red(tmp_path: Path, scene) -> None:
    lines, hits = scene
    assert [h.line for h in hits] == [1]
    cfg = ModerationSettings()
    frame = _frame()
    path = save_evidence(evidence_path(tmp_path, "vid1", 42), frame, lines, hits,
                         max_side=cfg.evidence_max_side, quality=cfg.evidence_jpeg_quality)
    assert path == tmp_path / "evidence" / "vid1" / "000042.jpg"
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # JPEG SOI
    assert len(data) < 200_000
    img = cv2.imread(str(path))
    assert max(img.shape[:2]) == cfg.evidence_max_side  # 1920 → 960
    s = cfg.evidence_max_side / 1920
    red = _red_mask(img)
    # Red on the outline of the hit box (scaled), none on the outline of the other box.
    x0, y0, x1, y1 = (round(v * s) for v in (700, 900, 1220, 960))
    ring = np.zeros_like(red)
    cv2.rectangle(ring, (x0, y0), (x1, y1), 1, 3)
    assert red[ring.astype(bool)].mean() > 0.5
    ox0, oy0, ox1, oy1 = (round(v * s) for v in (600, 100, 1300, 160))
    other = np.zeros_like(red)
    cv2.rectangle(other, (ox0, oy0), (ox1, oy1), 1, 1)
    assert red[other.astype(bool)].mean() < 0.05
    # The keyword label (red background) sits just above the hit box.
    assert red[max(0, y0 - 30) : y0 - 2, x0 : x0 + 40].mean() > 0.3
    # No stray temp files.
    assert [p.name for p in path.parent.iterdir()] == ["000042.jpg"]


def test_no_hits_draws_only_thin_boxes_and_keeps_small_frames(scene) -> None:
    lines, _ = scene
    small = _frame(540, 960)
    img = render_evidence(small, lines[:0], [], max_side=960)
    assert img.shape == small.shape and np.array_equal(img, small)  # not upscaled, not drawn on
    assert img is not small


def test_rejects_a_non_bgr_frame(scene) -> None:
    lines, hits = scene
    with pytest.raises(ValueError):
        render_evidence(np.zeros((10, 10), np.uint8), lines, hits)


def test_verdict_and_reason(scene) -> None:
    _, hits = scene
    assert verdict(hits) == Verdict.REJECT and verdict([]) == Verdict.PASS
    assert reason(hits) == "ad: 微信" and reason([]) is None
