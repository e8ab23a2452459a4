"""Detector + recogniser glued into "frame in, text lines out", for the CLI, bench and tests.

The Ray workers use TextDetector and TextRecognizer directly (the scheduler interleaves the
two stages across frames); this class is the single-process path.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ray_ocr.config import OcrSettings
from ray_ocr.ocr.classifier import DirectionClassifier
from ray_ocr.ocr.detector import Detection, TextDetector
from ray_ocr.ocr.models import ModelSet, resolve_model_set
from ray_ocr.ocr.recognizer import TextRecognizer
from ray_ocr.schemas import TextLine


@dataclass
class _Sessions:
    detector: TextDetector
    recognizer: TextRecognizer
    classifier: DirectionClassifier | None


class OcrEngine:
    def __init__(self, model_set: ModelSet, settings: OcrSettings | None = None, intra_op_threads: int | None = None):
        self.settings = settings or OcrSettings()
        self.model_set = model_set
        self.threads = self.settings.intra_op_threads if intra_op_threads is None else intra_op_threads
        # One-thread session sets for read_many's threads, kept between calls (a session costs
        # ~100 ms to build).
        self._spare: queue.SimpleQueue[_Sessions] = queue.SimpleQueue()
        self._main = self._make_sessions(self.threads)

    @classmethod
    def from_settings(cls, settings: OcrSettings | None = None, intra_op_threads: int | None = None) -> "OcrEngine":
        settings = settings or OcrSettings()
        return cls(resolve_model_set(settings.model_set, settings.models_dir), settings, intra_op_threads)

    @property
    def model_version(self) -> str:
        return self.model_set.version

    @property
    def detector(self) -> TextDetector:
        return self._main.detector

    @property
    def recognizer(self) -> TextRecognizer:
        return self._main.recognizer

    def _make_sessions(self, threads: int) -> _Sessions:
        s, m = self.settings, self.model_set
        cls = None
        if s.rec.use_direction_classifier and m.cls_path is not None:
            cls = DirectionClassifier(m.cls_path, intra_op_threads=threads)
        return _Sessions(
            TextDetector(m.det_path, s.det, threads),
            TextRecognizer(m.rec_path, m.charset, s.rec, threads),
            cls,
        )

    def lines_from(self, detection: Detection, texts: list[tuple[str, float]]) -> list[TextLine]:
        drop = self.settings.rec.drop_score
        return [
            TextLine(text=t, score=round(sc, 4), box=b.tolist())
            for b, (t, sc) in zip(detection.boxes, texts)
            if sc >= drop and t.strip()
        ]

    def _read(self, sessions: _Sessions, frame: np.ndarray) -> list[TextLine]:
        det = sessions.detector.detect([frame])[0]
        crops = sessions.classifier.fix(det.crops) if sessions.classifier else det.crops
        return self.lines_from(det, sessions.recognizer.recognize(crops))

    def read(self, frame: np.ndarray) -> list[TextLine]:
        return self._read(self._main, frame)

    def read_many(self, frames: list[np.ndarray], workers: int = 1) -> list[list[TextLine]]:
        """OCR several frames; with workers > 1, each thread gets its own one-thread sessions.

        Frame-level parallelism beats intra-op threads for these small graphs: a single frame's
        pre/post-processing is serial, and ONNX Runtime's thread pool idles through it.
        """
        if workers <= 1:
            return [self.read(f) for f in frames]

        def per_thread(frame: np.ndarray) -> list[TextLine]:
            try:
                sessions = self._spare.get_nowait()
            except queue.Empty:
                sessions = self._make_sessions(1)
            try:
                return self._read(sessions, frame)
            finally:
                self._spare.put(sessions)

        # OpenCV's own thread pool (resize, warps) would oversubscribe the cores that the streams
        # already fill; it is process-wide, so restore it afterwards.
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
                return list(pool.map(per_thread, frames))
        finally:
            cv2.setNumThreads(cv_threads)
