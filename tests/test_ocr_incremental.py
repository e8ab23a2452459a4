"""Incremental detection: only the changed region of a keyframe is detected, with real ONNX."""

from __future__ import annotations

import numpy as np

from ray_ocr.ocr.incremental import IncrementalSettings, detect_incremental, region_to_detect
from ray_ocr.training.synth import random_background, render_text


def frame_with(bg: np.ndarray, lines: list[tuple[str, tuple[int, int], int]]) -> np.ndarray:
    img = bg.copy()
    for text, xy, size in lines:
        render_text(img, text, xy, size, (255, 255, 255), stroke_width=2, stroke_color=(0, 0, 0))
    return img


def texts(engine, det) -> list[str]:
    return ["".join(t.split()) for t, s in engine.recognizer.recognize(det.crops) if s > 0.5]


BG = random_background(np.random.default_rng(3), 1280, 720)
WATERMARK = ("抖音号12345", (1000, 30), 26)


def test_new_subtitle_is_detected_in_its_band_and_the_rest_is_kept(ocr_engine):
    a = frame_with(BG, [WATERMARK, ("今天我们去公园散步", (380, 630), 40)])
    b = frame_with(BG, [WATERMARK, ("加微信领取免费福利", (380, 630), 40)])
    det_a = ocr_engine.detector.detect([a])[0]
    det_b, region = detect_incremental(ocr_engine.detector, b, a, det_a.boxes, det_a.scores)
    assert isinstance(region, tuple)
    x0, y0, x1, y1 = region
    assert y0 > 500 and (x1 - x0) * (y1 - y0) < 0.2 * 1280 * 720  # only the subtitle band
    full = ocr_engine.detector.detect([b])[0]
    assert sorted(texts(ocr_engine, det_b)) == sorted(texts(ocr_engine, full))
    assert "加微信领取免费福利" in texts(ocr_engine, det_b) and "抖音号12345" in texts(ocr_engine, det_b)


def test_unchanged_frame_needs_no_detection(ocr_engine):
    a = frame_with(BG, [WATERMARK])
    det_a = ocr_engine.detector.detect([a])[0]
    noisy = np.clip(a.astype(np.int16) + np.random.default_rng(0).integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    det_b, region = detect_incremental(ocr_engine.detector, noisy, a, det_a.boxes, det_a.scores)
    assert region == "none" and len(det_b) == len(det_a) == 1


def test_a_scene_cut_detects_the_whole_frame(ocr_engine):
    a = frame_with(BG, [WATERMARK])
    b = frame_with(random_background(np.random.default_rng(9), 1280, 720), [WATERMARK, ("新的一幕", (200, 300), 48)])
    det_a = ocr_engine.detector.detect([a])[0]
    _, region = detect_incremental(ocr_engine.detector, b, a, det_a.boxes, det_a.scores)
    assert region is None


def test_region_grows_to_take_in_any_old_box_it_touches():
    prev = np.zeros((360, 640, 3), np.uint8)
    cur = prev.copy()
    cur[200:220, 300:320] = 255  # a small change
    old_box = np.array([[250, 190], [600, 190], [600, 230], [250, 230]], dtype=np.float32)  # crosses it
    far_box = np.array([[10, 10], [100, 10], [100, 30], [10, 30]], dtype=np.float32)
    x0, y0, x1, y1 = region_to_detect(prev, cur, [old_box, far_box], IncrementalSettings(margin=8))
    assert x0 <= 250 and x1 >= 600 and y0 <= 190 and y1 >= 230  # the old line is wholly inside
    assert y0 > 30  # the far box stays outside
