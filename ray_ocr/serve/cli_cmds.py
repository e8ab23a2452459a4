"""`ray-ocr up` and `ray-ocr serve` (wired into ray_ocr/cli.py by the lead).

Ray, Serve and FastAPI are imported inside the commands so `ray-ocr --help` stays fast.
stdout gets one JSON line with the URLs and the token; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from ray_ocr.cli import log as _log


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="HTTP bind address (default from settings: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default from settings: 8000)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="journal, results, evidence, uploads, keyword versions")
    p.add_argument("--keywords", default=None, metavar="FILE", help="install this keyword file as the live version")
    p.add_argument("--allow-root", action="append", default=[], metavar="DIR",
                   help="directory whose files may be submitted by path (repeatable); default: uploads/URLs only")


def add_up_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("up", help="start a local Ray cluster with the pipeline and the HTTP API; blocks until Ctrl-C")
    _common(p)
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster (default: all)")
    p.add_argument("--dashboard-port", type=int, default=8265)
    p.add_argument("--no-dashboard", action="store_true")
    p.set_defaults(func=cmd_up)
    return p


def add_serve_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="deploy the HTTP API (and the pipeline actors, if missing) onto a running Ray cluster")
    _common(p)
    p.add_argument("--address", default="auto", help="Ray cluster address (default: auto)")
    p.set_defaults(func=cmd_serve)
    return p


def _prepare(args: argparse.Namespace) -> tuple[Any, Path, bool] | int:
    """Settings with the CLI overrides and a token; the data dir. An int is an exit code."""
    from ray_ocr.config import get_settings
    from ray_ocr.moderation.keywords import KeywordFileError, KeywordLibrary

    settings = get_settings()
    if args.keywords:
        try:
            KeywordLibrary.load(args.keywords)  # fail before starting anything
        except (KeywordFileError, OSError) as exc:
            _log(f"ray-ocr {args.command}: bad keyword file: {exc}")
            return 2
    roots = [Path(r).expanduser().resolve() for r in args.allow_root]
    for r in roots:
        if not r.is_dir():
            _log(f"ray-ocr {args.command}: --allow-root {r} is not a directory")
            return 2
    token = settings.serve.api_token
    generated = not token
    if generated:
        token = secrets.token_urlsafe(32)
    upd: dict[str, Any] = {"api_token": token}
    if args.host:
        upd["host"] = args.host
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            _log(f"ray-ocr {args.command}: --port must be 1-65535")
            return 2
        upd["port"] = args.port
    if roots:
        upd["allowed_roots"] = list(settings.serve.allowed_roots) + roots
    from pydantic import ValidationError

    from ray_ocr.config import ServeSettings

    try:  # validated, not model_copy'd: --port may not land in the direct-ingress range
        serve_cfg = ServeSettings.model_validate({**settings.serve.model_dump(), **upd})
    except ValidationError as exc:
        _log(f"ray-ocr {args.command}: " + "; ".join(e["msg"] for e in exc.errors()))
        return 2
    settings = settings.model_copy(update={"serve": serve_cfg})
    data_dir = Path(args.data_dir or settings.store.data_dir).expanduser().resolve()
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"data_dir": data_dir})})
    return settings, data_dir, generated


def _announce(settings: Any, data_dir: Path, generated: bool, dashboard: str | None) -> None:
    from ray_ocr.serve.deployment import APP_NAME
    from ray_ocr.serve.direct import direct_urls, ray_env

    s = settings.serve
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    base = f"http://{host}:{s.port}"
    direct = direct_urls(APP_NAME, host)
    info = {"api": base, "direct": direct, "docs": f"{base}/docs", "openapi": f"{base}/openapi.json", "dashboard": dashboard,
            "token": s.api_token, "token_generated": generated, "data_dir": str(data_dir)}
    print(json.dumps(info), flush=True)
    _log(f"API:       {base}   (docs {base}/docs; Serve's proxy: any replica, any node)")
    if direct:
        _log(f"direct:    {', '.join(direct)}   (the ingress replica itself: lowest latency, for a load balancer)")
    elif s.direct_port:
        env = " ".join(f"{k}={v}" for k, v in ray_env(s).items())
        _log(f"direct:    off on this cluster; for it, start Ray with: {env} ray start ...")
    if dashboard:
        _log(f"dashboard: {dashboard}")
    _log(f"token:     {s.api_token}" + ("   (generated; set RAY_OCR_API_TOKEN to choose one)" if generated else ""))
    _log(f'try:       curl -H "Authorization: Bearer $TOKEN" -F file=@video.mp4 {base}/v1/videos')


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_up(args: argparse.Namespace) -> int:
    prep = _prepare(args)
    if isinstance(prep, int):
        return prep
    settings, data_dir, generated = prep
    import ray

    from ray_ocr.serve.direct import apply_ray_env

    apply_ray_env(settings.serve)  # before ray.init: the local cluster's processes inherit it
    ctx = ray.init(num_cpus=args.num_cpus, include_dashboard=not args.no_dashboard, dashboard_host="127.0.0.1",
                   dashboard_port=args.dashboard_port, namespace=settings.cluster.namespace, log_to_driver=False)
    # SIGTERM (docker stop, systemd) shuts down as cleanly as Ctrl-C. Installed after ray.init,
    # whose own handler would otherwise only print a stack and skip the clean shutdown.
    signal.signal(signal.SIGTERM, _interrupt)
    pipe = None
    try:
        from ray_ocr.serve.deployment import deploy

        pipe = deploy(settings, data_dir, args.keywords, detached=False, log=_log)
        dash = getattr(ctx, "dashboard_url", None)
        _announce(settings, data_dir, generated, (f"http://{dash}" if not dash.startswith("http") else dash) if dash else None)
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        _log("shutting down ...")
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for an operator, not a traceback
        _log(f"ray-ocr up: failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        from ray_ocr.serve.deployment import shutdown

        shutdown(pipe)


def cmd_serve(args: argparse.Namespace) -> int:
    prep = _prepare(args)
    if isinstance(prep, int):
        return prep
    settings, data_dir, generated = prep
    import ray

    try:
        ray.init(address=args.address, namespace=settings.cluster.namespace, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        _log(f"ray-ocr serve: cannot reach a Ray cluster at {args.address!r}: {exc} (start one with `ray start --head`)")
        return 1
    try:
        from ray_ocr.serve.deployment import deploy

        deploy(settings, data_dir, args.keywords, detached=True, log=_log)
        _announce(settings, data_dir, generated, None)
    except Exception as exc:  # noqa: BLE001
        _log(f"ray-ocr serve: failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        ray.shutdown()  # the app and the detached pipeline actors stay on the cluster
    return 0
