"""`Server-Timing` response header: where a request's time went inside the replica.

The standard header (shown by browsers' dev tools, read by bench/ingest.py) with `app` (from
the request entering the app to its response start) and any spans the handler recorded, e.g.
`pipeline` (the TaskBuffer call). Client-side latency minus `app` is what Serve's proxy, the
proxy-to-replica hop and the network cost. Spans live in a context variable set per request,
so the HTTP-free Backend records them without knowing about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_spans: ContextVar[dict[str, float] | None] = ContextVar("ray_ocr_server_timing", default=None)


@contextmanager
def span(name: str) -> Iterator[None]:
    """Add the time spent in the block to this request's `name` span (no-op outside a request)."""
    spans = _spans.get()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if spans is not None:
            spans[name] = spans.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0


def header_value(spans: dict[str, float]) -> bytes:
    return ", ".join(f"{k};dur={v:.2f}" for k, v in spans.items()).encode()


def parse(value: str) -> dict[str, float]:
    """`app;dur=1.5, pipeline;dur=0.3` -> {"app": 1.5, "pipeline": 0.3} (for clients and tests)."""
    out: dict[str, float] = {}
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "dur" and name:
                out[name] = float(v)
    return out


class ServerTiming:
    """ASGI middleware adding the header to every HTTP response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spans: dict[str, float] = {}
        token = _spans.set(spans)
        t0 = time.perf_counter()

        async def send_timed(message: dict) -> None:
            if message["type"] == "http.response.start":
                timed = {"app": (time.perf_counter() - t0) * 1000.0, **spans}
                message = {**message, "headers": [*message.get("headers", ()), (b"server-timing", header_value(timed))]}
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            _spans.reset(token)
