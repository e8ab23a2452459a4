"""FrameExtractor actor: MD5 first, then the keyframes streamed into the object store.

`keyframes()` is a Ray streaming generator. It yields, per keyframe, a small metadata dict and
then the frame itself; each yield becomes an object owned by the caller (the scheduler), so
every frame enters the object store exactly once and survives the extractor. The last yield is
an {"kind": "end", ...} summary. Decoding and keyframe selection are ray_ocr.video's; this
actor only moves their output.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import ray

from ray_ocr.cluster.priority import lower_priority
from ray_ocr.config import DedupeSettings, VideoSettings
from ray_ocr.dedupe.deduper import signatures


class VideoUnreadable(Exception):
    """A video that cannot be read, with the decoder's reason in the message. Plain one-argument
    exception so it survives pickling back to the scheduler (ray_ocr.video's VideoError takes
    three constructor arguments and does not)."""


@ray.remote(max_restarts=0)
class FrameExtractor:
    def __init__(self, video_settings_json: str, dedupe_settings_json: str | None = None, dedupe: Any = None, nice: int = 0, idle: bool = False):
        # Tasks of this threaded actor run on pool threads, not this one: keyframes() lowers its own.
        self.priority = (nice, idle)
        self.settings = VideoSettings.model_validate_json(video_settings_json)
        # Near-duplicate keyframes of the same video are dropped here, before they reach the
        # object store: the signature is computed beside the frame, the index lives in the
        # dedupe actor. Global matches (another video) are kept: their text is still needed.
        self.dedupe = dedupe
        self.embedder = None
        if dedupe is not None and dedupe_settings_json:
            from ray_ocr.dedupe.embedders import make_embedder

            self.embedder = make_embedder(DedupeSettings.model_validate_json(dedupe_settings_json))
        self._cancelled: set[str] = set()
        self._credit: dict[str, int] = {}
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)

    def fingerprint(self, path: str) -> str:
        from ray_ocr.video.fingerprint import file_md5

        return file_md5(path)

    def cancel(self, video_id: str) -> None:
        # Threaded actor: this runs beside a keyframes() stream, which checks the flag per frame.
        with self._cv:
            self._cancelled.add(video_id)
            self._cv.notify_all()

    def grant(self, video_id: str, n: int = 1) -> None:
        """Let the video's stream decode n more keyframes (the scheduler calls this as frames
        get detected)."""
        with self._cv:
            if video_id in self._credit:
                self._credit[video_id] += n
                self._cv.notify_all()

    def _wait_credit(self, video_id: str) -> bool:
        """Block the stream (and so the decoder) until it may yield; False when cancelled."""
        with self._cv:
            while self._credit.get(video_id, 0) <= 0 and video_id not in self._cancelled:
                self._cv.wait(1.0)
            if video_id in self._cancelled:
                return False
            self._credit[video_id] -= 1
            return True

    def keyframes(self, path: str, video_id: str, md5: str | None = None, window: int = 1 << 30) -> Iterator[Any]:
        from ray_ocr.video.keyframes import iter_keyframes

        lower_priority(*self.priority)
        with self._lock:
            self._cancelled.discard(video_id)
            self._credit[video_id] = max(1, window)
        from ray_ocr.video.decode import VideoError

        try:
            stream = iter_keyframes(path, self.settings, md5=md5)
        except VideoError as exc:
            raise VideoUnreadable(str(exc)) from None
        n = dropped = global_twins = 0
        if self.embedder is not None:
            ray.get(self.dedupe.begin_video.remote(video_id))
        try:
            for kf in stream:
                if self.embedder is not None:
                    twin, scope = ray.get(self.dedupe.check.remote(video_id, kf.index, signatures(self.embedder, [kf.image])[0]))
                    if twin is not None and scope == "video":
                        dropped += 1
                        continue
                    global_twins += twin is not None
                if not self._wait_credit(video_id):
                    break
                yield {"kind": "frame", "index": n, "ts": kf.ts, "source_index": kf.index}
                yield kf.image
                n += 1
        except VideoError as exc:
            raise VideoUnreadable(str(exc)) from None
        if self.embedder is not None:
            self.dedupe.end_video.remote(video_id)
        with self._lock:
            cancelled = video_id in self._cancelled
            self._cancelled.discard(video_id)
            self._credit.pop(video_id, None)
        yield {
            "kind": "end",
            "keyframes": n,
            "cancelled": cancelled,
            "fps": stream.fps,
            "duration_s": stream.duration_s,
            "frames_decoded": stream.frames_decoded,
            "near_duplicates": dropped,
            "global_twins": global_twins,
            # A video cut short (truncated file, over a limit): the frames before are still OCRed,
            # but the video cannot pass on a partial read.
            "error": stream.error_detail or stream.error,
        }
