"""OcrWorker: one actor that can run either OCR stage.

Design choice: DESIGN.md asks that any worker can take either stage and that none idles, so
instead of separate Detector and Recognizer actor classes there is one class holding both ONNX
sessions (PP-OCRv5 mobile det ~5 MB, rec ~16 MB, so both fit in every worker). The scheduler's
policy assigns a stage per task, which makes the detector:recognizer ratio a per-task decision
that follows the data; the pool's size is elastic (autoscale.py). Stage-restricted workers
(`stages=("det",)`) exist only for the fixed-ratio baseline in bench/pipeline.py.

Each session's intra-op threads equal the CPUs the actor reserves, so a pool of N one-CPU
workers keeps N cores busy without oversubscription.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import ray

from ray_ocr.cluster.priority import describe_priority, lower_priority
from ray_ocr.config import OcrSettings


class OcrCore:
    """The Ray-free part of a worker: sessions plus the two stage calls (used by bench too)."""

    def __init__(self, settings: OcrSettings, threads: int, stages: tuple[str, ...] = ("det", "rec")):
        from ray_ocr.ocr.detector import TextDetector
        from ray_ocr.ocr.models import resolve_model_set
        from ray_ocr.ocr.recognizer import TextRecognizer

        import cv2

        # OpenCV's own thread pool would oversubscribe the CPUs this worker reserved.
        cv2.setNumThreads(threads)
        ms = resolve_model_set(settings.model_set, settings.models_dir)
        self.model_version = ms.version
        self.detector = TextDetector(ms.det_path, settings.det, threads) if "det" in stages else None
        self.recognizer = TextRecognizer(ms.rec_path, ms.charset, settings.rec, threads) if "rec" in stages else None

    def detect(
        self, frame: np.ndarray, prev_frame: np.ndarray | None = None, prev_boxes: list | None = None, prev_scores: list | None = None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Boxes and crops of ``frame``. Given an earlier keyframe of the same video and its
        boxes, only the region that changed is detected (ray_ocr.ocr.incremental)."""
        if self.detector is None:
            raise RuntimeError("this worker has no detector session")
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be an HxWx3 uint8 BGR array, got {getattr(frame, 'shape', type(frame))}")
        from ray_ocr.cluster.text_reuse import crop_signature

        from ray_ocr.ocr.incremental import detect_incremental

        t0 = time.perf_counter()
        if prev_frame is not None and prev_boxes is not None:
            boxes = [np.asarray(b, dtype=np.float32) for b in prev_boxes]
            det, region = detect_incremental(self.detector, frame, prev_frame, boxes, prev_scores)
        else:
            det, region = self.detector.detect([frame])[0], None
        meta = {
            "region": "full" if region is None else ("none" if region == "none" else "partial"),
            "boxes": [b.tolist() for b in det.boxes],
            "scores": [float(s) for s in det.scores],
            # Small grey thumbnails so the scheduler can spot lines it has already read.
            "sigs": [crop_signature(c) for c in det.crops],
            "n": len(det.boxes),
            "elapsed_s": time.perf_counter() - t0,
        }
        return meta, det.crops

    def recognize(self, crop_lists: list[list[np.ndarray]], select: list[list[int]] | None = None) -> dict[str, Any]:
        """Recognise the crops of several frames in one batched pass; results per frame.
        `select[i]` picks which crops of frame i to read (the others were reused)."""
        if self.recognizer is None:
            raise RuntimeError("this worker has no recognizer session")
        t0 = time.perf_counter()
        if select is not None:
            crop_lists = [[crops[j] for j in sel] for crops, sel in zip(crop_lists, select)]
        flat = [c for crops in crop_lists for c in crops]
        texts = self.recognizer.recognize(flat)
        out, k = [], 0
        for crops in crop_lists:
            out.append([(t, float(s)) for t, s in texts[k : k + len(crops)]])
            k += len(crops)
        return {"texts": out, "n": len(flat), "elapsed_s": time.perf_counter() - t0}


class WorkerStartError(RuntimeError):
    """A worker could not build its sessions (missing model, bad model set). One plain string
    argument, so it pickles back to the scheduler intact (ModelError does not)."""


@ray.remote(max_restarts=0)  # a dead worker is replaced by the pool, which also retries its task
class OcrWorker:
    def __init__(self, settings_json: str, threads: int = 1, stages: tuple[str, ...] = ("det", "rec"), nice: int = 0, idle: bool = False):
        lower_priority(nice, idle)
        try:
            self.core = OcrCore(OcrSettings.model_validate_json(settings_json), max(1, threads), stages)
        except Exception as exc:  # noqa: BLE001 - re-raised with its message
            raise WorkerStartError(f"{type(exc).__name__}: {exc}") from None

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "model_version": self.core.model_version, "node": ray.get_runtime_context().get_node_id(),
                "priority": describe_priority()}

    @ray.method(num_returns=2)
    def detect(self, frame: np.ndarray, prev_frame: Any = None, prev_boxes: list | None = None, prev_scores: list | None = None) -> tuple[dict[str, Any], list[np.ndarray]]:
        # Two return objects: the scheduler reads only the small metadata; the crops stay in the
        # object store and go straight to whichever worker recognises them.
        return self.core.detect(frame, prev_frame, prev_boxes, prev_scores)

    def recognize(self, *crop_lists: list[np.ndarray], select: list[list[int]] | None = None) -> dict[str, Any]:
        return self.core.recognize(list(crop_lists), select)
