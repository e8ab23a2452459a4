"""`ray-ocr demo` end to end over the HTTP API, as a platform would use it.

Starts a local Ray cluster (or joins `address`) with the pipeline and the Serve app, submits
each sample video with `POST /v1/videos`, polls `GET /v1/videos/{id}` until it has a verdict,
downloads each hit's marked-up frame from `GET /v1/videos/{id}/evidence/{n}`, and yields one
line per video in the shape of `ray-ocr run` (DESIGN.md), evidence paths pointing at the
downloaded JPEGs.
"""

from __future__ import annotations

import secrets
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ray_ocr.config import Settings, get_settings

FINISHED = {"done", "error", "expired"}


class DemoError(RuntimeError):
    """The API refused a sample video or did not finish it in time (the message says which)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_settings(videos_dir: Path, base: Settings | None = None) -> Settings:
    """The demo's server: loopback, a fresh token, free ports (a running `ray-ocr up` keeps its
    own), only the sample videos' directory submittable by path."""
    s = base or get_settings()
    serve_cfg = s.serve.model_copy(update={
        "host": "127.0.0.1", "port": _free_port(), "direct_port": _free_port(), "api_token": secrets.token_urlsafe(24),
        "allowed_roots": [videos_dir.resolve()], "max_replicas": 1,
    })
    return s.model_copy(update={"serve": serve_cfg})


def result_line(status: dict[str, Any], path: Path, evidence: list[str | None]) -> dict[str, Any]:
    """A `GET /v1/videos/{id}` answer in `ray-ocr run`'s line format."""
    hits = [{"keyword": h["keyword"], "ts": h["ts"], "text": h["text"], "evidence": evidence[i] if i < len(evidence) else None}
            for i, h in enumerate(status.get("hits") or [])]
    line = {
        "video_id": status["video_id"], "path": str(path), "md5": status.get("md5"), "verdict": status.get("verdict"),
        "hits": hits, "keyframes": status.get("keyframes"), "ocr_frames": status.get("ocr_frames"),
        "elapsed_s": (status.get("timings") or {}).get("total_s"),
    }
    if status.get("reason"):
        line["reason"] = status["reason"]
    return line


def demo_over_http(
    paths: Sequence[Path], keywords: Path, out_dir: Path, address: str | None = None, progress: bool = True,
    timeout_s: float = 900.0, settings: Settings | None = None, log: Any = None,
) -> Iterator[dict[str, Any]]:
    import httpx
    from tqdm import tqdm

    from ray_ocr.cluster.run import ensure_ray, video_id_for
    from ray_ocr.serve.deployment import deploy, shutdown
    from ray_ocr.serve.direct import apply_ray_env

    say = log or (lambda m: print(m, file=sys.stderr))
    paths = [Path(p).resolve() for p in paths]
    settings = settings or demo_settings(paths[0].parent)
    if address is None:
        apply_ray_env(settings.serve)  # the local cluster started next inherits it
    own = ensure_ray(address, settings)
    pipe = None
    try:
        pipe = deploy(settings, out_dir / "results", keywords, detached=False, log=say)
        base = f"http://127.0.0.1:{settings.serve.port}"
        say(f"API: {base} (docs {base}/docs); submitting {len(paths)} video(s) with POST /v1/videos")
        auth = {"Authorization": f"Bearer {settings.serve.api_token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
            pending: dict[str, Path] = {}  # video_id -> sample, until it has a verdict
            for p in paths:
                r = c.post("/v1/videos", json={"uri": str(p), "video_id": video_id_for(p)})
                if r.status_code != 202:
                    raise DemoError(f"POST /v1/videos for {p.name} answered {r.status_code}: {r.text[:300]}")
                pending[r.json()["video_id"]] = p
            deadline = time.monotonic() + timeout_s
            with tqdm(total=len(pending), file=sys.stderr, unit="video", disable=not progress, desc="ray-ocr demo") as bar:
                while pending:
                    if time.monotonic() > deadline:
                        raise DemoError(f"{len(pending)} video(s) without a verdict after {timeout_s:g} s: {sorted(pending)}")
                    for vid, p in list(pending.items()):
                        st = c.get(f"/v1/videos/{vid}").json()
                        if st.get("state") not in FINISHED:
                            continue
                        del pending[vid]
                        bar.update(1)
                        bar.set_postfix_str(f"{st.get('verdict')} {p.name}", refresh=False)
                        yield result_line(st, p, _download_evidence(c, st, out_dir / "evidence"))
                    if pending:
                        time.sleep(0.5)
    finally:
        shutdown(pipe, stop_ray=own)


def _download_evidence(c: Any, status: dict[str, Any], dest: Path) -> list[str | None]:
    out: list[str | None] = []
    for i, h in enumerate(status.get("hits") or []):
        if not h.get("evidence"):
            out.append(None)
            continue
        r = c.get(h["evidence"])
        if r.status_code != 200 or r.headers.get("content-type") != "image/jpeg":
            out.append(None)
            continue
        dest.mkdir(parents=True, exist_ok=True)
        f = dest / f"{status['video_id']}-{i}.jpg"
        f.write_bytes(r.content)
        out.append(str(f))
    return out
