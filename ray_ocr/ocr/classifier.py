"""Optional text-direction classifier: turns upside-down line crops the right way up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ray_ocr.ocr.recognizer import normalise_into, resized_width
from ray_ocr.ocr.session import make_session

_HEIGHT, _WIDTH = 48, 192


class DirectionClassifier:
    def __init__(self, model_path: Path | str, threshold: float = 0.9, batch_size: int = 16, intra_op_threads: int = 0):
        self.session = make_session(model_path, intra_op_threads)
        self._input = self.session.get_inputs()[0].name
        self.threshold = threshold
        self.batch_size = batch_size

    def upside_down(self, crops: list[np.ndarray]) -> list[bool]:
        flags: list[bool] = []
        for k in range(0, len(crops), self.batch_size):
            chunk = crops[k : k + self.batch_size]
            x = np.zeros((len(chunk), 3, _HEIGHT, _WIDTH), dtype=np.float32)
            for j, c in enumerate(chunk):
                normalise_into(x[j], c, resized_width(c.shape[0], c.shape[1], _HEIGHT, _WIDTH))
            probs = self.session.run(None, {self._input: x})[0]
            flags.extend(bool(p[1] > self.threshold) for p in probs)
        return flags

    def fix(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        return [np.ascontiguousarray(c[::-1, ::-1]) if flip else c for c, flip in zip(crops, self.upside_down(crops))]
