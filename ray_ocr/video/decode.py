"""Video decoding with OpenCV: sampled frames with timestamps, hard limits, typed errors.

Every frame is ``grab()``-ed (demuxed and decoded: a compressed stream cannot skip that), but
only the frames kept at ``sample_fps`` are ``retrieve()``-d, so skipped frames never pay for
the YUV -> BGR conversion or the copy.

Errors: a file that cannot be read at all raises :class:`VideoError` when the reader opens. A
file that breaks part-way (truncated upload) yields the frames it has; the iterator then ends
and ``reader.error`` holds the :class:`VideoError`, so a caller keeps the frames *and* learns
the video is incomplete.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ray_ocr.config import VideoSettings

# Reason codes (stable strings: they end up in results, logs and the API).
NOT_FOUND = "not_found"
NOT_A_FILE = "not_a_file"
PERMISSION = "permission_denied"
EMPTY = "empty"
NOT_VIDEO = "not_video"
TRUNCATED = "truncated"
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"  # resolution above the limit
TOO_LONG = "too_long"  # duration above the limit
TOO_MANY_FRAMES = "too_many_frames"
REASONS = (NOT_FOUND, NOT_A_FILE, PERMISSION, EMPTY, NOT_VIDEO, TRUNCATED, UNREADABLE, TOO_LARGE, TOO_LONG, TOO_MANY_FRAMES)

_FALLBACK_FPS = 25.0

# OpenCV's own warnings would repeat what the typed error says.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class VideoError(Exception):
    """A video that cannot be (fully) decoded. ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, path: str | os.PathLike[str], detail: str = "") -> None:
        self.reason = reason
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{reason}: {self.path}" + (f" ({detail})" if detail else ""))

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "path": self.path, "message": str(self)}

    def __reduce__(self):  # several constructor arguments: pickle them, so it crosses Ray intact
        return (type(self), (self.reason, self.path, self.detail))


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frame_count: int  # what the container claims; 0 when it does not say
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.frame_count > 0 else 0.0


@dataclass
class Frame:
    index: int  # position in the stream (0-based, every frame counted)
    ts: float  # seconds from the start
    image: np.ndarray  # HxWx3 uint8 BGR


# ---------------------------------------------------------------------------- sniffing


def _sniff_container(head: bytes) -> str | None:
    """Name of the container the first bytes look like, or None (text, random bytes, images...)."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "asf"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpeg-ts"
    return None


def mp4_truncated(path: str | os.PathLike[str], size: int | None = None) -> bool:
    """True if the top-level MP4 boxes claim more bytes than the file has (a cut-off upload).

    Reads only box headers (16 bytes each), never the payload.
    """
    size = os.path.getsize(path) if size is None else size
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            hdr = f.read(16)
            if len(hdr) < 8:
                return True
            box = int.from_bytes(hdr[:4], "big")
            if box == 1:
                if len(hdr) < 16:
                    return True
                box = int.from_bytes(hdr[8:16], "big")
            elif box == 0:  # "extends to end of file"
                return False
            if box < 8:
                return False  # not a box structure we understand; let the decoder judge
            pos += box
        return pos > size


# ---------------------------------------------------------------------------- reader


def check_file(path: str | os.PathLike[str]) -> tuple[int, str | None]:
    """Raise VideoError for a path that cannot hold a video; return (size, container guess)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoError(NOT_FOUND, path, "no such file") from None
    except PermissionError:
        raise VideoError(PERMISSION, path) from None
    except OSError as exc:
        raise VideoError(NOT_FOUND, path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(NOT_A_FILE, path, "directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")
    if st.st_size == 0:
        raise VideoError(EMPTY, path, "0 bytes")
    try:
        with open(p, "rb") as f:
            head = f.read(512)
    except PermissionError:
        raise VideoError(PERMISSION, path) from None
    return st.st_size, _sniff_container(head)


class VideoReader:
    """Opens and validates a video; iterate :meth:`frames` for sampled frames.

    >>> with VideoReader(path, settings) as r:
    ...     for fr in r.frames():
    ...         ...
    ...     if r.error: ...   # truncated / over a limit: frames so far were still yielded
    """

    def __init__(self, path: str | os.PathLike[str], settings: VideoSettings | None = None) -> None:
        self.path = str(path)
        self.settings = settings or VideoSettings()
        self.frames_decoded = 0  # every grabbed frame, kept or not
        self.error: VideoError | None = None
        size, container = check_file(path)
        self._truncated_hint = container == "mp4" and mp4_truncated(path, size)
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            if container is None:
                raise VideoError(NOT_VIDEO, path, "not a recognised video container")
            if self._truncated_hint:
                raise VideoError(TRUNCATED, path, f"{container} file is cut off before its index")
            raise VideoError(UNREADABLE, path, f"{container} container, but no decodable video stream")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            fps = _FALLBACK_FPS  # some containers do not say; timestamps then come from the stream
            self._fps_known = False
        else:
            self._fps_known = True
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.info = VideoInfo(
            path=self.path,
            fps=float(fps),
            frame_count=int(count) if math.isfinite(count) and count > 0 else 0,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        s = self.settings
        if self.info.width <= 0 or self.info.height <= 0:
            self.close()
            raise VideoError(UNREADABLE, path, "no video stream")
        if self.info.width > s.max_width or self.info.height > s.max_height:
            self.close()
            raise VideoError(TOO_LARGE, path, f"{self.info.width}x{self.info.height} > {s.max_width}x{s.max_height}")
        if self.info.duration_s > s.max_duration_s:
            self.close()
            raise VideoError(TOO_LONG, path, f"{self.info.duration_s:.0f} s > {s.max_duration_s:.0f} s")
        if self.info.frame_count > s.max_frames:
            self.close()
            raise VideoError(TOO_MANY_FRAMES, path, f"{self.info.frame_count} > {s.max_frames}")

    @property
    def fps(self) -> float:
        return self.info.fps

    def _ts(self, index: int) -> float:
        if self._fps_known:
            return index / self.info.fps
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000.0 if math.isfinite(ms) and ms >= 0 else index / self.info.fps

    def frames(self, sample_fps: float | None = -1.0) -> Iterator[Frame]:
        """Frames at ``sample_fps`` (default: the settings' ``sample_fps``; ``None``: every frame).

        A frame is kept when its timestamp reaches the next sample time, so the kept rate never
        exceeds the video's own. Ends early, with ``self.error`` set, on a limit or a cut-off file.
        """
        if sample_fps is not None and sample_fps < 0:
            sample_fps = self.settings.sample_fps
        step = 0.0 if sample_fps is None or sample_fps >= self.info.fps else 1.0 / sample_fps
        s = self.settings
        cap = self._cap
        if cap is None:
            raise RuntimeError("reader is closed")
        next_t = 0.0
        eps = 0.25 / self.info.fps  # float slack so 4 fps out of 25 does not drift by a frame
        index = 0
        while True:
            if index >= s.max_frames:
                self.error = VideoError(TOO_MANY_FRAMES, self.path, f"stopped at {s.max_frames} frames")
                break
            if not cap.grab():
                break
            self.frames_decoded = index + 1
            ts = self._ts(index)
            if ts > s.max_duration_s:
                self.error = VideoError(TOO_LONG, self.path, f"stopped at {s.max_duration_s:.0f} s")
                break
            if step == 0.0 or ts + eps >= next_t:
                ok, img = cap.retrieve()
                if not ok or img is None:
                    self.error = VideoError(TRUNCATED, self.path, f"frame {index} could not be decoded")
                    break
                yield Frame(index, ts, img)
                if step:
                    # Catch up rather than burst if timestamps jump (variable frame rate).
                    next_t = max(next_t + step, ts + step - eps) if ts - next_t > step else next_t + step
            index += 1
        if self.error is None:
            self.error = self._end_check(index)

    def _end_check(self, decoded: int) -> VideoError | None:
        claimed = self.info.frame_count
        if decoded == 0:
            return VideoError(TRUNCATED if self._truncated_hint else UNREADABLE, self.path, "no frame could be decoded")
        # Container frame counts can be estimates (duration x fps); allow a little slack.
        if claimed and decoded < claimed - max(2, int(0.01 * claimed)):
            return VideoError(TRUNCATED, self.path, f"decoded {decoded} of {claimed} frames")
        if self._truncated_hint:
            return VideoError(TRUNCATED, self.path, "file is shorter than its boxes claim")
        return None

    @property
    def duration_s(self) -> float:
        """Duration by the container, or by what was decoded when the container does not say."""
        if self.info.frame_count:
            return self.info.duration_s
        return self.frames_decoded / self.info.fps

    def close(self) -> None:
        cap, self._cap = getattr(self, "_cap", None), None
        if cap is not None:
            cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
