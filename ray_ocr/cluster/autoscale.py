"""Pool sizing from backlog and measured cost, free of Ray.

The scheduler reports every finished task (`observe_*`) and asks for a target now and then.
Costs are exponentially weighted moving averages, so the estimate follows the data: frames
with many text lines raise the recognition cost per frame, empty frames lower it, and the
detector:recognizer split (`PoolTarget.det` / `.rec`) moves with them instead of being fixed.

Target = the workers needed to drain the known work within `target_drain_s`, clamped to the
configured bounds. Growing is immediate (fresh work first); shrinking waits until the smaller
target has held for `scale_down_delay_s` and then goes one worker at a time, so a short gap
between videos does not tear down warm ONNX sessions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Ewma:
    alpha: float = 0.2
    value: float | None = None

    def update(self, x: float) -> float:
        if not math.isfinite(x) or x < 0:
            return self.get(0.0)  # a clock hiccup must not poison the estimate
        self.value = x if self.value is None else self.alpha * x + (1 - self.alpha) * self.value
        return self.value

    def get(self, default: float) -> float:
        return default if self.value is None else self.value


@dataclass(frozen=True)
class AutoscaleConfig:
    workers_min: int = 1
    workers_max: int = 8
    det_min: int = 0
    det_max: int = 8
    rec_min: int = 0
    rec_max: int = 8
    target_drain_s: float = 10.0
    scale_down_delay_s: float = 30.0
    alpha: float = 0.2
    # Priors until something has been measured (PP-OCRv5 mobile, one thread, 720p).
    prior_det_s_per_frame: float = 0.25
    prior_rec_s_per_crop: float = 0.02
    prior_crops_per_frame: float = 2.0
    prior_frames_per_video: float = 30.0

    def __post_init__(self) -> None:
        if self.workers_min < 0 or self.workers_max < max(1, self.workers_min):
            raise ValueError(f"need 0 <= workers_min <= workers_max >= 1, got {self.workers_min}..{self.workers_max}")
        if self.det_max < self.det_min or self.rec_max < self.rec_min:
            raise ValueError("stage max below stage min")
        if self.target_drain_s <= 0 or not 0 < self.alpha <= 1:
            raise ValueError("target_drain_s must be > 0 and alpha in (0, 1]")


@dataclass(frozen=True)
class Backlog:
    frames_to_detect: int = 0  # extracted keyframes not detected yet
    crops_to_recognize: int = 0  # detected crops not recognised yet
    videos_waiting: int = 0  # queued or still extracting, keyframe count unknown


@dataclass(frozen=True)
class PoolTarget:
    total: int
    det: int  # workers the detection backlog needs (within det_min..det_max)
    rec: int
    det_work_s: float
    rec_work_s: float


@dataclass
class Autoscaler:
    config: AutoscaleConfig = field(default_factory=AutoscaleConfig)

    def __post_init__(self) -> None:
        a = self.config.alpha
        self.det_s_per_frame = Ewma(a)
        self.rec_s_per_crop = Ewma(a)
        self.crops_per_frame = Ewma(a)
        self.frames_per_video = Ewma(a)
        self._below_since: float | None = None

    # --- measurements -------------------------------------------------------------------
    def observe_detect(self, frames: int, seconds: float, crops: int) -> None:
        if frames <= 0:
            return
        self.det_s_per_frame.update(seconds / frames)
        self.crops_per_frame.update(crops / frames)

    def observe_recognize(self, crops: int, seconds: float) -> None:
        if crops > 0:
            self.rec_s_per_crop.update(seconds / crops)

    def observe_video(self, keyframes: int) -> None:
        self.frames_per_video.update(float(keyframes))

    # --- decisions ----------------------------------------------------------------------
    def work(self, backlog: Backlog) -> tuple[float, float]:
        """Estimated seconds of detection and recognition work in the backlog."""
        c = self.config
        det_f = self.det_s_per_frame.get(c.prior_det_s_per_frame)
        rec_c = self.rec_s_per_crop.get(c.prior_rec_s_per_crop)
        cpf = self.crops_per_frame.get(c.prior_crops_per_frame)
        fpv = self.frames_per_video.get(c.prior_frames_per_video)
        frames = backlog.frames_to_detect + backlog.videos_waiting * fpv
        det_work = frames * det_f
        # Undetected frames will produce crops too; count them so recognition capacity is
        # there by the time their detections finish.
        rec_work = (backlog.crops_to_recognize + frames * cpf) * rec_c
        return det_work, rec_work

    def desired(self, backlog: Backlog) -> PoolTarget:
        c = self.config
        det_work, rec_work = self.work(backlog)
        det = _clamp(math.ceil(det_work / c.target_drain_s), c.det_min, c.det_max)
        rec = _clamp(math.ceil(rec_work / c.target_drain_s), c.rec_min, c.rec_max)
        total = _clamp(det + rec, c.workers_min, c.workers_max)
        return PoolTarget(total=total, det=det, rec=rec, det_work_s=det_work, rec_work_s=rec_work)

    def target(self, backlog: Backlog, current: int, now: float) -> PoolTarget:
        """The size the pool should have now, given its current size (with hysteresis)."""
        want = self.desired(backlog)
        c = self.config
        if want.total >= current:
            self._below_since = None
            return want
        if current > c.workers_max:  # bounds changed: obey at once
            self._below_since = None
            return _with_total(want, c.workers_max)
        if self._below_since is None:
            self._below_since = now
        if now - self._below_since >= c.scale_down_delay_s:
            self._below_since = now  # one step per delay
            return _with_total(want, current - 1)
        return _with_total(want, current)


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def _with_total(t: PoolTarget, total: int) -> PoolTarget:
    return PoolTarget(total=total, det=t.det, rec=t.rec, det_work_s=t.det_work_s, rec_work_s=t.rec_work_s)
