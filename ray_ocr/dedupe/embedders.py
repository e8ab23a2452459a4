"""Frame embedders for near-duplicate search.

- ``ClipEmbedder``: open_clip image tower from a *local* checkpoint (extra ``clip``). Semantic:
  the same shot re-encoded, cropped or re-coloured lands close together.
- ``PerceptualEmbedder``: a zero-mean, unit-norm grey thumbnail — cosine similarity is then the
  normalised cross-correlation of the two frames. Cheap, no torch, good for re-encodes and
  static shots; it is the fallback when no CLIP checkpoint is configured.

``text_signature``/``text_change`` are separate: a local-difference check that vetoes a
"duplicate" whose text differs (whole-frame embeddings barely move when only a subtitle does).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ray_ocr.config import DedupeSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised."""


def _l2_rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-6)


class PerceptualEmbedder:
    name = "perceptual"

    def __init__(self, width: int = 64, height: int = 36):
        self.size = (width, height)
        self.dim = width * height

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        rows = []
        for f in frames:
            grey = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f
            thumb = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
            rows.append(thumb - thumb.mean())
        return _l2_rows(np.stack(rows)) if rows else np.zeros((0, self.dim), np.float32)


class ClipEmbedder:
    name = "clip"

    def __init__(self, model_name: str, checkpoint: Path):
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"CLIP checkpoint not found: {checkpoint}")
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise RuntimeError("CLIP dedupe needs the `clip` extra: pip install 'ray-ocr[clip]'") from exc
        self._torch = torch
        # pretrained= a local file path: open_clip loads it and never reaches a hub.
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=str(checkpoint))
        self.model = model.eval()
        self.preprocess = preprocess
        self.dim = int(model.visual.output_dim)

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        from PIL import Image

        if not frames:
            return np.zeros((0, self.dim), np.float32)
        batch = self._torch.stack([self.preprocess(Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))) for f in frames])
        with self._torch.no_grad():
            feats = self.model.encode_image(batch).float().numpy()
        return _l2_rows(feats)


TEXT_SIGNATURE_SIZE = (240, 135)
_TEXT_BLOCK = 6


def text_signature(frame: np.ndarray) -> np.ndarray:
    """A lightly blurred 240x135 grey thumbnail (uint8, ~32 KB).

    At this scale a 40 px subtitle glyph is ~7 px: enough that two different lines at the same
    place differ strongly in some 6x6 block, while JPEG re-encoding or a 480p round trip moves
    no block by more than a few grey levels (measured: <= 3.5 vs >= 14; see tests).
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    small = cv2.resize(grey, TEXT_SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0)


def text_change(a: np.ndarray, b: np.ndarray) -> float:
    """Largest mean absolute grey difference over any 6x6 block, after removing a global
    brightness shift (the median difference)."""
    d = a.astype(np.float32) - b.astype(np.float32)
    d = np.abs(d - np.median(d))
    return float(cv2.blur(d, (_TEXT_BLOCK, _TEXT_BLOCK)).max())


def make_embedder(settings: DedupeSettings) -> Embedder:
    """CLIP when configured and available, else the perceptual embedder (logged once)."""
    if settings.embedder in ("auto", "clip") and settings.clip_checkpoint is not None:
        try:
            return ClipEmbedder(settings.clip_model, settings.clip_checkpoint)
        except (RuntimeError, FileNotFoundError) as exc:
            if settings.embedder == "clip":
                raise
            log.warning("dedupe: %s; using the perceptual embedder", exc)
    elif settings.embedder == "clip":
        raise RuntimeError("dedupe.embedder=clip needs dedupe.clip_checkpoint (RAY_OCR_DEDUPE__CLIP_CHECKPOINT)")
    else:
        log.info("dedupe: no CLIP checkpoint configured; using the perceptual embedder")
    return PerceptualEmbedder()
