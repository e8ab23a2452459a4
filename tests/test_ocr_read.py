"""End-to-end OCR on real ONNX models: render known text with the project's renderer, read it back."""

from __future__ import annotations

import numpy as np
import pytest

from ray_ocr.config import OcrSettings, RecognizerSettings
from ray_ocr.ocr.engine import OcrEngine
from ray_ocr.training.evaluate import Accuracy, score_frame
from ray_ocr.training.synth import random_background, render_text, render_text_image


def squash(s: str) -> str:
    return "".join(s.split())


def plain_frame(texts: list[tuple[str, tuple[int, int], int]], bg=(60, 60, 60), size=(720, 1280)) -> tuple[np.ndarray, list]:
    img = np.full((*size, 3), bg, np.uint8)
    polys = [render_text(img, t, xy, sz, (255, 255, 255), stroke_width=2, stroke_color=(0, 0, 0)) for t, xy, sz in texts]
    return img, polys


@pytest.mark.parametrize(
    "text",
    ["加微信领取免费福利", "Visit www.example.com today", "客服电话 400-820-8820", "今晚八点直播间抽奖送手机"],
)
def test_reads_rendered_line_exactly(ocr_engine, text):
    img, polys = plain_frame([(text, (120, 560), 40)])
    lines = ocr_engine.read(img)
    assert [squash(ln.text) for ln in lines] == [squash(text)]
    # The box found covers the rendered polygon.
    box = np.array(lines[0].box)
    assert box[:, 0].min() <= polys[0][:, 0].min() + 4 and box[:, 0].max() >= polys[0][:, 0].max() - 4


def test_reads_several_lines_in_reading_order(ocr_engine):
    img, _ = plain_frame([("第一行字幕内容", (100, 100), 36), ("Second line here", (100, 300), 36), ("第三行 2026", (100, 500), 36)])
    texts = [squash(ln.text) for ln in ocr_engine.read(img)]
    assert texts == ["第一行字幕内容", "Secondlinehere", "第三行2026"]


def test_reads_tilted_text_on_busy_background(ocr_engine):
    img = random_background(np.random.default_rng(7), 1280, 720)
    render_text(img, "扫码关注公众号", (300, 300), 48, (255, 255, 0), stroke_width=3, stroke_color=(0, 0, 0), angle_deg=12)
    texts = [squash(ln.text) for ln in ocr_engine.read(img)]
    assert "扫码关注公众号" in texts


def test_blank_frame_has_no_text(ocr_engine):
    assert ocr_engine.read(np.full((720, 1280, 3), 128, np.uint8)) == []


def test_character_accuracy_on_synthetic_frames(ocr_engine):
    acc = Accuracy()
    for seed in range(4):
        s = render_text_image(seed=500 + seed)
        acc += score_frame([(i.text, i.polygon) for i in s.items], [(ln.text, ln.box) for ln in ocr_engine.read(s.image)])
    assert acc.chars > 100
    assert acc.char_accuracy >= 0.93


def test_read_many_threads_give_same_result_as_serial(ocr_engine):
    frames = [render_text_image(seed=900 + i).image for i in range(3)]
    serial = ocr_engine.read_many(frames, workers=1)
    threaded = ocr_engine.read_many(frames, workers=2)
    assert [[ln.text for ln in f] for f in serial] == [[ln.text for ln in f] for f in threaded]


def test_direction_classifier_turns_upside_down_lines():
    img, _ = plain_frame([("禁止转载 盗版必究", (200, 300), 44)])
    upside_down = np.ascontiguousarray(img[::-1, ::-1])
    plain = OcrEngine.from_settings(OcrSettings(), intra_op_threads=1)
    with_cls = OcrEngine.from_settings(OcrSettings(rec=RecognizerSettings(use_direction_classifier=True)), intra_op_threads=1)
    assert [squash(ln.text) for ln in with_cls.read(upside_down)] == ["禁止转载盗版必究"]
    assert "禁止转载盗版必究" not in [squash(ln.text) for ln in plain.read(upside_down)]


def test_v4_model_set_reads_text():
    engine = OcrEngine.from_settings(OcrSettings(model_set="ppocr-v4-mobile"), intra_op_threads=1)
    img, _ = plain_frame([("关注我们 Follow us", (100, 400), 40)])
    assert [squash(ln.text) for ln in engine.read(img)] == ["关注我们Followus"]
    assert engine.model_version.startswith("ppocr-v4-mobile@")
