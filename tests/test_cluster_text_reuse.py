"""TextReuse: unchanged lines keep their text; a changed character or a moved box does not."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ray_ocr.cluster.text_reuse import TextReuse, crop_signature
from ray_ocr.fonts import cjk_font

BOX = [[100.0, 600.0], [700.0, 600.0], [700.0, 650.0], [100.0, 650.0]]


def line_crop(text: str, noise_seed: int | None = None) -> np.ndarray:
    img = Image.new("RGB", (600, 50), (40, 60, 90))
    ImageDraw.Draw(img).text((10, 5), text, font=cjk_font(36, "Bold"), fill=(255, 255, 255))
    arr = np.asarray(img)[:, :, ::-1].copy()
    if noise_seed is not None:  # sensor/codec noise between two keyframes
        rng = np.random.default_rng(noise_seed)
        arr = np.clip(arr.astype(np.int16) + rng.normal(0, 3, arr.shape).round().astype(np.int16), 0, 255).astype(np.uint8)
    return arr


def test_same_line_with_noise_is_reused():
    r = TextReuse()
    r.remember(BOX, crop_signature(line_crop("今天天气很好我们去公园", 1)), "今天天气很好我们去公园", 0.98)
    assert r.lookup(BOX, crop_signature(line_crop("今天天气很好我们去公园", 2))) == ("今天天气很好我们去公园", 0.98)
    shifted = [[x + 1.5, y - 1.0] for x, y in BOX]  # detector jitter
    assert r.lookup(shifted, crop_signature(line_crop("今天天气很好我们去公园", 3))) is not None


def test_one_changed_character_is_read_again():
    r = TextReuse()
    r.remember(BOX, crop_signature(line_crop("欢迎来到我们的网站", 1)), "欢迎来到我们的网站", 0.97)
    assert r.lookup(BOX, crop_signature(line_crop("欢迎来到赌博的网站", 2))) is None
    assert r.lookup(BOX, crop_signature(line_crop("欢迎来到我们的网址", 3))) is None  # last character


def test_moved_box_is_read_again():
    r = TextReuse()
    r.remember(BOX, crop_signature(line_crop("明天见")), "明天见", 0.9)
    moved = [[x + 40, y] for x, y in BOX]
    assert r.lookup(moved, crop_signature(line_crop("明天见"))) is None
    assert r.hits == 0 and r.misses == 1


def test_one_changed_latin_character_is_read_again():
    r = TextReuse()
    for text in ("vx: abc123", "wechat il"):
        r.remember(BOX, crop_signature(line_crop(text, 1)), text, 0.9)
    assert r.lookup(BOX, crop_signature(line_crop("vx: abc128", 2))) is None
    assert r.lookup(BOX, crop_signature(line_crop("wechat li", 2))) is None
    assert r.lookup(BOX, crop_signature(line_crop("vx: abc123", 3))) == ("vx: abc123", 0.9)
