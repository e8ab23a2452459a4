"""Per-video then global near-duplicate filtering of a video's keyframes."""

from __future__ import annotations

import numpy as np

from ray_ocr.config import DedupeSettings
from ray_ocr.dedupe.embedders import Embedder, make_embedder, text_signature
from ray_ocr.dedupe.index import DedupeDecision, NearDuplicateIndex


class Deduper:
    def __init__(self, settings: DedupeSettings | None = None, embedder: Embedder | None = None):
        self.settings = settings or DedupeSettings()
        self.embedder = embedder or make_embedder(self.settings)
        self.global_index = self._new_index(self.settings.global_capacity) if self.settings.global_capacity else None
        self.stats = {"frames": 0, "video_duplicates": 0, "global_duplicates": 0}

    def _new_index(self, capacity: int = 0) -> NearDuplicateIndex:
        s = self.settings
        return NearDuplicateIndex(self.embedder.dim, s.scene_threshold, s.text_max_change, capacity)

    def filter_video(self, video_id: str, frames: list[tuple[int, np.ndarray]]) -> list[DedupeDecision]:
        """Decide, for each (frame_index, frame) in time order, whether it needs OCR.

        Frames that survive are added to the global index so later videos can match them. A
        frame matched globally is not added again (its earlier twin already represents it).
        """
        if not frames:
            return []
        scenes = self.embedder.embed([f for _, f in frames])
        texts = [text_signature(f) for _, f in frames]
        local = self._new_index()
        out: list[DedupeDecision] = []
        for (idx, _), scene, text in zip(frames, scenes, texts):
            self.stats["frames"] += 1
            m = local.find(scene, text)
            if m is not None:
                self.stats["video_duplicates"] += 1
                out.append(DedupeDecision(idx, m.key, "video"))
                continue
            local.add((video_id, idx), scene, text)
            g = self.global_index.find(scene, text) if self.global_index is not None else None
            if g is not None and g.key[0] != video_id:
                self.stats["global_duplicates"] += 1
                out.append(DedupeDecision(idx, g.key, "global"))
                continue
            out.append(DedupeDecision(idx, None))
        if self.global_index is not None:
            for d, scene, text in zip(out, scenes, texts):
                if d.keep:
                    self.global_index.add((video_id, d.frame_index), scene, text)
        return out
