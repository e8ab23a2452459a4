"""SVTR/CRNN line recognition with CTC greedy decoding, batched by width.

Each crop is resized to the model height keeping its aspect ratio. Crops are sorted by width
and cut into batches so that a batch's padding (to its widest member) stays small: the cost of a
batch is about batch size × widest width, so mixing a 40 px word with a 1200 px subtitle in
one batch would pay for 1200 px twice. Unlike PaddleOCR we do not pad every batch to at least
320 px; the SVTR neck is width-agnostic and short words read the same (see tests and bench).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ray_ocr.config import RecognizerSettings
from ray_ocr.ocr.session import make_session

# Width of the output sequence step: the SVTR backbone downsamples width by 8.
_STRIDE = 8


def resized_width(h: int, w: int, height: int, max_width: int) -> int:
    return int(min(max_width, max(_STRIDE, math.ceil(height * w / max(h, 1)))))


def normalise_into(dst: np.ndarray, crop: np.ndarray, width: int) -> None:
    """Resize a BGR crop to (height, width) and write (x/127.5 - 1) into dst[:, :, :width] (CHW)."""
    height = dst.shape[1]
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    img = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    x = img.astype(np.float32).transpose(2, 0, 1)
    x *= 1.0 / 127.5
    x -= 1.0
    dst[:, :, :width] = x


def ctc_greedy_decode(probs: np.ndarray, charset: tuple[str, ...] | list[str]) -> list[tuple[str, float]]:
    """Best-path CTC decoding of (batch, time, classes) probabilities.

    Collapses repeats, then drops blanks (class 0); the score is the mean probability of the
    characters kept (0.0 for an empty line), as PaddleOCR reports it.
    """
    idx = probs.argmax(axis=2)
    conf = np.take_along_axis(probs, idx[:, :, None], axis=2)[:, :, 0]
    keep = idx != 0
    keep[:, 1:] &= idx[:, 1:] != idx[:, :-1]
    out = []
    for row_idx, row_conf, row_keep in zip(idx, conf, keep):
        sel = row_idx[row_keep]
        text = "".join(charset[i] for i in sel)
        score = float(row_conf[row_keep].mean()) if sel.size else 0.0
        out.append((text, score))
    return out


class TextRecognizer:
    def __init__(
        self,
        model_path: Path | str,
        charset: tuple[str, ...] | list[str],
        settings: RecognizerSettings | None = None,
        intra_op_threads: int = 0,
    ):
        self.settings = settings or RecognizerSettings()
        self.charset = tuple(charset)
        self.session = make_session(model_path, intra_op_threads)
        self._input = self.session.get_inputs()[0].name
        classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.charset):
            from ray_ocr.ocr.session import ModelError

            raise ModelError(model_path, f"outputs {classes} classes but the dictionary gives {len(self.charset)}")

    def batches(self, crops: list[np.ndarray]) -> list[list[int]]:
        """Crop indices grouped into batches of similar width (widest first)."""
        s = self.settings
        widths = [resized_width(c.shape[0], c.shape[1], s.image_height, s.max_width) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: widths[i], reverse=True)
        out: list[list[int]] = []
        budget = s.batch_size * 320  # pixels of width per batch, so wide lines go in small batches
        cur: list[int] = []
        for i in order:
            widest = widths[cur[0]] if cur else widths[i]
            if cur and (len(cur) >= s.batch_size or widest * (len(cur) + 1) > budget):
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        s = self.settings
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in self.batches(crops):
            widths = [resized_width(crops[i].shape[0], crops[i].shape[1], s.image_height, s.max_width) for i in batch]
            x = np.zeros((len(batch), 3, s.image_height, max(widths)), dtype=np.float32)
            for j, (i, w) in enumerate(zip(batch, widths)):
                normalise_into(x[j], crops[i], w)
            probs = self.session.run(None, {self._input: x})[0]
            for i, res in zip(batch, ctc_greedy_decode(probs, self.charset)):
                results[i] = res
        return results
