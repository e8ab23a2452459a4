"""Every threshold, size and path in one place.

`Settings()` reads `RAY_OCR_*` environment variables; nested fields use a double underscore,
e.g. ``RAY_OCR_DET__LIMIT_SIDE_LEN=736`` or ``RAY_OCR_VIDEO__SAMPLE_FPS=2``. Modules take
the section they need as an argument, so unit tests build their own without touching env.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_models_dir() -> Path:
    # A source checkout keeps user models beside the package; an installed package falls back to
    # the working directory. Either can be overridden with RAY_OCR_MODELS_DIR.
    here = REPO_ROOT / "models"
    return here if here.is_dir() else Path.cwd() / "models"


class DetectorSettings(BaseModel):
    # Long side of the frame fed to DB, rounded to a multiple of 32. 960 is PaddleOCR's
    # default for PP-OCRv5 mobile; 720p frames are downscaled to 960x544.
    limit_side_len: int = Field(960, ge=64, le=4096)
    thresh: float = Field(0.3, gt=0, lt=1, description="probability-map binarisation threshold")
    # 0.5 / 1.6 rather than PaddleOCR's 0.6 / 1.5: on 60 synthetic 720p frames small watermark
    # and caption lines were missed or clipped at 0.6 / 1.5 (char accuracy 0.959 -> 0.966).
    box_thresh: float = Field(0.5, gt=0, lt=1, description="minimum mean probability in a box")
    unclip_ratio: float = Field(1.6, gt=0, description="r in D = A*r/L")
    max_candidates: int = Field(1000, ge=1)
    min_size: int = Field(3, ge=1, description="shorter side of a box below this is dropped")
    batch_size: int = Field(4, ge=1, description="frames of equal shape per session call")


class RecognizerSettings(BaseModel):
    image_height: int = Field(48, ge=16)
    max_width: int = Field(3200, ge=64, description="crops wider than this are squeezed")
    batch_size: int = Field(24, ge=1)
    drop_score: float = Field(0.5, ge=0, le=1, description="lines scored below this are dropped")
    use_direction_classifier: bool = False


class OcrSettings(BaseModel):
    model_set: str = "ppocr-v5-mobile"
    models_dir: Path = Field(default_factory=_default_models_dir)
    # 0 = let onnxruntime pick (all cores). Ray actors set this to the CPUs they reserve.
    intra_op_threads: int = Field(0, ge=0)
    det: DetectorSettings = DetectorSettings()
    rec: RecognizerSettings = RecognizerSettings()


class VideoSettings(BaseModel):
    sample_fps: float = Field(4.0, gt=0, description="frames per second looked at by keyframing")
    max_duration_s: float = Field(4 * 3600, gt=0)
    max_frames: int = Field(200_000, ge=1)
    max_width: int = Field(7680, ge=16)
    max_height: int = Field(4320, ge=16)
    # 320 px keeps a 30 px subtitle about 8 px tall on the thumbnail: enough for its strokes to
    # show in the edge map (at 160 they blur into a grey bar).
    thumb_width: int = Field(320, ge=16)
    diff_threshold: float = Field(10.0, gt=0, description="mean new static-edge energy in a cell that counts as new content")
    text_band_weight: float = Field(4.0, ge=1, description="weight of the subtitle band in the difference")
    max_gap_s: float = Field(10.0, gt=0, description="force a keyframe at least this often")
    min_gap_s: float = Field(0.5, ge=0, description="never two keyframes closer than this")
    text_band: float = Field(0.25, gt=0, le=1, description="bottom fraction of the frame that is the subtitle band")
    cell_px: int = Field(20, ge=4, description="side of a comparison cell on the thumbnail")
    edge_floor: int = Field(40, ge=0, le=254, description="edge magnitude below this is texture, not text")
    motion_threshold: int = Field(10, ge=1, le=255, description="grey change between samples that marks a pixel as moving")
    settle_ratio: float = Field(0.6, ge=0, le=1, description="...or below this fraction of its change since the keyframe")
    pan_response: float = Field(0.1, ge=0, le=1, description="phase-correlation peak that counts as camera motion")
    settle_threshold: float = Field(4.0, gt=0, description="cell change vs the previous sample below which it has settled")
    trigger: float = Field(2.0, gt=0, description="weighted score of settled new-content cells that keeps a frame")
    pending_cells: float = Field(4.0, gt=0, description="new subtitle-band content (cells x strength) that may force a keep")
    max_pending_s: float = Field(1.0, gt=0, description="keep anyway when new subtitle-band content never settles for this long")


class DedupeSettings(BaseModel):
    enabled: bool = True
    # "auto": CLIP when a local checkpoint is configured and the `clip` extra is installed,
    # else the perceptual embedder (said once in the log). Never downloads weights.
    embedder: str = Field("auto", pattern="^(auto|clip|perceptual)$")
    clip_model: str = "ViT-B-32"
    clip_checkpoint: Path | None = None
    scene_threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity of whole-frame embeddings")
    # A near-identical scene with a new subtitle is NOT a duplicate: the text-region signature
    # must match too (no local change above text_max_change), or a changed subtitle would be
    # dropped unread.
    text_max_change: float = Field(8.0, gt=0, description="largest 6x6-block grey change of a 240x135 thumbnail")
    # ~32 KB of text signature per frame remembered: 10,000 frames is ~330 MB in the dedupe actor.
    global_capacity: int = Field(10_000, ge=0, description="frames remembered across videos (0 = per video only)")


class ModerationSettings(BaseModel):
    keywords_path: Path | None = None
    stop_on_hit: bool = True
    evidence_max_side: int = Field(960, ge=128)
    evidence_jpeg_quality: int = Field(80, ge=10, le=100)


class StoreSettings(BaseModel):
    data_dir: Path = Path("ray-ocr-data")


class ClusterSettings(BaseModel):
    buffer_cap: int = Field(10_000, ge=1)
    extractors: int = Field(1, ge=1)
    det_min: int = Field(1, ge=0)
    det_max: int = Field(8, ge=1)
    rec_min: int = Field(1, ge=0)
    rec_max: int = Field(8, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    max_task_retries: int = Field(2, ge=0)
    # OcrWorkers take either stage (the scheduler assigns det or rec per task); the pool of them
    # is sized between these bounds. workers_max=0 means "the cluster's CPUs / cpus_per_worker",
    # read when the scheduler starts. det_*/rec_* bound each stage's share of the estimate.
    workers_min: int = Field(1, ge=0)
    workers_max: int = Field(0, ge=0)
    # Decoding runs in bursts between OCR tasks; reserving whole CPUs for it would leave them idle
    # most of the time, so extractors ask for a fraction and the OS shares the cores.
    extractor_cpus: float = Field(0.0, ge=0)
    lookahead_videos: int = Field(2, ge=1, description="videos fingerprinted/extracted ahead of the current one")
    # Decoding stays at most this many keyframes ahead of a video's detection, so a keyword hit
    # also saves decoding the rest of the video, not only its OCR.
    extract_window: int = Field(8, ge=1, description="keyframes a video may be decoded ahead of its detection")
    # A line whose box and pixels are unchanged since an earlier keyframe of the same video keeps
    # its text instead of being recognised again (watermarks, subtitles spanning keyframes).
    reuse_text: bool = True
    # Detect only the part of a keyframe that changed since the video's latest detected
    # keyframe, keeping that frame's boxes elsewhere (ray_ocr/ocr/incremental.py).
    incremental_detect: bool = True
    rec_batch_crops: int = Field(24, ge=1)
    target_drain_s: float = Field(10.0, gt=0, description="pool grows to clear the backlog within this")
    scale_down_delay_s: float = Field(30.0, ge=0)
    namespace: str = "ray-ocr"
    # OCR and decoding run at a lower OS priority than ingestion and the scheduler: a 202 that
    # waits behind a frame costs a client, a frame that waits 10 ms behind a request costs nothing.
    # Nice values are absolute and only lower priority: on a cluster whose workers start at Ray's
    # default nice 15 they change nothing (`ray-ocr up` starts them at 0), SCHED_IDLE still does.
    worker_nice: int = Field(10, ge=0, le=19)
    # And SCHED_IDLE on Linux: preempted at once by any normal thread, still all idle CPU
    # (ray_ocr/cluster/priority.py).
    worker_sched_idle: bool = True
    # The scheduler's bookkeeping sits between the two: a burst of verdicts yields to HTTP
    # submissions, but still feeds the workers ahead of their own OCR.
    scheduler_nice: int = Field(5, ge=0, le=19)


class ServeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_token: str | None = None
    allowed_roots: list[Path] = Field(default_factory=list)
    max_upload_bytes: int = Field(2 * 1024**3, ge=1)
    max_json_bytes: int = Field(64 * 1024, ge=1)
    fetch_timeout_s: float = Field(30.0, gt=0)
    max_keywords_bytes: int = Field(4 * 1024**2, ge=1, description="PUT /v1/keywords body limit")
    allow_url_fetch: bool = True  # POST /v1/videos with an http(s) uri downloads it into the data dir
    # Ray Serve autoscaling of the ingress; it is I/O bound, so it reserves no CPU by default and
    # leaves the cores to the OCR workers.
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(4, ge=1)
    target_ongoing_requests: float = Field(16.0, gt=0)
    max_ongoing_requests: int = Field(128, ge=1)
    replica_num_cpus: float = Field(0.0, ge=0)
    # Ray Serve direct ingress (ray_ocr/serve/direct.py): each ingress replica also serves the
    # API on its own port, from this one up, skipping the proxy hop. 0 turns it off.
    direct_port: int = Field(8001, ge=0, le=65535)
    direct_drain_s: float = Field(2.0, ge=0, description="a stopping replica's grace on its direct port")

    def direct_ports(self) -> range:
        """Ports the ingress replicas may take: one each plus a few for replicas being replaced
        (a stopping replica holds its port while it drains). Empty when direct ingress is off."""
        if not self.direct_port:
            return range(0)
        return range(self.direct_port, self.direct_port + max(self.min_replicas, self.max_replicas) + 4)

    @model_validator(mode="after")
    def _ports_apart(self) -> ServeSettings:
        if self.port in self.direct_ports():
            raise ValueError(f"port {self.port} falls in the direct-ingress port range starting at direct_port {self.direct_port}; "
                             "move one of them (or set direct_port=0)")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAY_OCR_", env_nested_delimiter="__", extra="ignore")

    ocr: OcrSettings = OcrSettings()
    video: VideoSettings = VideoSettings()
    dedupe: DedupeSettings = DedupeSettings()
    moderation: ModerationSettings = ModerationSettings()
    store: StoreSettings = StoreSettings()
    cluster: ClusterSettings = ClusterSettings()
    serve: ServeSettings = ServeSettings()

    @model_validator(mode="after")
    def _api_token_from_contract_variable(self) -> "Settings":
        # DESIGN.md's contract names RAY_OCR_API_TOKEN (not the nested RAY_OCR_SERVE__API_TOKEN,
        # which also works and wins when both are set).
        token = os.environ.get("RAY_OCR_API_TOKEN")
        if token and not self.serve.api_token:
            self.serve = self.serve.model_copy(update={"api_token": token})
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
