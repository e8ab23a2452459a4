"""Reuse the recognised text of a line that has not changed since an earlier keyframe.

Burned-in text persists: a watermark sits in every keyframe, a subtitle usually spans several
(a keyframe is also taken for a scene cut under the same subtitle). Recognising the same pixels
again is wasted work, and recognition is often the larger half of OCR. The detector returns,
per box, a small grey signature of its crop; a box at the same place (every corner within
`pos_tol` px) whose signature matches a remembered one cell by cell (`cell_tol` mean grey
difference in every 16x8 cell, half a CJK character) takes the remembered text. Measured on
rendered lines: codec noise between keyframes stays under 2 per cell; one changed character,
Latin or CJK ("abc123" -> "abc128", "il" -> "li"), moves some cell by 10 or more.

Per-cell comparison is what keeps this safe for moderation: one changed character in a long
line changes its cell by far more than codec noise, so the line is recognised again. Pure
Python + numpy (no Ray); ray_ocr.ocr has no such cache, so it lives beside the scheduler.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

SIG_HEIGHT = 16
SIG_MAX_WIDTH = 512
CELL = 8


def crop_signature(crop: np.ndarray) -> np.ndarray:
    """Grey crop scaled to height 16 (aspect kept, width capped): what `TextReuse` compares."""
    h, w = crop.shape[:2]
    width = int(min(SIG_MAX_WIDTH, max(CELL, round(w * SIG_HEIGHT / max(1, h)))))
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(grey, (width, SIG_HEIGHT), interpolation=cv2.INTER_AREA)


@dataclass
class _Known:
    box: np.ndarray  # (4, 2)
    sig: np.ndarray
    text: str
    score: float


class TextReuse:
    def __init__(self, pos_tol: float = 3.0, cell_tol: float = 5.0, capacity: int = 64):
        self.pos_tol = pos_tol
        self.cell_tol = cell_tol
        self._known: deque[_Known] = deque(maxlen=capacity)
        self.hits = 0
        self.misses = 0

    def lookup(self, box: np.ndarray | list, sig: np.ndarray) -> tuple[str, float] | None:
        b = np.asarray(box, dtype=np.float32)
        for k in reversed(self._known):  # most recent first
            if k.sig.shape != sig.shape or np.abs(k.box - b).max() > self.pos_tol:
                continue
            if _cells_match(k.sig, sig, self.cell_tol):
                self.hits += 1
                return k.text, k.score
        self.misses += 1
        return None

    def remember(self, box: np.ndarray | list, sig: np.ndarray, text: str, score: float) -> None:
        self._known.append(_Known(np.asarray(box, dtype=np.float32), sig, text, score))


def _cells_match(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    w = diff.shape[1]
    for x in range(0, w, CELL):
        if float(diff[:, x : x + CELL].mean()) > tol:
            return False
    return True
