"""DB (differentiable binarization) text detection: pre-process, infer, post-process, crop.

The model outputs a per-pixel text probability for the *shrunk* text kernel. Post-processing
binarises it, takes each connected region's minimum-area rectangle, scores it by the mean
probability inside, and grows it back by the unclip distance D = A·r/L (A area, L perimeter of
the shrunk polygon, r the unclip ratio) — the inverse of the shrink used in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyclipper

from ray_ocr.config import DetectorSettings
from ray_ocr.ocr.session import make_session

# PP-OCR det models are trained on BGR frames normalised with ImageNet statistics taken in that
# channel order (PaddleOCR never converts to RGB for detection).
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_INV_STD = 1.0 / (np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0)


@dataclass
class Detection:
    """Text found in one frame: quadrilaterals in frame pixels, reading order, with crops."""

    boxes: list[np.ndarray] = field(default_factory=list)  # each (4, 2) float32, clockwise from top-left
    scores: list[float] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)  # upright BGR crops, same order as boxes

    def __len__(self) -> int:
        return len(self.boxes)


# ---------------------------------------------------------------- pre-processing


def target_size(h: int, w: int, limit_side_len: int) -> tuple[int, int]:
    """(h, w) the frame is resized to: long side at most ``limit_side_len``, both multiples of 32."""
    scale = min(1.0, limit_side_len / max(h, w))
    th = max(32, int(round(h * scale / 32)) * 32)
    tw = max(32, int(round(w * scale / 32)) * 32)
    return th, tw


def preprocess(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """BGR uint8 frame -> (3, h, w) float32 normalised tensor."""
    th, tw = size
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    img = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_LINEAR) if frame.shape[:2] != (th, tw) else frame
    x = img.astype(np.float32)
    x -= _MEAN
    x *= _INV_STD
    return x.transpose(2, 0, 1)


# ---------------------------------------------------------------- post-processing


def order_points(pts: np.ndarray) -> np.ndarray:
    """Four points clockwise starting top-left (smallest x+y), as float32 (4, 2)."""
    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    # Sort by angle around the centre gives a consistent cyclic order; then rotate so the point
    # nearest the top-left corner comes first. Image y grows downwards, so increasing atan2 is
    # clockwise on screen.
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def unclip_distance(polygon: np.ndarray, ratio: float) -> float:
    """D = A·r/L for a polygon (n, 2)."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    area = abs(cv2.contourArea(poly.astype(np.float32)))
    length = cv2.arcLength(poly.astype(np.float32), True)
    return 0.0 if length == 0 else area * ratio / length


def unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow a shrunk polygon outwards by the unclip distance; None if it vanishes."""
    distance = unclip_distance(box, ratio)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(map(float, p)) for p in np.asarray(box).reshape(-1, 2)], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    if len(grown) != 1:
        # Zero or several pieces: a degenerate region that would give a meaningless box.
        return None
    return np.asarray(grown[0], dtype=np.float32)


def box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the quadrilateral, computed over its bounding rectangle only."""
    h, w = prob.shape
    xs, ys = box[:, 0], box[:, 1]
    x0, x1 = int(np.clip(np.floor(xs.min()), 0, w - 1)), int(np.clip(np.ceil(xs.max()), 0, w - 1))
    y0, y1 = int(np.clip(np.floor(ys.min()), 0, h - 1)), int(np.clip(np.ceil(ys.max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    local = (box - np.array([x0, y0], dtype=np.float32)).round().astype(np.int32)
    cv2.fillPoly(mask, [local], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def boxes_from_probability(
    prob: np.ndarray,
    frame_hw: tuple[int, int],
    settings: DetectorSettings,
) -> tuple[list[np.ndarray], list[float]]:
    """Quadrilaterals in frame pixels from one (h, w) probability map."""
    ph, pw = prob.shape
    fh, fw = frame_hw
    bitmap = (prob > settings.thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = fw / pw, fh / ph
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    for contour in contours[: settings.max_candidates]:
        if len(contour) < 3:
            continue
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < settings.min_size:
            continue
        kernel = cv2.boxPoints(rect)
        score = box_score(prob, kernel)
        if score < settings.box_thresh:
            continue
        grown = unclip(kernel, settings.unclip_ratio)
        if grown is None:
            continue
        rect = cv2.minAreaRect(grown)
        if min(rect[1]) < settings.min_size + 2:
            continue
        box = order_points(cv2.boxPoints(rect))
        box[:, 0] = np.clip(np.round(box[:, 0] * sx), 0, fw)
        box[:, 1] = np.clip(np.round(box[:, 1] * sy), 0, fh)
        boxes.append(box)
        scores.append(score)
    return sort_reading_order(boxes, scores)


def sort_reading_order(boxes: list[np.ndarray], scores: list[float]) -> tuple[list[np.ndarray], list[float]]:
    """Top to bottom, then left to right for boxes on the same line (tops within 10 px)."""
    if not boxes:
        return [], []
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0, 1], boxes[i][0, 0]))
    # One pass of bubbling fixes boxes on the same text line that differ by a few pixels in y.
    for k in range(len(order) - 1):
        for j in range(k, -1, -1):
            a, b = boxes[order[j]], boxes[order[j + 1]]
            if abs(b[0, 1] - a[0, 1]) < 10 and b[0, 0] < a[0, 0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return [boxes[i] for i in order], [scores[i] for i in order]


# ---------------------------------------------------------------- crops


def crop_box(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral warped to an upright rectangle; tall boxes are turned to read left-to-right."""
    box = np.asarray(box, dtype=np.float32)
    w = int(round(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3]))))
    h = int(round(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))))
    w, h = max(w, 1), max(h, 1)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(box, dst)
    crop = cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if h >= 1.5 * w:
        # Vertical text column: the recogniser reads horizontal lines.
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


# ---------------------------------------------------------------- the detector


class TextDetector:
    def __init__(self, model_path: Path | str, settings: DetectorSettings | None = None, intra_op_threads: int = 0):
        self.settings = settings or DetectorSettings()
        self.session = make_session(model_path, intra_op_threads)
        self._input = self.session.get_inputs()[0].name

    def probability_maps(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Probability maps, one per frame (at the frame's resized size)."""
        out: list[np.ndarray | None] = [None] * len(frames)
        # Frames of one video share a shape, so they stack into one batch and one session call.
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            by_size.setdefault(target_size(*f.shape[:2], self.settings.limit_side_len), []).append(i)
        bs = self.settings.batch_size
        for size, idxs in by_size.items():
            for k in range(0, len(idxs), bs):
                chunk = idxs[k : k + bs]
                x = np.stack([preprocess(frames[i], size) for i in chunk])
                pred = self.session.run(None, {self._input: x})[0]
                for j, i in enumerate(chunk):
                    out[i] = pred[j, 0]
        return out  # type: ignore[return-value]

    def detect(self, frames: list[np.ndarray], with_crops: bool = True) -> list[Detection]:
        results = []
        for frame, prob in zip(frames, self.probability_maps(frames)):
            boxes, scores = boxes_from_probability(prob, frame.shape[:2], self.settings)
            crops = [crop_box(frame, b) for b in boxes] if with_crops else []
            results.append(Detection(boxes=boxes, scores=scores, crops=crops))
        return results
