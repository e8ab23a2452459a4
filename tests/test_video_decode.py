"""Decoding, MD5 fingerprints and the typed errors for every kind of bad file."""

from __future__ import annotations

import hashlib
import os
import shutil

import cv2
import numpy as np
import pytest

from ray_ocr.config import VideoSettings
from ray_ocr.video.decode import REASONS, VideoError, VideoReader, mp4_truncated
from ray_ocr.video.fingerprint import file_md5
from ray_ocr.video.keyframes import select_keyframes

S = VideoSettings()


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory):
    """100 numbered 320x240 frames at 25 fps."""
    p = tmp_path_factory.mktemp("dec") / "small.mp4"
    _write(p, "mp4v", 100)
    return p


def _write(path, fourcc, n, size=(320, 240), fps=25.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert w.isOpened()
    for i in range(n):
        f = np.zeros((size[1], size[0], 3), np.uint8)
        f[:, :, 1] = i * 2
        cv2.putText(f, str(i), (40, 150), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 4)
        w.write(f)
    w.release()


# ---------------------------------------------------------------- MD5


def test_md5_streams_and_matches_hashlib(small_mp4, tmp_path):
    data = small_mp4.read_bytes()
    assert file_md5(small_mp4) == hashlib.md5(data).hexdigest()
    assert file_md5(small_mp4, chunk_bytes=1000) == hashlib.md5(data).hexdigest()  # many chunks
    copy = tmp_path / "copy.mp4"
    shutil.copy(small_mp4, copy)
    assert file_md5(copy) == file_md5(small_mp4)
    b = bytearray(data)
    b[len(b) // 2] ^= 1
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(bytes(b))
    assert file_md5(changed) != file_md5(small_mp4)


def test_md5_of_copy_via_keyframes(small_mp4, tmp_path):
    copy = tmp_path / "again.mp4"
    shutil.copy(small_mp4, copy)
    assert select_keyframes(copy, S).md5 == select_keyframes(small_mp4, S).md5


def test_md5_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        file_md5(tmp_path / "nope.mp4")


# ---------------------------------------------------------------- decoding


def test_sampling_and_timestamps(small_mp4):
    with VideoReader(small_mp4, S) as r:
        assert (r.info.width, r.info.height, r.info.frame_count) == (320, 240, 100)
        assert r.fps == pytest.approx(25.0)
        frames = list(r.frames(sample_fps=4.0))
        assert r.error is None
        assert r.frames_decoded == 100  # every frame grabbed...
    assert 15 <= len(frames) <= 17  # ...but only ~4 per second retrieved (4 s of video)
    ts = [f.ts for f in frames]
    assert ts == sorted(ts) and ts[0] == 0.0
    gaps = np.diff(ts)
    assert gaps.min() >= 0.2 and gaps.max() <= 0.3
    assert all(f.ts == pytest.approx(f.index / 25.0) for f in frames)


def test_every_frame_matches_read(small_mp4):
    with VideoReader(small_mp4, S) as r:
        every = list(r.frames(sample_fps=None))
    assert [f.index for f in every] == list(range(100))
    cap = cv2.VideoCapture(str(small_mp4))
    for f in every[:10]:
        ok, img = cap.read()
        assert ok and np.array_equal(img, f.image)
    # The sampled frames are the same pixels as reading every frame.
    with VideoReader(small_mp4, S) as r:
        for f in r.frames(sample_fps=2.0):
            assert np.array_equal(f.image, every[f.index].image)


def test_default_sample_rate_from_settings(small_mp4):
    with VideoReader(small_mp4, S.model_copy(update={"sample_fps": 1.0})) as r:
        assert [f.index for f in r.frames()] == [0, 25, 50, 75]
    with VideoReader(small_mp4, S.model_copy(update={"sample_fps": 100.0})) as r:
        assert len(list(r.frames())) == 100  # never more than the video has


# ---------------------------------------------------------------- limits


def test_limits(small_mp4):
    for update, reason in [({"max_duration_s": 2.0}, "too_long"), ({"max_width": 100}, "too_large"),
                           ({"max_height": 100}, "too_large"), ({"max_frames": 50}, "too_many_frames")]:
        with pytest.raises(VideoError) as ei:
            VideoReader(small_mp4, S.model_copy(update=update))
        assert ei.value.reason == reason
        res = select_keyframes(small_mp4, S.model_copy(update=update))
        assert res.error == reason and res.keyframes == []


# ---------------------------------------------------------------- bad files


@pytest.fixture(scope="module")
def bad_files(small_mp4, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    data = small_mp4.read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (d / "notes.mp4").write_text("this is a text file renamed to .mp4\n" * 100)
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "header_only.mp4").write_bytes(data[:40])
    (d / "a_dir.mp4").mkdir()
    return d


@pytest.mark.parametrize(
    "name,reason",
    [
        ("missing.mp4", "not_found"),
        ("a_dir.mp4", "not_a_file"),
        ("zero.mp4", "empty"),
        ("random.mp4", "not_video"),
        ("notes.mp4", "not_video"),
        ("truncated.mp4", "truncated"),
        ("header_only.mp4", "truncated"),
    ],
)
def test_bad_file_reasons(bad_files, name, reason):
    p = bad_files / name
    with pytest.raises(VideoError) as ei:
        VideoReader(p, S)
    err = ei.value
    assert err.reason == reason and err.reason in REASONS
    assert str(p) in str(err) and err.to_dict()["reason"] == reason
    res = select_keyframes(p, S)  # the batch API reports instead of raising
    assert res.error == reason and res.keyframes == [] and res.frames_decoded == 0
    assert res.to_json_dict()["error"]["code"] == reason


def test_mp4_box_walk(small_mp4, bad_files):
    assert not mp4_truncated(small_mp4)
    assert mp4_truncated(bad_files / "truncated.mp4")


def test_truncated_stream_yields_frames_then_error(tmp_path):
    """A cut-off AVI (index at the end, frames first) decodes part-way: frames AND an error."""
    full = tmp_path / "full.avi"
    _write(full, "MJPG", 100)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.5)])
    with VideoReader(cut, S) as r:
        frames = list(r.frames(sample_fps=None))
        assert 20 < len(frames) < 80
        assert r.error is not None and r.error.reason == "truncated"
        assert "of 100" in str(r.error)
    res = select_keyframes(cut, S)
    assert res.error == "truncated" and len(res.keyframes) >= 1
    assert 20 < res.frames_decoded < 80
    with VideoReader(full, S) as r:
        assert len(list(r.frames(sample_fps=None))) == 100 and r.error is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(small_mp4, tmp_path):
    p = tmp_path / "locked.mp4"
    shutil.copy(small_mp4, p)
    p.chmod(0)
    with pytest.raises(VideoError) as ei:
        VideoReader(p, S)
    assert ei.value.reason == "permission_denied"
