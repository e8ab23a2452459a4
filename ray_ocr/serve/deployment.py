"""The Ray Serve deployment of the API, and getting the pipeline actors it talks to.

Each replica builds its own :class:`Backend` (journal/store readers, a client of the named
TaskBuffer/Scheduler) and the FastAPI app over it, late-bound through Serve's
``__serve_build_asgi_app__`` hook so nothing unpicklable is shipped from the driver.

``app_builder`` is the import path for a Serve config file (``serve deploy serve_config.yaml``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ray import serve

from ray_ocr.config import Settings, get_settings

log = logging.getLogger("ray_ocr.serve")

DEPLOYMENT_NAME = "ray-ocr-ingress"
# A per-request access-log line in the proxy and the replica costs more CPU than a submission
# itself on a small machine; errors are still logged.
SERVE_LOGGING = {"enable_access_log": False, "log_level": "WARNING"}
APP_NAME = "ray-ocr"


class IngressConfig(BaseModel):
    settings: Settings
    data_dir: str
    pipeline_name: str = "ray-ocr"


@serve.deployment(name=DEPLOYMENT_NAME)
@serve.ingress()
class Ingress:
    def __init__(self, config_json: str):
        from ray_ocr.serve.backend import Backend
        from ray_ocr.serve.pipeline_client import RayPipeline

        cfg = IngressConfig.model_validate_json(config_json)
        pipeline = RayPipeline(cfg.pipeline_name, cfg.settings.cluster.namespace)
        self.backend = Backend(cfg.settings, cfg.data_dir, pipeline)

    def __serve_build_asgi_app__(self) -> Any:
        from ray_ocr.serve.app import build_app

        return build_app(self.backend)


def deployment_options(settings: Settings) -> dict[str, Any]:
    s = settings.serve
    return {
        "autoscaling_config": {
            "min_replicas": s.min_replicas,
            "max_replicas": max(s.min_replicas, s.max_replicas),
            "target_ongoing_requests": s.target_ongoing_requests,
        },
        "max_ongoing_requests": s.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": s.replica_num_cpus},
        "logging_config": SERVE_LOGGING,
    }


def build_serve_app(settings: Settings, data_dir: str | Path, pipeline_name: str = "ray-ocr") -> Any:
    """The bound Serve application (for ``serve.run``)."""
    if not settings.serve.api_token:
        raise ValueError("the API needs a token: set RAY_OCR_API_TOKEN")
    cfg = IngressConfig(settings=settings, data_dir=str(Path(data_dir).expanduser().resolve()), pipeline_name=pipeline_name)
    return Ingress.options(**deployment_options(settings)).bind(cfg.model_dump_json())


def ensure_pipeline(data_dir: str | Path, keywords_path: str | Path | None, settings: Settings, name: str = "ray-ocr", detached: bool = True) -> Any:
    """Get or create the named TaskBuffer and Scheduler (ray_ocr.cluster), pinned to this node
    (the journal and results are files here). ``detached`` keeps them alive after this driver
    exits, which `ray-ocr serve` and a Serve config deployment need; ray_ocr.cluster.run's
    start_pipeline makes driver-owned ones."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from ray_ocr.cluster.run import Pipeline, workers_max_for
    from ray_ocr.cluster.scheduler import Scheduler, SchedulerConfig
    from ray_ocr.cluster.task_buffer import TaskBuffer

    ns = settings.cluster.namespace
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        buffer = ray.get_actor(f"{name}:buffer", namespace=ns)
        scheduler = ray.get_actor(f"{name}:scheduler", namespace=ns)
        created = False
    except ValueError:
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        common: dict[str, Any] = {"namespace": ns, "get_if_exists": True, "scheduling_strategy": here}
        if detached:
            common["lifetime"] = "detached"
        buffer = TaskBuffer.options(name=f"{name}:buffer", **common).remote(str(data_dir / "journal.sqlite"), settings.cluster.buffer_cap)
        cfg = SchedulerConfig(
            settings=settings, name=name, data_dir=str(data_dir),
            keywords_path=str(Path(keywords_path).resolve()) if keywords_path else None,
            workers_max=workers_max_for(settings),
        )
        scheduler = Scheduler.options(name=f"{name}:scheduler", **common).remote(cfg.model_dump_json())
        created = True
    ray.get(scheduler.start.remote())
    return Pipeline(buffer, scheduler, name, created)


def deploy(settings: Settings, data_dir: str | Path, keywords: str | Path | None, detached: bool, log: Any = None) -> Any:
    """Pipeline actors (created if missing) plus the Serve app on the connected cluster, HTTP
    on settings.serve. Returns the Pipeline (ray_ocr.cluster.run)."""
    from ray_ocr.serve.keyword_store import KeywordStore

    data_dir = Path(data_dir).expanduser().resolve()
    ks = KeywordStore(data_dir)
    kv = ks.bootstrap(keywords)
    if log is not None:
        log(f"keywords: version {kv.version} ({kv.count} keywords) at {ks.current_path}")
    pipe = ensure_pipeline(data_dir, ks.current_path, settings, detached=detached)
    serve.start(http_options={"host": settings.serve.host, "port": settings.serve.port}, logging_config=SERVE_LOGGING)
    serve.run(build_serve_app(settings, data_dir), name=APP_NAME, route_prefix="/", blocking=False)
    return pipe


def shutdown(pipe: Any, stop_ray: bool = True) -> None:
    """Undo deploy(): the Serve app, the pipeline actors (if given), and Ray (if asked).
    Ray prints the fate of tasks the shutdown cuts short (the Serve controller's) on stdout,
    which in our commands carries only results, so it goes to stderr here."""
    import contextlib
    import sys

    import ray

    with contextlib.redirect_stdout(sys.stderr):
        try:
            serve.shutdown()
        except Exception:  # noqa: BLE001 - Serve never came up
            pass
        if pipe is not None:
            pipe.stop()
        if stop_ray:
            ray.shutdown()


class BuilderArgs(BaseModel):
    data_dir: str | None = None
    keywords: str | None = None
    pipeline_name: str = "ray-ocr"


def app_builder(args: dict[str, Any]) -> Any:
    """Serve config entry point: settings from RAY_OCR_* env (the token included), the
    pipeline actors created detached if they are not running yet."""
    from ray_ocr.serve.keyword_store import KeywordStore

    a = BuilderArgs.model_validate(args or {})
    settings = get_settings()
    data_dir = Path(a.data_dir or settings.store.data_dir).expanduser().resolve()
    ks = KeywordStore(data_dir)
    ks.bootstrap(a.keywords)
    ensure_pipeline(data_dir, ks.current_path, settings, a.pipeline_name, detached=True)
    return build_serve_app(settings, data_dir, a.pipeline_name)
