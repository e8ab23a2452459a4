"""Near-duplicate keyframe removal with the real FAISS index and the perceptual embedder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ray_ocr.config import DedupeSettings
from ray_ocr.dedupe.deduper import Deduper
from ray_ocr.dedupe.embedders import PerceptualEmbedder, make_embedder, text_change, text_signature
from ray_ocr.dedupe.index import NearDuplicateIndex
from ray_ocr.training.synth import random_background, render_text


def scene(seed: int) -> np.ndarray:
    return random_background(np.random.default_rng(seed), 1280, 720)


def with_subtitle(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    render_text(out, text, (360, 640), 40, (255, 255, 255), stroke_width=2, stroke_color=(0, 0, 0))
    return out


def reencode(img: np.ndarray, quality: int = 60) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


@pytest.fixture()
def deduper():
    return Deduper(DedupeSettings(), PerceptualEmbedder())


def test_reencoded_copy_is_a_duplicate_within_a_video(deduper):
    a = with_subtitle(scene(1), "今天天气真好")
    out = deduper.filter_video("v1", [(0, a), (30, reencode(a))])
    assert [d.keep for d in out] == [True, False]
    assert out[1].duplicate_of == ("v1", 0) and out[1].scope == "video"


def test_same_scene_with_a_new_subtitle_is_kept(deduper):
    bg = scene(2)
    frames = [(i * 10, with_subtitle(bg, t)) for i, t in enumerate(["我们明天见", "加微信领福利", "谢谢大家观看"])]
    assert [d.keep for d in deduper.filter_video("v1", frames)] == [True, True, True]


def test_subtitle_appearing_over_a_static_shot_is_kept(deduper):
    bg = scene(3)
    out = deduper.filter_video("v1", [(0, bg), (10, with_subtitle(bg, "关注我们的频道"))])
    assert [d.keep for d in out] == [True, True]


def test_different_scenes_are_kept(deduper):
    out = deduper.filter_video("v1", [(i, with_subtitle(scene(10 + i), "同一句字幕")) for i in range(4)])
    assert all(d.keep for d in out)


def test_reupload_matches_earlier_video_globally(deduper):
    frames = [(i * 25, with_subtitle(scene(20 + i), f"第{i}句台词")) for i in range(3)]
    assert all(d.keep for d in deduper.filter_video("orig", frames))
    again = deduper.filter_video("reup", [(i, reencode(f, 50)) for i, f in frames])
    assert [d.duplicate_of for d in again] == [("orig", 0), ("orig", 25), ("orig", 50)]
    assert {d.scope for d in again} == {"global"}
    assert deduper.stats["global_duplicates"] == 3


def test_global_index_is_a_fifo_of_capacity():
    emb = PerceptualEmbedder()
    idx = NearDuplicateIndex(emb.dim, 0.95, 8.0, capacity=2)
    frames = [scene(30 + i) for i in range(3)]
    vecs = emb.embed(frames)
    for i, (f, v) in enumerate(zip(frames, vecs)):
        idx.add(("v", i), v, text_signature(f))
    assert len(idx) == 2
    assert idx.find(vecs[0], text_signature(frames[0])) is None  # evicted
    assert idx.find(vecs[2], text_signature(frames[2])).key == ("v", 2)


def test_global_dedupe_can_be_disabled():
    d = Deduper(DedupeSettings(global_capacity=0), PerceptualEmbedder())
    f = [(0, scene(40))]
    d.filter_video("a", f)
    assert d.filter_video("b", f)[0].keep


def test_embedder_choice_never_downloads(tmp_path):
    assert make_embedder(DedupeSettings()).name == "perceptual"
    with pytest.raises(RuntimeError, match="clip_checkpoint"):
        make_embedder(DedupeSettings(embedder="clip"))
    with pytest.raises((FileNotFoundError, RuntimeError)):
        make_embedder(DedupeSettings(embedder="clip", clip_checkpoint=tmp_path / "missing.pt"))
    # "auto" with a bad checkpoint falls back rather than failing the pipeline.
    assert make_embedder(DedupeSettings(clip_checkpoint=tmp_path / "missing.pt")).name == "perceptual"


TEXTS = ["我们明天见", "加微信领福利", "谢谢大家观看", "今天天气真好", "明天天气不好", "今天天气真好啊"]


def test_text_change_separates_new_text_from_reencodes_with_a_margin():
    worst_copy, least_new = 0.0, 1e9
    for s in range(6):
        bg = scene(100 + s)
        a, b = with_subtitle(bg, TEXTS[s]), with_subtitle(bg, TEXTS[(s + 1) % 6])
        h, w = a.shape[:2]
        copies = [
            reencode(a, 40),
            cv2.resize(cv2.resize(a, (854, 480), interpolation=cv2.INTER_AREA), (w, h)),
            cv2.convertScaleAbs(a, alpha=1.0, beta=6),
        ]
        worst_copy = max(worst_copy, *(text_change(text_signature(a), text_signature(c)) for c in copies))
        least_new = min(least_new, text_change(text_signature(a), text_signature(b)))
    assert worst_copy < 8.0 < least_new
    assert least_new > 2 * worst_copy
