"""Driver API: start (or join) the pipeline's actors, submit videos, stream verdicts back.

    for r in run_videos(["a.mp4", "b.mp4"], "keywords.txt", "out/"):
        print(r.verdict, r.hits)

Local by default (`ray.init()` on this machine); `address="auto"` or "ray://..." joins a
cluster. The TaskBuffer and Scheduler are named actors (`<name>:buffer`, `<name>:scheduler`,
namespace from ClusterSettings) pinned to the driver's node, because the journal and results
are files under `out_dir` there.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ray_ocr.cluster.scheduler import Scheduler, SchedulerConfig
from ray_ocr.cluster.task_buffer import TaskBuffer
from ray_ocr.config import Settings, get_settings
from ray_ocr.schemas import VideoResult, VideoTask

log = logging.getLogger("ray_ocr.run")


@dataclass
class Pipeline:
    buffer: Any
    scheduler: Any
    name: str
    created: bool  # this driver made the actors (and so removes them when done)

    def stop(self) -> None:
        for h in (self.scheduler, self.buffer):
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def video_id_for(path: str | Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:80].strip("._-") or "video"
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def ensure_ray(address: str | None, settings: Settings, num_cpus: int | None = None) -> bool:
    """Connect (or start a local cluster). Returns True when this call started/joined Ray."""
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"namespace": settings.cluster.namespace, "log_to_driver": False}
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kw)
    return True


def workers_max_for(settings: Settings) -> int:
    cs = settings.cluster
    if cs.workers_max:
        return cs.workers_max
    cpus = ray.cluster_resources().get("CPU", 1.0)
    return max(1, int(cpus // cs.cpus_per_worker))


def start_pipeline(
    data_dir: str | Path,
    keywords_path: str | Path | None,
    settings: Settings | None = None,
    name: str = "ray-ocr",
) -> Pipeline:
    """Get or create the named TaskBuffer + Scheduler (Ray must be initialised)."""
    settings = settings or get_settings()
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ns = ray.get_runtime_context().namespace
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    try:
        buffer = ray.get_actor(f"{name}:buffer", namespace=ns)
        scheduler = ray.get_actor(f"{name}:scheduler", namespace=ns)
        created = False
    except ValueError:
        buffer = TaskBuffer.options(name=f"{name}:buffer", get_if_exists=True, scheduling_strategy=here).remote(
            str(data_dir / "journal.sqlite"), settings.cluster.buffer_cap
        )
        cfg = SchedulerConfig(
            settings=settings,
            name=name,
            data_dir=str(data_dir),
            keywords_path=str(Path(keywords_path).resolve()) if keywords_path else None,
            workers_max=workers_max_for(settings),
        )
        scheduler = Scheduler.options(name=f"{name}:scheduler", get_if_exists=True, scheduling_strategy=here).remote(
            cfg.model_dump_json()
        )
        created = True
    ray.get(scheduler.start.remote())
    return Pipeline(buffer, scheduler, name, created)


def submit(pipeline: Pipeline, paths: Sequence[str | Path], submitted_at: Sequence[float] | None = None) -> list[VideoTask]:
    tasks = []
    now = time.time()
    for i, p in enumerate(paths):
        # Paths are absolute so the extractor on any node of a shared filesystem finds them.
        t = submitted_at[i] if submitted_at is not None else now + i * 1e-6
        tasks.append(VideoTask(video_id=video_id_for(p), uri=str(Path(p).expanduser().absolute()), submitted_at=t))
    ray.get(pipeline.buffer.submit.remote([t.model_dump(mode="json") for t in tasks]))
    return tasks


def collect(pipeline: Pipeline, video_ids: Sequence[str], progress: bool = False, timeout_s: float | None = None) -> Iterator[VideoResult]:
    """Yield results as they finish until every id has one (or timeout_s passes)."""
    from tqdm import tqdm

    pending = set(video_ids)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last_poke = 0.0
    bar = tqdm(total=len(pending), file=sys.stderr, unit="video", disable=not progress, desc="ray-ocr")
    try:
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} video(s) unfinished after {timeout_s}s: {sorted(pending)[:5]}")
            if time.monotonic() - last_poke > 2.0:
                # A restarted scheduler resumes its loop on the first call it gets.
                pipeline.scheduler.start.remote()
                last_poke = time.monotonic()
            try:
                got = ray.get(pipeline.buffer.wait_results.remote(sorted(pending), 1.0))
            except ray.exceptions.RayActorError:
                time.sleep(0.5)  # buffer restarting from its journal
                continue
            for d in got:
                r = VideoResult.model_validate(d)
                if r.video_id in pending:
                    pending.discard(r.video_id)
                    bar.update(1)
                    bar.set_postfix_str(f"{r.verdict.value} {Path(r.path).name}", refresh=False)
                    yield r
    finally:
        bar.close()


def run_videos(
    paths: Sequence[str | Path],
    keywords_path: str | Path | None,
    out_dir: str | Path,
    address: str | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    name: str = "ray-ocr",
    num_cpus: int | None = None,
    keep_actors: bool = False,
) -> Iterator[VideoResult]:
    """Process videos on Ray and yield a VideoResult per video as each finishes."""
    settings = settings or get_settings()
    if keywords_path is not None and not Path(keywords_path).is_file():
        raise FileNotFoundError(f"keyword file not found: {keywords_path}")
    own = ensure_ray(address, settings, num_cpus)
    pipe = None
    try:
        pipe = start_pipeline(out_dir, keywords_path, settings, name)
        tasks = submit(pipe, paths)
        yield from collect(pipe, [t.video_id for t in tasks], progress=progress)
    finally:
        if pipe is not None and pipe.created and not keep_actors:
            pipe.stop()
        if own:
            ray.shutdown()


def result_json(r: VideoResult) -> dict[str, Any]:
    """The `ray-ocr run` output line (DESIGN.md contract), plus reason/duplicate_of when set."""
    out: dict[str, Any] = {
        "video_id": r.video_id,
        "path": r.path,
        "md5": r.md5,
        "verdict": r.verdict.value,
        "hits": [{"keyword": h.keyword, "ts": round(h.ts, 3), "text": h.text, "evidence": h.evidence} for h in r.hits],
        "keyframes": r.keyframes,
        "ocr_frames": r.ocr_frames,
        "elapsed_s": r.elapsed_s,
    }
    if r.reason:
        out["reason"] = r.reason
    if r.duplicate_of:
        out["duplicate_of"] = r.duplicate_of
    return out
