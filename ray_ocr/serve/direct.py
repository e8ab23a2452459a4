"""Ray Serve direct ingress: each ingress replica also answers HTTP on a port of its own.

Through Serve's proxy a submission crosses two processes and three Ray calls (proxy -> replica,
replica -> proxy for the body, the streamed reply); on this 2-core machine that costs about
13 ms of CPU per request, and p99 at 50 req/s rose to 65-130 ms. Straight to the replica it
costs 3-4 ms and p99 stays near 25 ms, busy pipeline or not (bench/ingest.py; bench/README.md).
So the API is on both: the proxy at `serve.port` (any replica, any node: the stable address),
and each replica at a port from `serve.direct_port` up (put a load balancer there, as Ray's
HAProxy mode does; `direct_urls()` lists them).

Serve reads these flags once, at import, in every Ray process (and the raylet reads the
workers' niceness when it starts them), so they must be in the raylet's environment: set before `ray.init()` starts a local cluster (`ray-ocr up`, the demo,
the tests), or on the `ray start` line of a real cluster (cluster.yaml).
"""

from __future__ import annotations

import os
from typing import Any

from ray_ocr.config import ServeSettings


def ray_env(s: ServeSettings) -> dict[str, str]:
    """Environment for the Ray processes that makes Serve run the ingress as configured."""
    env = {
        # The proxy's calls to replicas over gRPC rather than Ray actor calls: ~20% less CPU
        # per proxied request (bench/ingest.py).
        "RAY_SERVE_USE_GRPC_BY_DEFAULT": "1",
        # Ray starts every worker process at nice 15, the HTTP ingress included, which made
        # ClusterSettings' nice values no-ops (they only ever lower priority). From 0 the
        # ladder holds: ingress and TaskBuffer 0, scheduler 5, OCR 10 plus SCHED_IDLE.
        "RAY_worker_niceness": "0",
    }
    if s.direct_port:
        env.update({
            "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(s.direct_ports().start),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(s.direct_ports().stop - 1),
            # How long a stopping replica keeps answering on its port so a load balancer can
            # take it out; Serve's 30 s default would make every shutdown of `ray-ocr up` slow.
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": f"{s.direct_drain_s:g}",
        })
    return env


def apply_ray_env(s: ServeSettings) -> dict[str, str]:
    """Put ray_env() into this process's environment, which a local cluster started next
    inherits. A variable the operator already set wins. Returns what is in effect."""
    for k, v in ray_env(s).items():
        os.environ.setdefault(k, v)
    return {k: os.environ[k] for k in ray_env(s)}


def direct_urls(app_name: str, host: str | None = None) -> list[str]:
    """http://host:port of each running replica of `app_name` that serves HTTP itself; empty
    when direct ingress is off on this cluster. `host` replaces the node IP Serve reports (a
    replica binds Serve's HTTP host, 127.0.0.1 by default). Needs a connected Ray driver."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        # The target list Serve publishes for load balancers (ray.serve.schema.TargetGroup).
        groups: list[Any] = ray.get(controller.get_target_groups.remote(app_name), timeout=10)
    except Exception:  # noqa: BLE001 - no Serve running: no direct URLs
        return []
    return sorted({
        f"http://{host or t.ip}:{t.port}"
        for g in groups if str(getattr(g.protocol, "value", g.protocol)).upper() == "HTTP"
        # With direct ingress off the targets are the proxies instead.
        for t in g.targets if t.name.startswith("SERVE_REPLICA")
    })
