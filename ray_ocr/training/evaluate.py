"""Model evaluation against synthetic ground truth: character accuracy of OCR output.

Predicted lines are assigned to the ground-truth item their box overlaps most (at least half
the predicted box must fall inside the item's polygon); the texts assigned to an item are
joined left to right and compared with edit distance. Spaces are ignored on both sides:
burned-in CJK text has no reliable word spacing and neither PaddleOCR model emits it
consistently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein
from shapely.geometry import Polygon


@dataclass
class Accuracy:
    chars: int = 0  # ground-truth characters
    errors: int = 0  # edit operations to turn the prediction into the truth
    items: int = 0
    items_exact: int = 0

    @property
    def char_accuracy(self) -> float:
        return 1.0 - min(self.errors, self.chars) / self.chars if self.chars else 1.0

    @property
    def line_accuracy(self) -> float:
        return self.items_exact / self.items if self.items else 1.0

    def __iadd__(self, other: "Accuracy") -> "Accuracy":
        self.chars += other.chars
        self.errors += other.errors
        self.items += other.items
        self.items_exact += other.items_exact
        return self


def _squash(text: str) -> str:
    return "".join(text.split())


def _poly(points: Sequence[Sequence[float]]) -> Polygon:
    p = Polygon([tuple(map(float, xy)) for xy in points])
    return p if p.is_valid else p.buffer(0)


def score_frame(truth: Iterable[tuple[str, np.ndarray]], predicted: Iterable[tuple[str, Sequence[Sequence[float]]]]) -> Accuracy:
    """Accuracy of one frame. ``truth``: (text, polygon); ``predicted``: (text, box)."""
    gt = [(t, _poly(p)) for t, p in truth]
    assigned: list[list[tuple[float, str]]] = [[] for _ in gt]
    for text, box in predicted:
        pb = _poly(box)
        if pb.area <= 0:
            continue
        overlaps = [pb.intersection(g).area / pb.area for _, g in gt]
        if overlaps and max(overlaps) >= 0.5:
            assigned[int(np.argmax(overlaps))].append((pb.bounds[0], text))
    acc = Accuracy()
    for (gt_text, _), preds in zip(gt, assigned):
        want = _squash(gt_text)
        got = _squash("".join(t for _, t in sorted(preds)))
        acc.chars += len(want)
        acc.errors += Levenshtein.distance(want, got)
        acc.items += 1
        acc.items_exact += int(want == got)
    return acc
