"""The FastAPI app in-process (no Ray): build_app over the real Backend, journal, store and
keyword store, with the TaskBuffer's own core as the pipeline. Real HTTP against a running
Serve app is in test_serve_http.py."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from ray_ocr.config import ServeSettings, Settings
from ray_ocr.schemas import TaskState, Verdict, VideoHit, VideoResult, VideoTask
from ray_ocr.serve.app import build_app
from ray_ocr.serve.backend import Backend
from ray_ocr.serve.errors import ApiError
from ray_ocr.serve.ingest import resolve_allowed_path
from ray_ocr.serve.keyword_store import KeywordStore, VersionConflict
from ray_ocr.serve.pipeline_client import LocalPipeline

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Smallest thing the container sniffer takes for an MP4 (the pipeline is not run here).
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 1000
LIMIT = 64 * 1024


@pytest.fixture()
def env(tmp_path: Path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "a.mp4").write_bytes(FAKE_MP4)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(FAKE_MP4)
    os.symlink(outside, root / "escape.mp4")
    os.symlink(root / "a.mp4", root / "inner-link.mp4")
    settings = Settings(serve=ServeSettings(api_token=TOKEN, allowed_roots=[root], max_upload_bytes=LIMIT, allow_url_fetch=False))
    data = tmp_path / "data"
    backend = Backend(settings, data, LocalPipeline(data / "journal.sqlite"))
    return {"root": root, "outside": outside, "backend": backend, "app": build_app(backend), "data": data}


def call(app, method: str, url: str, **kw) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.request(method, url, **kw)

    return asyncio.run(go())


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in r.text
    return body


# ------------------------------------------------------------------ paths


def test_allowed_path_resolution(env):
    root = env["root"]
    assert resolve_allowed_path(str(root / "a.mp4"), [root]) == (root / "a.mp4").resolve()
    # A link that stays inside the root is fine, and the task gets the real path.
    assert resolve_allowed_path(str(root / "inner-link.mp4"), [root]) == (root / "a.mp4").resolve()
    assert resolve_allowed_path("file://" + str(root / "a.mp4"), [root]) == (root / "a.mp4").resolve()
    for bad, code in [
        (str(root / ".." / "outside.mp4"), "forbidden_path"),
        (str(root / "sub" / ".." / "a.mp4"), "forbidden_path"),  # '..' refused even when it would land inside
        (str(root / "escape.mp4"), "forbidden_path"),  # symlink out of the root
        (str(env["outside"]), "forbidden_path"),
        ("videos/a.mp4", "forbidden_path"),  # relative
        ("file://evil.host/etc/passwd", "forbidden_path"),
        (str(root / "missing.mp4"), "uri_not_found"),
    ]:
        with pytest.raises(ApiError) as ei:
            resolve_allowed_path(bad, [root])
        assert ei.value.code == code, bad
    with pytest.raises(ApiError) as ei:
        resolve_allowed_path(str(root / "a.mp4"), [])
    assert ei.value.code == "forbidden_path"


def test_path_submission_and_traversal_over_the_app(env):
    app, root = env["app"], env["root"]
    r = call(app, "POST", "/v1/videos", json={"uri": str(root / "a.mp4"), "video_id": "vid-1"}, headers=AUTH)
    assert r.status_code == 202 and r.json() == {"video_id": "vid-1", "state": "queued"}
    rec = env["backend"].journal.get("vid-1")
    assert rec is not None and rec.uri == str((root / "a.mp4").resolve())
    assert_error(call(app, "POST", "/v1/videos", json={"uri": str(root / ".." / "outside.mp4")}, headers=AUTH), 403, "forbidden_path")
    assert_error(call(app, "POST", "/v1/videos", json={"uri": str(root / "escape.mp4")}, headers=AUTH), 403, "forbidden_path")
    # Same id again: a conflict, and the first task is untouched.
    assert_error(call(app, "POST", "/v1/videos", json={"uri": str(root / "a.mp4"), "video_id": "vid-1"}, headers=AUTH), 409, "video_id_exists")
    # URL fetch is switched off in this app.
    assert_error(call(app, "POST", "/v1/videos", json={"uri": "http://127.0.0.1:9/x.mp4"}, headers=AUTH), 403, "url_fetch_disabled")
    assert_error(call(app, "POST", "/v1/videos", json={"uri": "ftp://host/x.mp4"}, headers=AUTH), 422, "invalid_uri")


# ------------------------------------------------------------------ auth and validation


def test_token_required_for_writes_evidence_and_search(env):
    app = env["app"]
    for method, url, kw in [
        ("POST", "/v1/videos", {"json": {"uri": "/x"}}),
        ("PUT", "/v1/keywords", {"json": {"text": ""}}),
        ("POST", "/v1/videos/v/review", {"json": {"decision": "pass", "reviewer": "r"}}),
        ("GET", "/v1/videos/v/evidence/0", {}),
        ("GET", "/v1/search?q=a", {}),
    ]:
        assert_error(call(app, method, url, **kw), 401, "missing_token")
        r = call(app, method, url, headers={"Authorization": "Bearer wrong"}, **kw)
        assert_error(r, 401, "invalid_token")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert_error(call(app, method, url, headers={"Authorization": f"Basic {TOKEN}"}, **kw), 401, "invalid_token")
    # Reads of state are open.
    assert call(app, "GET", "/v1/keywords").status_code == 200
    assert call(app, "GET", "/healthz").json()["status"] == "ok"


def test_validation_errors_have_the_error_shape(env):
    app, root = env["app"], env["root"]
    assert_error(call(app, "POST", "/v1/videos", content=b"{not json", headers={**AUTH, "content-type": "application/json"}), 400, "invalid_json")
    b = assert_error(call(app, "POST", "/v1/videos", json={"uri": str(root / "a.mp4"), "colour": "red"}, headers=AUTH), 422, "invalid_request")
    assert "colour" in b["error"]["message"]
    assert_error(call(app, "POST", "/v1/videos", json={"video_id": "x"}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", json=["a"], headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", json={"uri": str(root / "a.mp4"), "video_id": "../etc"}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", content=b"uri=x", headers={**AUTH, "content-type": "application/x-www-form-urlencoded"}), 415, "unsupported_media_type")
    # FastAPI's own body validation (review) maps to the same shape.
    assert_error(call(app, "POST", "/v1/videos/v1/review", json={"decision": "maybe", "reviewer": "r"}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos/v1/review", json={"decision": "pass", "reviewer": "r", "extra": 1}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos/v1/review", content=b"{", headers={**AUTH, "content-type": "application/json"}), 400, "invalid_json")
    assert_error(call(app, "GET", "/v1/videos/bad%20id"), 422, "invalid_request")
    assert_error(call(app, "GET", "/v1/videos/nope"), 404, "video_not_found")
    assert_error(call(app, "GET", "/no/such/route"), 404, "not_found")
    assert_error(call(app, "DELETE", "/v1/keywords"), 405, "method_not_allowed")
    assert_error(call(app, "GET", "/v1/search", headers=AUTH), 422, "invalid_request")


# ------------------------------------------------------------------ uploads


def test_upload_is_spooled_with_md5_and_bad_uploads_leave_nothing(env):
    app, data = env["app"], env["data"]
    r = call(app, "POST", "/v1/videos", files={"file": ("a.mp4", FAKE_MP4)}, data={"video_id": "up-1", "metadata": '{"src": "t"}'}, headers=AUTH)
    assert r.status_code == 202, r.text
    rec = env["backend"].journal.get("up-1")
    assert Path(rec.uri).read_bytes() == FAKE_MP4 and Path(rec.uri).parent == (data / "uploads").resolve()
    assert rec.task().metadata == {"src": "t"}
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("e.mp4", b"")}, headers=AUTH), 400, "empty_upload")
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("t.mp4", b"<html>" + b"x" * 2000)}, headers=AUTH), 415, "not_a_video")
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("big.mp4", FAKE_MP4 + b"\0" * LIMIT)}, headers=AUTH), 413, "payload_too_large")
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("a.mp4", FAKE_MP4)}, data={"colour": "red"}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", data={"video_id": "x"}, files={"other": ("a", b"1")}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("a.mp4", FAKE_MP4)}, data={"metadata": "[1"}, headers=AUTH), 422, "invalid_request")
    assert_error(call(app, "POST", "/v1/videos", files={"file": ("a.mp4", FAKE_MP4)}, data={"video_id": "up-1"}, headers=AUTH), 409, "video_id_exists")
    # Only the one accepted upload is left; rejected ones were removed, partial files too.
    assert [p.name for p in (data / "uploads").iterdir()] == [Path(rec.uri).name]


def test_chunked_upload_over_limit_is_cut_off_while_streaming(env):
    """No Content-Length: the body arrives in chunks and the 413 comes before the client has
    sent it all (the generator is not exhausted)."""
    sent = {"chunks": 0}
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + FAKE_MP4

    async def body():
        yield head
        for _ in range(1000):  # 1000 x 16 KiB = 16 MiB, far over the 64 KiB limit
            sent["chunks"] += 1
            yield b"\0" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    r = call(env["app"], "POST", "/v1/videos", content=body(), headers={**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert_error(r, 413, "payload_too_large")
    assert sent["chunks"] < 20, sent
    assert not any((env["data"] / "uploads").iterdir())


def test_declared_content_length_over_limit_is_refused_unread(env):
    r = call(env["app"], "PUT", "/v1/keywords", content=b"x" * 10, headers={**AUTH, "content-type": "application/json", "content-length": str(10**9)})
    assert_error(r, 413, "payload_too_large")
    r = call(env["app"], "POST", "/v1/videos", json={"uri": "x" * 70_000}, headers=AUTH)  # JSON limit is 64 KiB
    assert_error(r, 413, "payload_too_large")


# ------------------------------------------------------------------ results, duplicates, evidence, review


def _finish(backend: Backend, vid: str, uri: str, md5: str, verdict: Verdict, evidence: Path | None) -> None:
    """What the Scheduler does at the end of a video: store the result, then finish it."""
    from ray_ocr.cluster.task_buffer import BufferCore

    core: BufferCore = backend.pipeline.core  # type: ignore[attr-defined]
    core.submit(VideoTask(video_id=vid, uri=uri))
    core.pop()
    hits = [VideoHit(keyword="赌博", category="gambling", ts=1.5, text="来赌博", evidence=str(evidence) if evidence else None, frame_index=3)] if verdict is Verdict.REJECT else []
    res = VideoResult(video_id=vid, path=uri, md5=md5, verdict=verdict, hits=hits, timings={"total_s": 1.0})
    from ray_ocr.store.results import FrameText
    from ray_ocr.schemas import TextLine

    backend.store.write_result(res, [FrameText(3, 1.5, [TextLine(text="来赌博", score=0.9, box=[[0, 0], [1, 0], [1, 1], [0, 1]])])])
    core.finish(res)


def test_status_evidence_duplicate_review_and_search(env):
    import hashlib

    app, backend, data = env["app"], env["backend"], env["data"]
    md5 = hashlib.md5(FAKE_MP4).hexdigest()
    ev = data / "evidence" / "orig" / "000003.jpg"
    ev.parent.mkdir(parents=True)
    ev.write_bytes(b"\xff\xd8\xff\xe0jpeg")
    _finish(backend, "orig", str(env["root"] / "a.mp4"), md5, Verdict.REJECT, ev)

    st = call(app, "GET", "/v1/videos/orig").json()
    assert st["state"] == "done" and st["verdict"] == "reject" and st["timings"] == {"total_s": 1.0}
    assert st["hits"][0]["evidence"] == "/v1/videos/orig/evidence/0" and st["hits"][0]["keyword"] == "赌博"
    r = call(app, "GET", "/v1/videos/orig/evidence/0", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == ev.read_bytes()
    assert_error(call(app, "GET", "/v1/videos/orig/evidence/1", headers=AUTH), 404, "evidence_not_found")

    # Same bytes uploaded again: the earlier verdict at once, recorded as a duplicate.
    r = call(app, "POST", "/v1/videos", files={"file": ("again.mp4", FAKE_MP4)}, data={"video_id": "again"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "duplicate" and r.json()["duplicate_of"] == "orig" and r.json()["hits"][0]["keyword"] == "赌博"
    st2 = call(app, "GET", "/v1/videos/again").json()
    assert st2["state"] == "done" and st2["verdict"] == "duplicate" and st2["duplicate_of"] == "orig"
    assert backend.journal.get("again").state is TaskState.DUPLICATE

    # Review round trip; the human pass of a machine reject lands in the relabel package.
    assert_error(call(app, "POST", "/v1/videos/nope/review", json={"decision": "pass", "reviewer": "ann"}, headers=AUTH), 404, "video_not_found")
    r = call(app, "POST", "/v1/videos/orig/review", json={"decision": "pass", "reviewer": "ann", "note": "a news report"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["decision"] == "pass"
    assert call(app, "GET", "/v1/videos/orig").json()["review"]["reviewer"] == "ann"
    from ray_ocr.store.results import utc_day
    import time

    assert [v["video_id"] for v in backend.store.false_positives(utc_day(time.time()))] == ["orig"]

    # A queued video cannot be reviewed yet.
    call(app, "POST", "/v1/videos", json={"uri": str(env["root"] / "a.mp4"), "video_id": "q1"}, headers=AUTH)
    assert_error(call(app, "POST", "/v1/videos/q1/review", json={"decision": "reject", "reviewer": "ann"}, headers=AUTH), 409, "not_finished")

    s = call(app, "GET", "/v1/search", params={"q": "赌博"}, headers=AUTH).json()
    assert [(x["video_id"], x["text"]) for x in s["results"]] == [("orig", "来赌博")]
    assert call(app, "GET", "/v1/search", params={"q": "nothing-like-this"}, headers=AUTH).json()["results"] == []


# ------------------------------------------------------------------ keywords


def test_keyword_store_versions_and_validation(tmp_path: Path):
    ks = KeywordStore(tmp_path)
    v1 = ks.bootstrap()
    assert v1.version == 1 and v1.count == 0 and ks.current_path.read_text() == ""
    v2 = ks.put("赌博\tgambling\n# c\n加微信\tad\n")
    assert v2.version == 2 and v2.count == 2 and "加微信" in ks.current_path.read_text()
    assert ks.put("加微信\tad\n赌博\tgambling\n").version == 2  # same entries, other order: no new version
    from ray_ocr.moderation.keywords import KeywordFileError

    with pytest.raises(KeywordFileError):
        ks.put("ok\n\tno-keyword\n")
    with pytest.raises(VersionConflict):
        ks.put("x1\n", expected_version=1)
    assert ks.get()[0].version == 2 and ks.versions() == [1, 2]


def test_keywords_endpoint(env):
    app = env["app"]
    k = call(app, "GET", "/v1/keywords").json()
    assert k["version"] == 1 and k["text"] == ""
    b = assert_error(call(app, "PUT", "/v1/keywords", json={"text": "好词\tok\n\tmissing\n好词\tdup\nx\n"}, headers=AUTH), 422, "invalid_keywords")
    assert [d["line"] for d in b["error"]["details"]] == [2, 3, 4]
    r = call(app, "PUT", "/v1/keywords", json={"text": "赌博网站\tgambling\n", "expected_version": 1}, headers=AUTH)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["count"] == 1
    assert_error(call(app, "PUT", "/v1/keywords", json={"text": "a1\n", "expected_version": 1}, headers=AUTH), 409, "version_conflict")
    assert_error(call(app, "PUT", "/v1/keywords", json={"txt": "a1\n"}, headers=AUTH), 422, "invalid_request")
    assert call(app, "GET", "/v1/keywords").json()["text"] == "赌博网站\tgambling\n"
    assert (env["data"] / "keywords" / "current.txt").read_text() == "赌博网站\tgambling\n"


def test_unexpected_exception_is_a_500_without_traceback(env, caplog):
    backend = env["backend"]

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    backend._status = boom  # type: ignore[method-assign]
    r = call(env["app"], "GET", "/v1/videos/x")
    b = assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and "request" in b["error"]["message"]
    assert "secret internals" in caplog.text  # logged server-side


def test_openapi_docs_served(env):
    spec = call(env["app"], "GET", "/openapi.json").json()
    for path in ["/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/evidence/{n}", "/v1/videos/{video_id}/review",
                 "/v1/keywords", "/v1/search", "/v1/stats", "/healthz"]:
        assert path in spec["paths"], path
    assert set(spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert call(env["app"], "GET", "/docs").status_code == 200


def test_serve_config_yaml_is_a_valid_deploy_config():
    import importlib

    import yaml
    from ray.serve.schema import ServeDeploySchema

    from ray_ocr.serve import deployment

    path = Path(deployment.__file__).with_name("serve_config.yaml")
    cfg = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    app = cfg.applications[0]
    mod, _, attr = app.import_path.partition(":")
    assert callable(getattr(importlib.import_module(mod), attr))
    assert [d.name for d in app.deployments] == [deployment.DEPLOYMENT_NAME]
    deployment.BuilderArgs.model_validate(app.args)


def test_cli_parsers_register_without_importing_ray():
    import argparse
    import subprocess
    import sys

    from ray_ocr.serve.cli_cmds import add_serve_parser, add_up_parser

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_up_parser(sub)
    add_serve_parser(sub)
    a = p.parse_args(["up", "--port", "8123", "--allow-root", "/tmp"])
    assert a.port == 8123 and a.allow_root == ["/tmp"] and a.func.__name__ == "cmd_up"
    assert p.parse_args(["serve", "--address", "auto"]).func.__name__ == "cmd_serve"
    code = "import sys, ray_ocr.serve.cli_cmds; sys.exit(1 if 'ray' in sys.modules or 'fastapi' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_server_timing_header_says_where_the_time_went(env):
    from ray_ocr.serve import timing

    r = call(env["app"], "POST", "/v1/videos", json={"uri": str(env["root"] / "a.mp4")}, headers=AUTH)
    assert r.status_code == 202
    spans = timing.parse(r.headers["server-timing"])
    assert set(spans) >= {"app", "pipeline", "path"}
    assert all(v >= 0 for v in spans.values())
    assert spans["app"] >= spans["pipeline"]  # the TaskBuffer call is part of the request
    # Errors carry it too (an operator looks at slow 4xx as well).
    bad = call(env["app"], "POST", "/v1/videos", content=b"{", headers={**AUTH, "content-type": "application/json"})
    assert bad.status_code == 400 and "app" in timing.parse(bad.headers["server-timing"])
    assert timing.parse("a;dur=1.5, b;desc=\"x\";dur=2") == {"a": 1.5, "b": 2.0}


def test_up_refuses_a_port_inside_the_direct_ingress_range_before_starting_ray(capsys):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "ray_ocr.cli", "up", "--port", "8003"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "RAY_OCR_API_TOKEN": "t"})
    assert p.returncode == 2, p.stderr
    assert "direct-ingress port range" in p.stderr and "Traceback" not in p.stderr
