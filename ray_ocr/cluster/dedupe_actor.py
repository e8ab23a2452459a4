"""Dedupe actor: the FAISS indexes of near-duplicate keyframes, one per pipeline (named
``<name>:dedupe``). Frame extractors compute signatures next to the frame and send only those
(a few KB), so frames still travel through the object store once."""

from __future__ import annotations

from typing import Any

import ray

from ray_ocr.config import DedupeSettings
from ray_ocr.dedupe.deduper import Deduper, FrameSignature


@ray.remote(max_restarts=-1, num_cpus=0)
class DedupeIndex:
    def __init__(self, settings_json: str, dim: int):
        self.deduper = Deduper(DedupeSettings.model_validate_json(settings_json), dim=dim)

    def begin_video(self, video_id: str) -> None:
        self.deduper.begin_video(video_id)

    def end_video(self, video_id: str) -> None:
        self.deduper.end_video(video_id)

    def check(self, video_id: str, frame_index: int, sig: FrameSignature) -> tuple[Any, str]:
        d = self.deduper.check(video_id, frame_index, sig)
        return d.duplicate_of, d.scope

    def stats(self) -> dict[str, int]:
        return {**self.deduper.stats, "global_frames": len(self.deduper.global_index) if self.deduper.global_index else 0}
