"""Unit tests of the OCR core's pure pieces: DB post-processing, CTC decoding, crop geometry,
width batching. Hand-made inputs with answers worked out independently of the code."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ray_ocr.config import DetectorSettings, RecognizerSettings
from ray_ocr.ocr.detector import (
    box_score,
    boxes_from_probability,
    crop_box,
    order_points,
    target_size,
    unclip,
    unclip_distance,
)
from ray_ocr.ocr.recognizer import TextRecognizer, ctc_greedy_decode, resized_width


def box_wh(box: np.ndarray) -> tuple[float, float]:
    return float(np.linalg.norm(box[0] - box[1])), float(np.linalg.norm(box[0] - box[3]))


# ---------------------------------------------------------------- DB post-processing


def test_unclip_distance_formula():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float32)
    # A = 100, L = 40, r = 1.5 -> D = 3.75
    assert unclip_distance(square, 1.5) == pytest.approx(3.75)
    rect = np.array([[0, 0], [100, 0], [100, 20], [0, 20]], dtype=np.float32)
    assert unclip_distance(rect, 2.0) == pytest.approx(2000 * 2.0 / 240)


def test_unclip_grows_each_side_by_distance():
    rect = np.array([[10, 10], [110, 10], [110, 30], [10, 30]], dtype=np.float32)
    d = unclip_distance(rect, 1.5)
    grown = unclip(rect, 1.5)
    w = grown[:, 0].max() - grown[:, 0].min()
    h = grown[:, 1].max() - grown[:, 1].min()
    assert w == pytest.approx(100 + 2 * d, abs=1.0)
    assert h == pytest.approx(20 + 2 * d, abs=1.0)


def test_rectangle_in_probability_map_gives_that_box_back():
    prob = np.zeros((96, 320), dtype=np.float32)
    prob[40:52, 60:260] = 0.9  # kernel: 200 x 12 pixels
    s = DetectorSettings(thresh=0.3, box_thresh=0.6, unclip_ratio=1.5)
    boxes, scores = boxes_from_probability(prob, (96, 320), s)
    assert len(boxes) == 1
    assert scores[0] == pytest.approx(0.9, abs=0.02)
    w, h = box_wh(boxes[0])
    # The kernel's minAreaRect runs through pixel centres: 199 x 11; then + 2D on each axis.
    d = 199 * 11 * 1.5 / (2 * (199 + 11))
    assert w == pytest.approx(199 + 2 * d, abs=2)
    assert h == pytest.approx(11 + 2 * d, abs=2)
    cx, cy = boxes[0].mean(axis=0)
    assert (cx, cy) == pytest.approx((159.5, 45.5), abs=1.0)


def test_boxes_map_back_to_frame_scale():
    prob = np.zeros((64, 128), dtype=np.float32)
    prob[20:30, 20:100] = 1.0
    boxes, _ = boxes_from_probability(prob, (128, 256), DetectorSettings())
    assert len(boxes) == 1
    b = boxes[0]
    assert b[:, 0].min() < 40 < 200 < b[:, 0].max() <= 256  # x doubled: 20..100 -> 40..200
    assert b[:, 1].min() < 40 < 60 < b[:, 1].max() <= 128


def test_weak_and_tiny_regions_are_dropped():
    prob = np.zeros((100, 300), dtype=np.float32)
    prob[10:30, 10:200] = 0.45  # above thresh, below box_thresh
    prob[60:62, 10:12] = 0.99  # a 2x2 speck, below min_size
    prob[70:85, 100:250] = 0.95  # the one real line
    boxes, scores = boxes_from_probability(prob, (100, 300), DetectorSettings(box_thresh=0.6, min_size=3))
    assert len(boxes) == 1 and scores[0] > 0.9
    assert boxes[0][:, 1].min() > 55  # the real line (rows 70-84, grown by D ~ 9.6), not the speck at 60


def test_rotated_region_gives_rotated_box():
    prob = np.zeros((300, 300), dtype=np.float32)
    rect = ((150, 150), (200, 16), 20.0)  # centre, size, angle in degrees
    cv2.fillPoly(prob, [cv2.boxPoints(rect).round().astype(np.int32)], 1.0)
    boxes, _ = boxes_from_probability(prob, (300, 300), DetectorSettings())
    assert len(boxes) == 1
    top_edge = boxes[0][1] - boxes[0][0]
    angle = np.degrees(np.arctan2(top_edge[1], top_edge[0]))
    assert angle == pytest.approx(20.0, abs=2.0)


def test_reading_order_top_to_bottom_left_to_right():
    prob = np.zeros((200, 400), dtype=np.float32)
    prob[150:165, 20:200] = 1  # bottom line
    prob[20:35, 220:380] = 1  # top right
    prob[22:37, 20:180] = 1  # top left, 2 px lower than top right
    boxes, _ = boxes_from_probability(prob, (200, 400), DetectorSettings())
    xs = [b[0, 0] for b in boxes]
    ys = [b[0, 1] for b in boxes]
    assert xs[0] < xs[1] and ys[2] > 100


def test_box_score_is_mean_inside_polygon():
    prob = np.zeros((50, 50), dtype=np.float32)
    prob[10:20, 10:20] = 1.0
    inner = np.array([[10, 10], [19, 10], [19, 19], [10, 19]], dtype=np.float32)
    assert box_score(prob, inner) == pytest.approx(1.0)
    outer = np.array([[5, 5], [24, 5], [24, 24], [5, 24]], dtype=np.float32)
    assert box_score(prob, outer) == pytest.approx(100 / 400, abs=0.01)


def test_order_points_clockwise_from_top_left():
    pts = np.array([[10, 50], [100, 10], [10, 10], [100, 50]], dtype=np.float32)
    out = order_points(pts)
    assert out.tolist() == [[10, 10], [100, 10], [100, 50], [10, 50]]


@pytest.mark.parametrize(
    "hw,limit,expected",
    [((720, 1280), 960, (544, 960)), ((1080, 1920), 960, (544, 960)), ((100, 200), 960, (96, 192)), ((10, 10), 960, (32, 32))],
)
def test_target_size_multiple_of_32_within_limit(hw, limit, expected):
    assert target_size(*hw, limit) == expected


# ---------------------------------------------------------------- CTC decoding


def one_hot_probs(seq: list[int], classes: int, p: float = 0.9) -> np.ndarray:
    probs = np.full((1, len(seq), classes), (1 - p) / (classes - 1), dtype=np.float32)
    for t, c in enumerate(seq):
        probs[0, t, c] = p
    return probs


CHARSET = ("<blank>", "a", "b", "c", " ")


@pytest.mark.parametrize(
    "seq,text",
    [
        ([1, 1, 0, 1, 2, 2], "aab"),  # a repeat separated by a blank is two letters
        ([0, 0, 0], ""),
        ([3, 3, 3, 0, 0, 4, 1], "c a"),
        ([1, 2, 1, 2], "abab"),
        ([0, 2, 0, 2, 0], "bb"),
    ],
)
def test_ctc_collapses_repeats_and_drops_blanks(seq, text):
    [(decoded, score)] = ctc_greedy_decode(one_hot_probs(seq, len(CHARSET)), CHARSET)
    assert decoded == text
    assert score == (pytest.approx(0.9) if text else 0.0)


def test_ctc_score_is_mean_of_kept_characters():
    probs = one_hot_probs([1, 0, 2], len(CHARSET))
    probs[0, 0, 1], probs[0, 2, 2] = 0.6, 1.0
    [(text, score)] = ctc_greedy_decode(probs, CHARSET)
    assert text == "ab" and score == pytest.approx(0.8)


def test_ctc_batch_rows_independent():
    a = one_hot_probs([1, 1, 2], len(CHARSET))
    b = one_hot_probs([3, 0, 3], len(CHARSET))
    out = ctc_greedy_decode(np.concatenate([a, b]), CHARSET)
    assert [t for t, _ in out] == ["ab", "cc"]


# ---------------------------------------------------------------- crop geometry


def test_crop_of_rotated_box_is_upright_and_right_size():
    img = np.full((400, 400, 3), 255, np.uint8)
    rect = ((200, 200), (240, 40), 30.0)
    pts = order_points(cv2.boxPoints(rect))
    cv2.fillPoly(img, [pts.round().astype(np.int32)], (0, 0, 0))
    # Colour the box's left end red so we can check orientation after the warp.
    left = np.array([pts[0], pts[0] + (pts[1] - pts[0]) * 0.2, pts[3] + (pts[2] - pts[3]) * 0.2, pts[3]])
    cv2.fillPoly(img, [left.round().astype(np.int32)], (0, 0, 255))
    crop = crop_box(img, pts)
    assert crop.shape[:2] == pytest.approx((40, 240), abs=2)
    assert crop[20, 10].tolist() == pytest.approx([0, 0, 255], abs=40)  # red on the left
    assert crop[20, 200].tolist() == pytest.approx([0, 0, 0], abs=40)


def test_crop_of_tall_box_is_turned_horizontal():
    img = np.zeros((300, 100, 3), np.uint8)
    box = np.array([[30, 20], [60, 20], [60, 260], [30, 260]], dtype=np.float32)
    crop = crop_box(img, box)
    assert crop.shape[1] > crop.shape[0] * 4


# ---------------------------------------------------------------- recognizer batching


def test_width_batches_cover_every_crop_once_and_group_similar_widths(v5_models):
    rec = TextRecognizer(v5_models.rec_path, v5_models.charset, RecognizerSettings(batch_size=4), intra_op_threads=1)
    rng = np.random.default_rng(0)
    crops = [np.zeros((32, int(w), 3), np.uint8) for w in rng.integers(10, 900, size=23)]
    batches = rec.batches(crops)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(23))
    widths = [[resized_width(32, crops[i].shape[1], 48, 3200) for i in b] for b in batches]
    assert all(len(b) <= 4 for b in batches)
    # Batches are made widest-first, so a batch's widest member is no wider than the previous batch's narrowest.
    for prev, cur in zip(widths, widths[1:]):
        assert max(cur) <= min(prev)


def test_recognizer_empty_input(v5_models):
    rec = TextRecognizer(v5_models.rec_path, v5_models.charset, intra_op_threads=1)
    assert rec.recognize([]) == []
