"""Keyframes by inter-frame difference, tuned to never miss a change of burned-in text.

Each sampled frame becomes a small grey thumbnail and its gradient (edge) map; text strokes are
the strongest, densest edges in a frame. Only *static* edges count: a pixel whose grey value
moved more than ``motion_threshold`` since the previous sample is masked out. This one rule
does most of the work:

* a camera pan, a moving object or a scrolling marquee is masked out, so it never looks like
  new text, while a subtitle burned over the pan stays static and visible. When the picture
  as a whole moved (phase correlation of blurred thumbnails finds a clear shift), what the
  shifted previous frame explains is background too: an edge lying along the pan direction
  does not change pixel values, but it is not overlay;
* a scene cut or a fade makes everything "move" for a moment; once the new picture holds still
  its edges appear in the static map, and one frame is kept.

A frame is kept when, against the last *kept* frame, enough cells have gained static edges
("new content", weighted up in the subtitle band) and those cells have *settled* (unchanged
since the previous sample). Content that only disappears is not kept (nothing new to read) but
is forgotten, so the same place can show new text later. Safety nets: the first frame, a frame
at least every ``max_gap_s``, a frame when subtitle-band content has been new but unsettled for
``max_pending_s``, and the last frame when a change is still pending at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ray_ocr.config import VideoSettings
from ray_ocr.video.decode import VideoError, VideoReader
from ray_ocr.video.fingerprint import file_md5


@dataclass
class Keyframe:
    index: int  # frame number in the stream
    ts: float  # seconds
    image: np.ndarray  # HxWx3 uint8 BGR, full resolution
    reason: str = "change"  # first | change | pending | max_gap | last


@dataclass
class KeyframeResult:
    path: str
    md5: str
    fps: float
    duration_s: float
    frames_decoded: int
    keyframes: list[Keyframe] = field(default_factory=list)
    error: str | None = None  # a decode.REASONS code; keyframes before the error are still here
    error_detail: str | None = None

    def to_json_dict(self) -> dict:
        """The `ray-ocr keyframes` line (DESIGN.md contract), plus the error when there is one."""
        d = {
            "path": self.path,
            "md5": self.md5,
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration_s, 3),
            "frames_decoded": self.frames_decoded,
            "keyframes": [{"index": k.index, "ts": round(k.ts, 3)} for k in self.keyframes],
        }
        if self.error:
            d["error"] = {"code": self.error, "message": self.error_detail or self.error}
        return d


@dataclass
class _Sample:
    static_edges: np.ndarray  # uint8 thumbnail: edge magnitude where the picture held still
    grey: np.ndarray  # uint8 thumbnail


class KeyframeSelector:
    """Pure decision logic: feed sampled frames in time order, get back whether to keep each."""

    def __init__(self, settings: VideoSettings, width: int, height: int) -> None:
        s = self.s = settings
        self.tw = min(s.thumb_width, width)
        self.th = max(1, round(height * self.tw / width))
        self.gx = max(1, round(self.tw / s.cell_px))
        self.gy = max(1, round(self.th / s.cell_px))
        # Pixel -> cell lookup, to spread per-cell decisions back onto thumbnail pixels.
        self._col = (np.arange(self.tw) * self.gx // self.tw).astype(np.intp)
        self._row = (np.arange(self.th) * self.gy // self.th).astype(np.intp)
        band_rows = max(1, round(self.gy * s.text_band))
        self.weight = np.ones((self.gy, self.gx), np.float32)
        self.weight[self.gy - band_rows :] = s.text_band_weight
        self.band = np.zeros((self.gy, self.gx), bool)
        self.band[self.gy - band_rows :] = True
        self._window: np.ndarray | None = None
        self._kernel = np.ones((3, 3), np.uint8)
        self._prev: _Sample | None = None
        self._ref: np.ndarray | None = None  # static edges of the last kept frame (minus forgotten removals)
        self._last_kept_ts = -1e18
        self._pending_since: float | None = None
        self.pending = False  # new content seen but not yet kept (for the end-of-video rule)

    def _features(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        small = cv2.resize(image, (self.tw, self.th), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        gx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)
        edges = cv2.addWeighted(cv2.convertScaleAbs(gx), 0.5, cv2.convertScaleAbs(gy), 0.5, 0)
        # Text strokes are high-contrast; soft texture (foliage, noise, gradients) is not. Dropping
        # weak edges keeps slow pans over soft texture from looking like new content.
        cv2.subtract(edges, self.s.edge_floor, dst=edges)
        return grey, edges

    def _global_shift(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
        """Translation of ``b`` against ``a`` (thumbnail px) when the camera clearly moved, else None."""
        if self._window is None:
            self._window = cv2.createHanningWindow((self.tw, self.th), cv2.CV_32F)
        # Low-pass first: fine static detail (noise, small text, logos) would otherwise pin the
        # correlation peak at zero; the background's coarse structure is what moves in a pan.
        fa = cv2.GaussianBlur(a, (0, 0), 2.0).astype(np.float32)
        fb = cv2.GaussianBlur(b, (0, 0), 2.0).astype(np.float32)
        (dx, dy), response = cv2.phaseCorrelate(fa, fb, self._window)
        if response < self.s.pan_response or dx * dx + dy * dy < 1.0:
            return None
        return float(dx), float(dy)

    def _cells(self, pix: np.ndarray) -> np.ndarray:
        return cv2.resize(pix, (self.gx, self.gy), interpolation=cv2.INTER_AREA).astype(np.float32)

    def update(self, image: np.ndarray, ts: float) -> str | None:
        """Feed one sampled BGR frame; returns the keep reason, or None to drop it."""
        s = self.s
        grey, edges = self._features(image)
        prev = self._prev
        if prev is None:
            static = edges
        else:
            # Differences are averaged over 3x3 patches: a single pixel is too noisy a witness,
            # and a moving line's blurred flanks then count as moving with it.
            d_still = cv2.blur(cv2.absdiff(grey, prev.grey), (3, 3))
            drop = d_still > s.motion_threshold
            shift = self._global_shift(prev.grey, grey)
            if shift is not None:
                # Camera motion: a patch that the moved previous frame explains about as well is
                # background (e.g. a horizontal edge under a horizontal pan looks static, but is
                # not); only what stayed put *and* clearly differs from the moved picture is
                # overlay. Whole pixels: a sub-pixel shift would blur the moved picture.
                m = np.float32([[1, 0, round(shift[0])], [0, 1, round(shift[1])]])
                moved = cv2.warpAffine(prev.grey, m, (self.tw, self.th), borderMode=cv2.BORDER_REPLICATE)
                d_moved = cv2.blur(cv2.absdiff(grey, moved), (3, 3))
                drop |= d_moved.astype(np.int16) <= d_still.astype(np.int16) + s.motion_threshold // 2
            static = edges.copy()
            static[drop] = 0
        self._prev = _Sample(static, grey)

        if self._ref is None:
            return self._keep(static, ts, "first")

        added = self._cells(cv2.subtract(static, self._ref))  # new static edges, per cell
        unsettled = self._cells(cv2.absdiff(static, prev.static_edges)) if prev is not None else None
        # Settled: changed little since the previous sample, absolutely or relative to how much
        # it changed since the keyframe (text over a busy moving background flickers a little
        # in the static map, but far less than it differs from what was there before).
        settled = unsettled < np.maximum(s.settle_threshold, s.settle_ratio * added)
        new = added > s.diff_threshold
        # Graded so one strongly changed cell (small text) can count as much as two weak ones.
        strength = np.minimum(added / s.diff_threshold, 3.0)
        score = float((self.weight * strength * (new & settled)).sum())
        pending_score = float((self.weight * strength * new).sum())
        self.pending = pending_score >= s.trigger
        # Several cells' worth of new subtitle-band content, not one cell of background residue.
        band_pending = float((strength * (new & self.band)).sum()) >= s.pending_cells

        if band_pending:
            self._pending_since = ts if self._pending_since is None else self._pending_since
        else:
            self._pending_since = None

        since = ts - self._last_kept_ts
        if since >= s.max_gap_s:
            return self._keep(static, ts, "max_gap")
        if since < s.min_gap_s:
            return None
        if score >= s.trigger:
            return self._keep(static, ts, "change")
        if self._pending_since is not None and ts - self._pending_since >= s.max_pending_s:
            return self._keep(static, ts, "pending")

        # Forget edges that went away in settled cells (text that disappeared), so the reference
        # tracks what is on screen now; small noise never crosses the margin.
        gone = cv2.subtract(self._ref, static) > 2 * s.motion_threshold + 8
        gone &= settled[self._row][:, self._col]
        if gone.any():
            self._ref[gone] = static[gone]
        return None

    def _keep(self, static: np.ndarray, ts: float, reason: str) -> str:
        self._ref = static.copy()
        self._last_kept_ts = ts
        self._pending_since = None
        self.pending = False
        return reason


class KeyframeStream:
    """Keyframes of one video as they are found, for a streaming consumer (the Ray extractor).

    Opening validates the file (raises :class:`VideoError`); iterating yields :class:`Keyframe`;
    afterwards ``error`` / ``error_detail`` say whether the video was cut short, and
    ``frames_decoded`` / ``duration_s`` are final.
    """

    def __init__(self, path: str | os.PathLike[str], settings: VideoSettings | None = None, md5: str | None = None) -> None:
        self.path = str(path)
        self.settings = settings or VideoSettings()
        self.reader = VideoReader(path, self.settings)  # validates first: no hashing of a non-video
        try:
            self.md5 = md5 or file_md5(path)
        except OSError as exc:
            self.reader.close()
            raise VideoError("unreadable", path, str(exc)) from exc
        self.fps = self.reader.fps
        self.error: str | None = None
        self.error_detail: str | None = None
        self.samples = 0

    @property
    def frames_decoded(self) -> int:
        return self.reader.frames_decoded

    @property
    def duration_s(self) -> float:
        return self.reader.duration_s

    def __iter__(self) -> Iterator[Keyframe]:
        r = self.reader
        sel = KeyframeSelector(self.settings, r.info.width, r.info.height)
        last = None
        last_kept_index = -1
        try:
            for fr in r.frames():
                self.samples += 1
                reason = sel.update(fr.image, fr.ts)
                if reason:
                    last_kept_index = fr.index
                    yield Keyframe(fr.index, fr.ts, fr.image, reason)
                last = fr
            # A change in the last moments may not have had time to settle: keep the final frame.
            if last is not None and sel.pending and last.index != last_kept_index:
                yield Keyframe(last.index, last.ts, last.image, "last")
        finally:
            r.close()
        if r.error is not None:
            self.error, self.error_detail = r.error.reason, str(r.error)


def iter_keyframes(path: str | os.PathLike[str], settings: VideoSettings | None = None, md5: str | None = None) -> KeyframeStream:
    """Streaming variant of :func:`select_keyframes` (raises VideoError if the file cannot be opened)."""
    return KeyframeStream(path, settings, md5)


def select_keyframes(path: str | os.PathLike[str], settings: VideoSettings | None = None) -> KeyframeResult:
    """All keyframes of a video. Never raises for a bad video: ``error`` carries the reason code."""
    try:
        stream = KeyframeStream(path, settings)
    except VideoError as exc:
        md5 = ""
        if exc.reason not in ("not_found", "not_a_file", "permission_denied"):
            try:
                md5 = file_md5(path)
            except OSError:
                pass
        return KeyframeResult(str(path), md5, 0.0, 0.0, 0, [], exc.reason, str(exc))
    kfs = list(stream)
    return KeyframeResult(stream.path, stream.md5, stream.fps, stream.duration_s, stream.frames_decoded, kfs,
                          stream.error, stream.error_detail)
