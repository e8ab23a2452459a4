"""`ray-ocr demo` as `make demo` runs it: a real subprocess that starts a local Ray cluster with
the Serve app, submits its sample videos over HTTP and prints the verdicts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_submits_over_http_and_prints_verdicts_with_evidence(tmp_path):
    out = tmp_path / "demo"
    p = subprocess.run(
        [sys.executable, "-m", "ray_ocr.cli", "demo", "--out", str(out), "--videos", "2", "--duration", "6", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "POST /v1/videos" in p.stderr  # it went through the API, and says where
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    by_name = {line["path"].rsplit("/", 1)[-1]: line for line in lines}
    assert set(by_name) == {"sample_000.mp4", "sample_001.mp4"}, p.stdout
    banned, clean = by_name["sample_000.mp4"], by_name["sample_001.mp4"]  # even-numbered samples carry banned words
    assert banned["verdict"] == "reject" and banned["hits"], banned
    assert clean["verdict"] == "pass" and not clean["hits"], clean
    for line in lines:
        assert set(line) >= {"video_id", "path", "md5", "verdict", "hits", "keyframes", "ocr_frames", "elapsed_s"}
    for h in banned["hits"]:
        assert h["evidence"] and h["evidence"].startswith(str(out / "evidence"))
        with open(h["evidence"], "rb") as f:
            assert f.read(2) == b"\xff\xd8"  # a JPEG, downloaded from GET /v1/videos/{id}/evidence/{n}
    assert (out / "results" / "journal.sqlite").is_file()


def test_demo_bad_usage_exits_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ray_ocr.cli", "demo", "--out", str(tmp_path), "--videos", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--videos" in p.stderr
