"""How the ingress talks to the pipeline: the named TaskBuffer/Scheduler actors, or (for tests
and `build_app` without Ray) the TaskBuffer's own Ray-free core in-process."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from ray_ocr.schemas import VideoTask

log = logging.getLogger("ray_ocr.serve")


class PipelineUnavailable(Exception):
    """The pipeline actors cannot be reached (not started, restarting, or gone)."""


class PipelineClient(Protocol):
    async def submit(self, task: VideoTask) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...

    async def keywords_changed(self, path: Path) -> bool: ...

    async def ping(self) -> None: ...


class LocalPipeline:
    """The TaskBuffer logic (BufferCore) in this process, without a scheduler: tasks are
    journaled and queued but nobody runs them. For API tests and schema fuzzing."""

    def __init__(self, journal_path: str | Path, cap: int = 10_000):
        from ray_ocr.cluster.task_buffer import BufferCore

        self.core = BufferCore(journal_path, cap)
        self._lock = threading.Lock()  # TaskQueue is not thread-safe; calls run in worker threads

    def _submit(self, task: VideoTask) -> dict[str, Any]:
        with self._lock:
            return self.core.submit(task)

    async def submit(self, task: VideoTask) -> dict[str, Any]:
        return await asyncio.to_thread(self._submit, task)

    async def stats(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with self._lock:
                q = self.core.queue
                return {"depth": len(q), "cap": q.cap, "expired_total": q.expired_total, "counts": self.core.journal.counts()}

        return {"buffer": await asyncio.to_thread(read), "scheduler": None}

    async def keywords_changed(self, path: Path) -> bool:
        return False  # no scheduler here to tell

    async def ping(self) -> None:
        return None


class RayPipeline:
    """Named actors ``<name>:buffer`` and ``<name>:scheduler`` (ray_ocr.cluster.run) in
    ``namespace``; handles are looked up lazily and dropped when a call says they are gone."""

    def __init__(self, name: str = "ray-ocr", namespace: str = "ray-ocr", call_timeout_s: float = 10.0):
        self.name = name
        self.namespace = namespace
        self.timeout = call_timeout_s
        self._handles: dict[str, Any] = {}

    def _actor(self, role: str) -> Any:
        h = self._handles.get(role)
        if h is None:
            import ray

            try:
                h = ray.get_actor(f"{self.name}:{role}", namespace=self.namespace)
            except ValueError:
                raise PipelineUnavailable(f"pipeline actor {self.name}:{role} is not running (start it with `ray-ocr up` or `ray-ocr serve`)") from None
            self._handles[role] = h
        return h

    async def _call(self, role: str, method: str, *args: Any, timeout: float | None = None) -> Any:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError

        h = self._actor(role)
        try:
            return await asyncio.wait_for(getattr(h, method).remote(*args), timeout or self.timeout)
        except (TimeoutError, GetTimeoutError):
            raise PipelineUnavailable(f"{self.name}:{role} did not answer within {timeout or self.timeout:g} s") from None
        except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
            self._handles.pop(role, None)
            raise PipelineUnavailable(f"{self.name}:{role} is unavailable: {type(exc).__name__}") from None

    async def submit(self, task: VideoTask) -> dict[str, Any]:
        out = await self._call("buffer", "submit", [task.model_dump(mode="json")])
        return out[0]

    async def stats(self) -> dict[str, Any]:
        buf, sched = await asyncio.gather(self._call("buffer", "stats"), self._call("scheduler", "stats"), return_exceptions=True)
        if isinstance(buf, BaseException):
            raise buf if isinstance(buf, PipelineUnavailable) else PipelineUnavailable(str(buf))
        return {"buffer": buf, "scheduler": None if isinstance(sched, BaseException) else sched}

    async def keywords_changed(self, path: Path) -> bool:
        """Make the Scheduler use the keyword file at ``path`` from the next video on.

        Uses ``Scheduler.reload_keywords(path)`` when the cluster provides it; otherwise
        restarts the Scheduler actor (Ray restarts it with its constructor arguments, it
        re-reads its keyword file -- which `ray-ocr up/serve` point at ``path`` -- and resumes
        the videos the journal says were running). True once the pipeline confirmed."""
        import ray

        sched = self._actor("scheduler")
        try:
            reload = sched.reload_keywords
        except AttributeError:
            reload = None
        if reload is not None:
            await self._call("scheduler", "reload_keywords", str(path), timeout=60.0)
            return True
        log.warning("Scheduler has no reload_keywords(); restarting it so it reads %s", path)
        ray.kill(sched, no_restart=False)
        # Calls to a restarting actor wait for it (max_task_retries=-1); start() resumes its loop.
        await self._call("scheduler", "start", timeout=120.0)
        return True

    async def ping(self) -> None:
        await self._call("buffer", "get", "__healthz__", timeout=5.0)
