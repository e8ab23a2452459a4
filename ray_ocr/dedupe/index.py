"""FAISS-backed near-duplicate index over keyframes, per video and across videos.

Candidates come from an inner-product search over L2-normalised scene embeddings (cosine);
each candidate is then checked against the frame's text signature. Only when both agree is a
frame a duplicate, so a new subtitle over an unchanged shot is always read.

The global index remembers (video_id, frame_index) so a frame that re-appears in another video
(a re-upload that was re-encoded, so its MD5 differs) can reuse the earlier frame's OCR.
It is a FIFO of ``capacity`` frames: the oldest are removed when it is full.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import faiss
import numpy as np

from ray_ocr.dedupe.embedders import text_change

FrameKey = tuple[str, int]  # (video_id, frame index)


@dataclass
class Match:
    key: FrameKey
    scene_similarity: float
    text_change: float


class NearDuplicateIndex:
    def __init__(self, dim: int, scene_threshold: float, text_max_change: float, capacity: int = 0, k: int = 8):
        self.dim = dim
        self.scene_threshold, self.text_max_change = scene_threshold, text_max_change
        self.capacity, self.k = capacity, k
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._keys: dict[int, FrameKey] = {}
        self._text: dict[int, np.ndarray] = {}
        self._fifo: deque[int] = deque()
        self._next_id = 0

    def __len__(self) -> int:
        return self._index.ntotal

    def find(self, scene: np.ndarray, text: np.ndarray) -> Match | None:
        if self._index.ntotal == 0:
            return None
        sims, ids = self._index.search(scene.reshape(1, -1).astype(np.float32), min(self.k, self._index.ntotal))
        for sim, i in zip(sims[0], ids[0]):
            if i < 0 or sim < self.scene_threshold:
                break  # results are sorted by similarity
            change = text_change(self._text[int(i)], text)
            if change <= self.text_max_change:
                return Match(self._keys[int(i)], float(sim), change)
        return None

    def add(self, key: FrameKey, scene: np.ndarray, text: np.ndarray) -> None:
        i = self._next_id
        self._next_id += 1
        self._index.add_with_ids(scene.reshape(1, -1).astype(np.float32), np.array([i], dtype=np.int64))
        self._keys[i], self._text[i] = key, text
        self._fifo.append(i)
        if self.capacity and len(self._fifo) > self.capacity:
            old = self._fifo.popleft()
            self._index.remove_ids(np.array([old], dtype=np.int64))
            del self._keys[old], self._text[old]


@dataclass
class DedupeDecision:
    frame_index: int
    duplicate_of: FrameKey | None  # None: a new frame, to be OCR'd
    scope: str = ""  # "video" or "global" when a duplicate

    @property
    def keep(self) -> bool:
        return self.duplicate_of is None
