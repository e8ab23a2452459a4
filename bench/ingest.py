"""Ingress benchmark: latency of `POST /v1/videos` at a fixed rate, idle vs while the pipeline
is busy, through Ray Serve's proxy and direct to the ingress replica (Serve direct ingress, as
`ray-ocr up` runs it) vs the same app on plain uvicorn, and the request rate each sustains.
Per phase it also prints where the time went (the `Server-Timing` spans the app reports) and
the CPU each Ray role spent per request.

    .venv/bin/python bench/ingest.py --quick      # ~1.5 min
    .venv/bin/python bench/ingest.py              # longer phases

Loopback only. Open-loop load (requests start on a fixed schedule, latency measured from the
scheduled start, so a stall is not hidden by the client waiting). The load generator shares
this machine's cores with Serve and the OCR workers, which is part of what is measured.
Target (issue 7): p99 < 100 ms at 50 requests/s while the pipeline is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from ray_ocr.serve import timing

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def ray_processes() -> dict[int, str]:
    """pid -> role ("ServeReplica", "ProxyActor", "TaskBuffer", ...) of this machine's Ray workers."""
    import psutil

    out = {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and cmd[0].startswith("ray::"):
            # The title names the running task while one runs ("ray::detect:<video>"): those are
            # the OCR workers and extractors.
            role = cmd[0][5:].split(".")[0].split(":")[0]
            out[p.info["pid"]] = role if role in KNOWN_ROLES else "OCR workers, extractors"
    return out


KNOWN_ROLES = {"ServeReplica", "ProxyActor", "ServeController", "TaskBuffer", "Scheduler", "DedupeIndex", "DashboardAgent", "RuntimeEnvAgent"}


class CpuMeter:
    """CPU seconds each Ray role (and this process, the load generator) spends during a phase."""

    def __init__(self) -> None:
        import os

        import psutil

        self.procs = ray_processes()
        self.procs[os.getpid()] = "load generator (this process)"
        self.handles = {}
        for pid in self.procs:
            try:
                self.handles[pid] = psutil.Process(pid)
            except psutil.Error:
                pass
        self.start = self._read()

    def _read(self) -> dict[int, float]:
        import psutil

        out = {}
        for pid, h in self.handles.items():
            try:
                t = h.cpu_times()
                out[pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def stop(self) -> dict[str, float]:
        end = self._read()
        by_role: dict[str, float] = {}
        for pid, t in end.items():
            role = self.procs[pid]
            by_role[role] = by_role.get(role, 0.0) + t - self.start.get(pid, t)
        return dict(sorted(by_role.items(), key=lambda kv: -kv[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_loop(base: str, rate: float, duration_s: float, body_for) -> dict:
    """POST at `rate`/s for `duration_s`; latency from each request's scheduled start, with the
    CPU each Ray role spent per request meanwhile. aiohttp, not httpx: on 2 cores the load
    generator's own CPU is part of what is measured, and aiohttp costs about half as much."""
    import aiohttp

    n = int(rate * duration_s)
    lat: list[float] = []
    parts: dict[str, list[float]] = {}  # Server-Timing spans, plus what lies outside the app
    codes: dict[int, int] = {}
    conn = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(base, connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as c:
        meter = CpuMeter()
        t0 = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            at = t0 + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            async with c.post("/v1/videos", json=body_for(i), headers=AUTH) as r:
                await r.read()
                status, st = r.status, r.headers.get("server-timing", "")
            total = time.perf_counter() - at
            lat.append(total)
            codes[status] = codes.get(status, 0) + 1
            spans = timing.parse(st)
            if "app" in spans:
                spans["outside_app"] = total * 1000 - spans["app"]
            for k, v in spans.items():
                parts.setdefault(k, []).append(v)

        await asyncio.gather(*(one(i) for i in range(n)))
        cpu = meter.stop()
    a = np.array(lat) * 1000
    return {"n": n, "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()), "codes": codes,
            "parts_p50_p99_ms": {k: [round(float(np.percentile(v, 50)), 2), round(float(np.percentile(v, 99)), 2)] for k, v in parts.items()},
            "cpu_ms_per_request": {k: round(1000 * v / n, 2) for k, v in cpu.items() if v > 0.001 * n}}


async def closed_loop(base: str, concurrency: int, duration_s: float, body_for) -> dict:
    """As fast as `concurrency` clients can go: the sustained requests/s."""
    import aiohttp

    done = 0
    codes: dict[int, int] = {}
    end = time.perf_counter() + duration_s
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=concurrency), timeout=aiohttp.ClientTimeout(total=30)) as c:

        async def worker(w: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < end:
                async with c.post("/v1/videos", json=body_for(w * 1_000_000 + i), headers=AUTH) as r:
                    await r.read()
                    codes[r.status] = codes.get(r.status, 0) + 1
                done += 1
                i += 1

        t = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        el = time.perf_counter() - t
    return {"requests": done, "rps": done / el, "codes": codes}


def start_uvicorn(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    return server, th


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short phases (~1.5 min in all)")
    ap.add_argument("--rate", type=float, default=50.0, help="requests/s of the open-loop phases")
    ap.add_argument("--num-cpus", type=int, default=2)
    args = ap.parse_args()
    phase_s = 4.0 if args.quick else 15.0
    busy_videos = 2 if args.quick else 4
    busy_len = 20.0 if args.quick else 40.0

    import ray

    from ray_ocr.config import ServeSettings, Settings
    from ray_ocr.serve.app import build_app
    from ray_ocr.serve.backend import Backend
    from ray_ocr.serve.deployment import deploy, shutdown
    from ray_ocr.serve.pipeline_client import RayPipeline
    from ray_ocr.training.synth_video import VideoSpec, make_video

    work = Path(tempfile.mkdtemp(prefix="ray-ocr-bench-ingest-"))
    root = work / "videos"
    root.mkdir()
    print(f"rendering sample videos in {root} ...", file=sys.stderr)
    tiny = root / "tiny.mp4"
    make_video(tiny, VideoSpec(duration_s=1.0, width=320, height=180), seed=1)
    long = []
    for i in range(busy_videos):
        p = root / f"long{i}.mp4"
        make_video(p, VideoSpec(duration_s=busy_len, width=1280, height=720, banned=[]), seed=100 + i)
        long.append(p)

    serve_port, plain_port, direct_port = free_port(), free_port(), free_port()
    settings = Settings(serve=ServeSettings(api_token=TOKEN, allowed_roots=[root], port=serve_port, direct_port=direct_port, max_replicas=1))
    data = work / "data"
    from ray_ocr.serve.direct import apply_ray_env, direct_urls

    apply_ray_env(settings.serve)  # as `ray-ocr up` does: direct ingress, gRPC proxy transport
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, namespace=settings.cluster.namespace, log_to_driver=False)
    pipe = None
    server = None
    try:
        pipe = deploy(settings, data, None, detached=False)  # as `ray-ocr up` does
        # The same app, same backend kind, on plain uvicorn in this process: the Serve overhead.
        server, _ = start_uvicorn(build_app(Backend(settings, data, RayPipeline("ray-ocr", settings.cluster.namespace))), plain_port)
        serve_base, plain_base = f"http://127.0.0.1:{serve_port}", f"http://127.0.0.1:{plain_port}"

        seq = iter(range(10**9))

        def body(_i: int) -> dict:
            # Distinct ids; a tiny clip so the submissions themselves add little OCR work.
            return {"uri": str(tiny), "video_id": f"b{next(seq)}", "submitted_at": 1.0}

        for base in (serve_base, plain_base):  # warm up connections and handles
            asyncio.run(open_loop(base, 20, 1.0, body))

        res: dict[str, dict] = {}
        direct = direct_urls("ray-ocr", "127.0.0.1")
        direct_base = direct[0] if direct else None
        if direct_base:
            asyncio.run(open_loop(direct_base, 20, 1.0, body))
        res["serve_idle"] = asyncio.run(open_loop(serve_base, args.rate, phase_s, body))
        if direct_base:
            res["direct_idle"] = asyncio.run(open_loop(direct_base, args.rate, phase_s, body))
        res["plain_idle"] = asyncio.run(open_loop(plain_base, args.rate, phase_s, body))

        # Busy: long 720p videos submitted newest, so the workers are on them during the phases.
        with httpx.Client(base_url=serve_base, timeout=30) as c:
            for p in long:
                r = c.post("/v1/videos", json={"uri": str(p)}, headers=AUTH)
                assert r.status_code == 202, r.text
            deadline = time.time() + 60
            while time.time() < deadline:
                st = c.get("/v1/stats").json()
                if st["pool"]["workers"].get("busy", 0) >= 1:
                    break
                time.sleep(0.5)
        res["serve_busy"] = asyncio.run(open_loop(serve_base, args.rate, phase_s, body))
        if direct_base:
            res["direct_busy"] = asyncio.run(open_loop(direct_base, args.rate, phase_s, body))
        res["plain_busy"] = asyncio.run(open_loop(plain_base, args.rate, phase_s, body))
        res["serve_max"] = asyncio.run(closed_loop(serve_base, 16, phase_s, body))
        if direct_base:
            res["direct_max"] = asyncio.run(closed_loop(direct_base, 16, phase_s, body))
        res["plain_max"] = asyncio.run(closed_loop(plain_base, 16, phase_s, body))
        with httpx.Client(base_url=serve_base, timeout=30) as c:
            st = c.get("/v1/stats").json()
        res["pipeline_during_busy"] = {"pool": st["pool"]["workers"], "det_frames": st["throughput"]["det_frames"], "buffer_depth": st["buffer"]["depth"]}
    finally:
        if server is not None:
            server.should_exit = True
        shutdown(pipe)

    r = res
    print(json.dumps(r, indent=1), file=sys.stderr)
    print(f"\nPOST /v1/videos at {args.rate:g} req/s, {phase_s:g} s per phase (loopback, {args.num_cpus} CPUs)")
    print(f"{'':24}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for k in ("serve_idle", "serve_busy", "direct_idle", "direct_busy", "plain_idle", "plain_busy"):
        if k not in r:
            continue
        print(f"{k:24}{r[k]['p50_ms']:9.1f}{r[k]['p99_ms']:9.1f}{r[k]['max_ms']:9.1f}   codes {r[k]['codes']}")
        print("    p50/p99 of its parts: " + ", ".join(f"{n} {a:.1f}/{b:.1f}" for n, (a, b) in r[k]["parts_p50_p99_ms"].items()))
        print("    CPU ms per request:   " + ", ".join(f"{n} {v:.1f}" for n, v in list(r[k]["cpu_ms_per_request"].items())[:7]))
    print(f"busy/idle p99 (Serve):        {r['serve_busy']['p99_ms'] / r['serve_idle']['p99_ms']:.2f}x")
    print(f"Serve/plain uvicorn p99 busy: {r['serve_busy']['p99_ms'] / r['plain_busy']['p99_ms']:.2f}x (through the proxy)")
    if "direct_busy" in r:
        print(f"                              {r['direct_busy']['p99_ms'] / r['plain_busy']['p99_ms']:.2f}x (direct to the replica)")
    rps = {k: r[f"{k}_max"]["rps"] for k in ("serve", "direct", "plain") if f"{k}_max" in r}
    print("sustained req/s (16 clients, busy): " + ", ".join(f"{k} {v:.0f}" for k, v in rps.items())
          + f" (Serve proxy/plain {rps['serve'] / rps['plain']:.2f}x" + (f", direct/plain {rps['direct'] / rps['plain']:.2f}x)" if "direct" in rps else ")"))
    for k, what in (("serve_busy", "through Serve's proxy"), ("direct_busy", "direct to the ingress replica")):
        if k in r:
            ok = r[k]["p99_ms"] < 100.0
            print(f"target p99 < 100 ms at {args.rate:g} req/s while busy, {what}: {'MET' if ok else 'MISSED'} ({r[k]['p99_ms']:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
