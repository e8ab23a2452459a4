"""`ray-ocr image` per the DESIGN.md contract, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np

from ray_ocr.training.synth import render_text

CLI = [sys.executable, "-m", "ray_ocr.cli"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, **kw)


def test_image_prints_one_json_line_per_image_with_text(tmp_path):
    paths = []
    for i, text in enumerate(["加微信领取福利", "Hello 2026"]):
        img = np.full((360, 640, 3), 40, np.uint8)
        render_text(img, text, (60, 150), 40, (255, 255, 255))
        p = tmp_path / f"图{i}.png"  # non-ASCII path on purpose
        cv2.imencode(".png", img)[1].tofile(str(p))
        paths.append(p)
    r = run("image", *map(str, paths))
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["path"] for o in out] == [str(p) for p in paths]
    assert ["".join(o["lines"][0]["text"].split()) for o in out] == ["加微信领取福利", "Hello2026"]
    first = out[0]["lines"][0]
    assert set(first) == {"text", "score", "box"} and len(first["box"]) == 4 and first["score"] > 0.8
    assert out[0]["elapsed_ms"] > 0


def test_missing_and_unreadable_files_fail_with_exit_1_but_report_the_rest(tmp_path):
    good = tmp_path / "ok.png"
    img = np.full((200, 400, 3), 30, np.uint8)
    render_text(img, "正常图片", (40, 80), 40, (255, 255, 255))
    cv2.imwrite(str(good), img)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    r = run("image", str(tmp_path / "missing.png"), str(junk), str(good))
    assert r.returncode == 1
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert out[0] == {"path": str(tmp_path / "missing.png"), "error": "not found"}
    assert out[1] == {"path": str(junk), "error": "not a readable image"}
    assert out[2]["lines"][0]["text"] == "正常图片"


def test_bad_usage_exits_2():
    assert run("image").returncode == 2
    assert run("no-such-command").returncode == 2


def test_unknown_model_set_exits_1_with_message(tmp_path):
    p = tmp_path / "x.png"
    cv2.imwrite(str(p), np.zeros((64, 64, 3), np.uint8))
    r = run("image", "--models", "nope", str(p))
    assert r.returncode == 1 and "unknown model set" in r.stderr
