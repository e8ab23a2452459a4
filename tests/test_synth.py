"""The synthetic renderer is the ground truth for OCR accuracy: its polygons and texts must be exact."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from ray_ocr.fonts import FontMissingError, cjk_font, cjk_font_path
from ray_ocr.training import corpus
from ray_ocr.training.synth import random_background, render_text, render_text_image

SEEDS = range(12)


def _grown_mask(shape, poly: np.ndarray, px: float) -> np.ndarray:
    """Mask of ``poly`` (edge coordinates) buffered by ``px`` pixels."""
    grown = Polygon(poly).buffer(px, join_style=2)
    mask = np.zeros(shape[:2], np.uint8)
    # fillPoly works on pixel centres; shift edge coordinates by -0.5.
    pts = np.round((np.asarray(grown.exterior.coords) - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, shift=4)
    return mask.astype(bool)


def test_font_loads_sc_face_with_weight():
    f = cjk_font(32, "Bold")
    assert f.getname() == ("Noto Sans CJK SC", "Bold")
    assert cjk_font(32, "Bold") is f  # cached
    assert cjk_font_path().is_file()
    # Bold ink is heavier than Thin: the variation really was applied.
    thin, bold = cjk_font(40, "Thin"), cjk_font(40, "Bold")
    a = np.zeros((60, 200, 3), np.uint8)
    b = a.copy()
    render_text(a, "中文字幕", (5, 5), 40, (255, 255, 255), weight="Thin")
    render_text(b, "中文字幕", (5, 5), 40, (255, 255, 255), weight="Bold")
    assert b.sum() > 1.5 * a.sum()
    assert thin is not bold


def test_font_bad_args():
    with pytest.raises(ValueError):
        cjk_font(20, "Heavy")
    with pytest.raises(ValueError):
        cjk_font(0)
    assert issubclass(FontMissingError, RuntimeError)


def test_corpus_chars_in_ppocrv5_dictionary():
    d = corpus.dictionary_chars()
    chars = corpus.corpus_chars()
    assert chars <= d, sorted(chars - d)
    cn = {c for c in chars if "\u4e00" <= c <= "\u9fff"}
    assert len(cn) >= 300  # a realistic spread of characters, not a handful


def test_generated_texts_in_dictionary():
    d = corpus.dictionary_chars()
    for seed in SEEDS:
        for it in render_text_image(seed).items:
            assert set(it.text) <= d, it.text


def test_deterministic():
    a, b = render_text_image(7), render_text_image(7)
    assert np.array_equal(a.image, b.image)
    assert [i.text for i in a.items] == [i.text for i in b.items]
    for x, y in zip(a.items, b.items):
        assert np.array_equal(x.polygon, y.polygon)
    c = render_text_image(8)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("seed", SEEDS)
def test_items_in_frame_not_overlapping_and_kinds(seed):
    si = render_text_image(seed)
    h, w = si.image.shape[:2]
    assert si.image.dtype == np.uint8 and si.image.shape == (720, 1280, 3)
    assert 3 <= len(si.items) <= 8
    kinds = [it.kind for it in si.items]
    assert kinds[0] == "subtitle" and "watermark" in kinds
    polys = []
    for it in si.items:
        p = it.polygon
        assert p.shape == (4, 2) and p.dtype == np.float32
        assert p[:, 0].min() >= 0 and p[:, 1].min() >= 0 and p[:, 0].max() <= w and p[:, 1].max() <= h
        sp = Polygon(p)
        assert sp.is_valid and sp.area > 50
        # Clockwise in image coordinates (y down) means positive shoelace area.
        x, y = p[:, 0], p[:, 1]
        assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
        polys.append(sp)
    for i in range(len(polys)):
        for j in range(i + 1, len(polys)):
            assert polys[i].intersection(polys[j]).area == 0, (si.items[i].text, si.items[j].text)


def test_subtitle_is_bottom_centre_and_sized():
    for seed in SEEDS:
        si = render_text_image(seed)
        sub = si.items[0].polygon
        cx = sub[:, 0].mean()
        assert abs(cx - 640) < 2
        assert sub[:, 1].min() > 720 * 0.75
        height = sub[:, 1].max() - sub[:, 1].min()
        assert 20 <= height <= 60


@pytest.mark.parametrize("seed", SEEDS)
def test_ink_lies_inside_polygons(seed):
    """Every pixel the text changed is within 2 px of its item's quad, and each quad holds ink."""
    si = render_text_image(seed)
    bg = random_background(np.random.default_rng(seed), 1280, 720)  # the same first draw of the rng
    changed = np.any(si.image != bg, axis=2)
    union = np.zeros(changed.shape, bool)
    for it in si.items:
        m = _grown_mask(changed.shape, it.polygon, 2.0)
        assert changed[m].sum() > 20, it.text
        union |= m
    stray = changed & ~union
    assert stray.sum() == 0, f"{stray.sum()} changed pixels outside all polygons"


@pytest.mark.parametrize("angle", [0.0, 7.5, -15.0, 30.0])
@pytest.mark.parametrize("stroke", [0, 3])
def test_render_text_polygon_is_tight(angle, stroke):
    """Ink fills the quad: inside the grown quad, and touching each of its four sides."""
    img = np.zeros((300, 700, 3), np.uint8)
    poly = render_text(img, "测试Text 123", (100, 100), 48, (255, 255, 255), stroke_width=stroke,
                       stroke_color=(90, 90, 90), angle_deg=angle)
    ink = img.max(axis=2) > 0
    assert (ink & ~_grown_mask(ink.shape, poly, 1.5)).sum() == 0
    ys, xs = np.nonzero(ink)
    pts = np.stack([xs + 0.5, ys + 0.5], 1)  # pixel centres in edge coordinates
    for k in range(4):
        a, b = poly[k].astype(np.float64), poly[(k + 1) % 4].astype(np.float64)
        n = np.array([b[1] - a[1], a[0] - b[0]]) / np.linalg.norm(b - a)
        dist = np.abs((pts - a) @ n)
        assert dist.min() < 1.5, f"side {k} is {dist.min():.2f} px from the nearest ink"
    # xy is the top-left of the ink bounding box
    assert abs(poly[:, 0].min() - 100) <= 1 and abs(poly[:, 1].min() - 100) <= 1


def test_render_text_clips_at_frame_edge():
    img = np.zeros((40, 80, 3), np.uint8)
    poly = render_text(img, "边缘文字", (50, 10), 30, (0, 255, 0))
    assert poly[:, 0].max() > 80  # the quad is reported unclipped
    assert img[..., 1].max() > 0 and img[..., 0].max() == 0


def test_custom_texts_and_item_count():
    texts = ["加微信", "联系电话"]
    si = render_text_image(3, n_items=(2, 2), texts=texts)
    assert len(si.items) == 2
    assert all(it.text in texts for it in si.items)
    si = render_text_image(3, width=640, height=360, n_items=(5, 5), max_angle_deg=0)
    assert si.image.shape == (360, 640, 3)
    for it in si.items:
        p = it.polygon
        # no tilt: the quad is axis-aligned
        assert p[0, 1] == p[1, 1] and p[0, 0] == p[3, 0]


def test_background_varied():
    rng = np.random.default_rng(0)
    bgs = [random_background(rng, 320, 180) for _ in range(6)]
    for b in bgs:
        assert b.shape == (180, 320, 3) and b.dtype == np.uint8
        assert b.std() > 3  # clutter, not a flat fill
    assert len({int(b.mean()) for b in bgs}) > 2
