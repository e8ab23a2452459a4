"""`ray-ocr up` as an operator runs it: a real subprocess with its own local Ray cluster, both
doors of the API answering, and a clean stop on SIGTERM (docker stop, systemd)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_up_prints_both_doors_serves_on_them_and_stops_cleanly_on_sigterm(tmp_path):
    port, direct = _free_port(), _free_port()
    env = {**os.environ, "RAY_OCR_API_TOKEN": "up-test-token", "RAY_OCR_SERVE__DIRECT_PORT": str(direct),
           "RAY_OCR_SERVE__MAX_REPLICAS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "ray_ocr.cli", "up", "--port", str(port), "--no-dashboard", "--data-dir", str(tmp_path / "data")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()  # blocks until the app is up (or the process died)
        assert line, p.stderr.read()[-3000:]
        info = json.loads(line)
        assert info["api"] == f"http://127.0.0.1:{port}" and info["token"] == "up-test-token"
        assert len(info["direct"]) == 1 and direct <= int(info["direct"][0].rsplit(":", 1)[1]) < direct + 5
        for base in (info["api"], info["direct"][0]):
            r = httpx.get(f"{base}/healthz", timeout=30)
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert "app" in r.headers["server-timing"]
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=90) == 0
        assert time.monotonic() - t0 < 60
        err = p.stderr.read()
        assert "shutting down" in err and "SIGTERM received" not in err  # our handler ran, not Ray's stack dump
        assert p.stdout.read().strip() == ""  # stdout: the one JSON line, nothing after
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
