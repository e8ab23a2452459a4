"""Per-video then global near-duplicate filtering of a video's keyframes.

Split in two so the pipeline ships no frame twice: ``signature`` runs where the frame is (the
frame extractor) and yields a few KB; ``check`` holds the indexes (the dedupe actor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ray_ocr.config import DedupeSettings
from ray_ocr.dedupe.embedders import Embedder, make_embedder, text_signature
from ray_ocr.dedupe.index import DedupeDecision, NearDuplicateIndex


@dataclass
class FrameSignature:
    scene: np.ndarray  # (dim,) float32, unit norm
    text: np.ndarray  # text_signature() thumbnail


def signatures(embedder: Embedder, frames: list[np.ndarray]) -> list[FrameSignature]:
    scenes = embedder.embed(frames)
    return [FrameSignature(s, text_signature(f)) for s, f in zip(scenes, frames)]


class Deduper:
    def __init__(self, settings: DedupeSettings | None = None, embedder: Embedder | None = None, dim: int | None = None):
        """``embedder`` computes signatures locally; an index-only instance (the dedupe actor)
        passes ``dim`` instead and receives signatures made elsewhere."""
        self.settings = settings or DedupeSettings()
        self.embedder = embedder if embedder is not None or dim is not None else make_embedder(self.settings)
        self.dim = dim if dim is not None else self.embedder.dim
        self.global_index = self._new_index(self.settings.global_capacity) if self.settings.global_capacity else None
        self._videos: dict[str, NearDuplicateIndex] = {}
        self.stats = {"frames": 0, "video_duplicates": 0, "global_duplicates": 0}

    def _new_index(self, capacity: int = 0) -> NearDuplicateIndex:
        s = self.settings
        return NearDuplicateIndex(self.dim, s.scene_threshold, s.text_max_change, capacity)

    def signature(self, frame: np.ndarray) -> FrameSignature:
        return signatures(self.embedder, [frame])[0]

    def begin_video(self, video_id: str) -> None:
        """Forget anything seen of this video (a restarted extraction starts clean)."""
        self._videos[video_id] = self._new_index()

    def end_video(self, video_id: str) -> None:
        self._videos.pop(video_id, None)

    def check(self, video_id: str, frame_index: int, sig: FrameSignature) -> DedupeDecision:
        """Is this keyframe a near-duplicate of one already kept, in this video or another?

        Kept frames join the video's index and the global one. A frame matched globally is
        not added again (its earlier twin already represents it).
        """
        local = self._videos.get(video_id)
        if local is None:
            local = self._videos[video_id] = self._new_index()
        self.stats["frames"] += 1
        m = local.find(sig.scene, sig.text)
        if m is not None:
            self.stats["video_duplicates"] += 1
            return DedupeDecision(frame_index, m.key, "video")
        local.add((video_id, frame_index), sig.scene, sig.text)
        g = self.global_index.find(sig.scene, sig.text) if self.global_index is not None else None
        if g is not None and g.key[0] != video_id:
            self.stats["global_duplicates"] += 1
            return DedupeDecision(frame_index, g.key, "global")
        if self.global_index is not None:
            self.global_index.add((video_id, frame_index), sig.scene, sig.text)
        return DedupeDecision(frame_index, None)

    def filter_video(self, video_id: str, frames: list[tuple[int, np.ndarray]]) -> list[DedupeDecision]:
        """Decide, for each (frame_index, frame) in time order, whether it needs OCR."""
        if not frames:
            return []
        self.begin_video(video_id)
        try:
            sigs = signatures(self.embedder, [f for _, f in frames])
            return [self.check(video_id, idx, sig) for (idx, _), sig in zip(frames, sigs)]
        finally:
            self.end_video(video_id)
