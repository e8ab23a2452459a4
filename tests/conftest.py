"""Shared fixtures. Sections are owned by stages; keep additions in your own section."""

from __future__ import annotations

import pytest

# ---------------------------------------------------------------- OCR


@pytest.fixture(scope="session")
def v5_models():
    from ray_ocr.ocr.models import resolve_model_set

    return resolve_model_set("ppocr-v5-mobile", models_dir=None)


@pytest.fixture(scope="session")
def ocr_engine():
    from ray_ocr.config import OcrSettings
    from ray_ocr.ocr.engine import OcrEngine

    return OcrEngine.from_settings(OcrSettings(model_set="ppocr-v5-mobile"), intra_op_threads=1)


# ---------------------------------------------------------------- video (generated test videos)

# Short 720p videos at a low frame rate: realistic frames, a few seconds to make them all.
VIDEO_FPS = 10.0


def _make(dir_, name, seed, **spec):
    from ray_ocr.training.synth_video import VideoSpec, make_video

    path = dir_ / f"{name}.mp4"
    gt = make_video(path, VideoSpec(fps=VIDEO_FPS, **spec), seed=seed)
    return path, gt


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def mixed_videos(video_dir):
    """(path, ground truth) x3: pans, cuts, fades, captions, one with a marquee, two with banned phrases."""
    return [
        _make(video_dir, "mixed0", 11, duration_s=18, banned=["加微信"], scene_s=(3.5, 7.0)),
        _make(video_dir, "mixed1", 12, duration_s=18, marquee=True),
        _make(video_dir, "mixed2", 13, duration_s=18, banned=["代开发票"], pan_prob=0.8),
    ]


@pytest.fixture(scope="session")
def static_subtitle_video(video_dir):
    """One still scene, no captions, subtitles back to back: the keyframes should be one per line."""
    return _make(video_dir, "static_subs", 21, duration_s=16, scene_s=(100, 100), pan_prob=0.0,
                 captions_per_scene=(0, 0), subtitle_gap_s=(0.0, 0.0))


@pytest.fixture(scope="session")
def textless_video(video_dir):
    """Scene cuts, fades and pans with nothing but a watermark: only the picture changes."""
    return _make(video_dir, "textless", 31, duration_s=20, scene_s=(4, 6), pan_prob=0.6, fade_prob=0.6,
                 subtitles=False, captions_per_scene=(0, 0))
