"""Ray metrics (Prometheus via the Ray dashboard agent) for the pipeline's moving parts."""

from __future__ import annotations

from ray.util import metrics


class PipelineMetrics:
    def __init__(self) -> None:
        self.queue_depth = metrics.Gauge("ray_ocr_queue_depth", "videos waiting in the task buffer")
        self.active_videos = metrics.Gauge("ray_ocr_active_videos", "videos being extracted or OCRed")
        self.pool_size = metrics.Gauge("ray_ocr_pool_size", "OCR workers by state", tag_keys=("state",))
        self.pool_target = metrics.Gauge("ray_ocr_pool_target", "autoscaler target by stage", tag_keys=("stage",))
        self.frames = metrics.Counter("ray_ocr_frames_total", "frames through each OCR stage", tag_keys=("stage",))
        self.frames_per_s = metrics.Gauge("ray_ocr_frames_per_s", "recent detected keyframes per second")
        self.verdicts = metrics.Counter("ray_ocr_verdicts_total", "finished videos by verdict", tag_keys=("verdict",))
        self.retries = metrics.Counter("ray_ocr_task_retries_total", "tasks re-run after a worker died")
