"""Keyframes as a stream, for the FrameExtractor.

Uses ray_ocr.video's streaming keyframe selector when that module provides one; until then
(and as a fallback) a small inter-frame-difference selector with the same VideoSettings knobs
runs here, so the pipeline does not wait on a whole-video decode before OCR starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ray_ocr.config import VideoSettings


class VideoReadError(ValueError):
    """The file is not a decodable video (or exceeds the configured limits)."""


@dataclass
class Keyframe:
    index: int  # decoded frame number
    ts: float
    frame: np.ndarray  # BGR uint8


def stream_keyframes(path: str, settings: VideoSettings, info: dict[str, Any] | None = None) -> Iterator[Keyframe]:
    """Keyframes of the video at `path` in time order; `info` gets fps/duration/frames_decoded."""
    info = {} if info is None else info
    yield from _fallback(path, settings, info)


def _grey_thumb(frame: np.ndarray, width: int, band_weight: float) -> np.ndarray:
    h, w = frame.shape[:2]
    th = max(1, round(h * width / w))
    g = cv2.cvtColor(cv2.resize(frame, (width, th), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Subtitles live in the bottom band: weight it so a subtitle change counts like a scene change.
    band = int(th * 0.75)
    g[band:] *= band_weight
    return g


def _fallback(path: str, s: VideoSettings, info: dict[str, Any]) -> Iterator[Keyframe]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoReadError(f"cannot open video: {path}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not (0 < fps < 1000):
            fps = 25.0
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w > s.max_width or h > s.max_height:
            raise VideoReadError(f"video {w}x{h} exceeds the {s.max_width}x{s.max_height} limit: {path}")
        step = max(1, round(fps / s.sample_fps))
        prev: np.ndarray | None = None
        last_ts = -1e9
        i = 0
        decoded = 0
        emitted = 0
        while True:
            if i / fps > s.max_duration_s or i >= s.max_frames:
                break
            if not cap.grab():
                break
            if i % step == 0:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    break
                decoded += 1
                ts = i / fps
                thumb = _grey_thumb(frame, s.thumb_width, s.text_band_weight)
                diff = float("inf") if prev is None else float(np.mean(np.abs(thumb - prev))) / s.text_band_weight * 2
                if (diff >= s.diff_threshold and ts - last_ts >= s.min_gap_s) or ts - last_ts >= s.max_gap_s:
                    prev, last_ts = thumb, ts
                    emitted += 1
                    yield Keyframe(i, ts, frame)
            i += 1
        if i == 0:
            raise VideoReadError(f"no decodable frames in {path}")
        info.update({"fps": fps, "duration_s": i / fps, "frames_decoded": decoded, "frames_total": i})
    finally:
        cap.release()
