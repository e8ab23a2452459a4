"""The API over real HTTP on localhost against a running Serve app and the real pipeline
(one local Ray cluster + Serve app for the module). Bad inputs first (they need no OCR),
then the end-to-end cases: verdict, duplicate, review, keyword hot swap."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

TOKEN = "http-test-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UPLOAD_LIMIT = 3 * 1024 * 1024
KW_INITIAL = "赌博网站\tgambling\n"
KW_ADDED = "加微信"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _video(path: Path, banned: list[str], seed: int) -> Path:
    from ray_ocr.training.synth_video import VideoSpec, make_video

    if not path.is_file():
        make_video(path, VideoSpec(duration_s=6.0, width=640, height=360, banned=banned, marquee=False), seed=seed)
    return path


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    ray = pytest.importorskip("ray")

    from ray_ocr.config import ClusterSettings, ServeSettings, Settings
    from ray_ocr.serve.deployment import deploy, shutdown

    base = tmp_path_factory.mktemp("serve-http")
    root = base / "videos"
    root.mkdir()
    vids = {
        "banned": _video(root / "banned.mp4", ["赌博网站"], 11),
        "clean": _video(root / "clean.mp4", [], 12),
        "wx1": _video(root / "wx1.mp4", [KW_ADDED], 13),
        "wx2": _video(root / "wx2.mp4", [KW_ADDED], 14),
    }
    outside = base / "outside.mp4"
    outside.write_bytes(vids["clean"].read_bytes())
    os.symlink(outside, root / "escape.mp4")
    web = base / "web"
    web.mkdir()
    (web / "page.html").write_text("<html><body>not a video</body></html>" * 20)
    (web / "fake.mp4").write_bytes(b"plain text pretending to be a video\n" * 40)  # served as video/mp4
    (web / "clip.mp4").write_bytes(vids["clean"].read_bytes())

    handler = functools.partial(QuietHandler, directory=str(web))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    port = _free_port()
    settings = Settings(
        serve=ServeSettings(api_token=TOKEN, allowed_roots=[root], port=port, direct_port=_free_port(), max_replicas=1,
                            max_upload_bytes=UPLOAD_LIMIT, fetch_timeout_s=20),
        cluster=ClusterSettings(workers_max=1),
    )
    data = base / "data"
    kw = base / "kw.txt"
    kw.write_text(KW_INITIAL, encoding="utf-8")
    from ray_ocr.serve.direct import apply_ray_env, direct_urls

    saved_env = dict(os.environ)
    apply_ray_env(settings.serve)  # as `ray-ocr up` does: the replica also serves HTTP itself
    ray.init(num_cpus=2, include_dashboard=False, namespace=settings.cluster.namespace, log_to_driver=False)
    pipe = None
    try:
        pipe = deploy(settings, data, kw, detached=False)  # what `ray-ocr up` deploys
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield {"c": client, "root": root, "vids": vids, "web": f"http://127.0.0.1:{httpd.server_address[1]}", "data": data,
                   "direct": direct_urls("ray-ocr", "127.0.0.1"), "settings": settings}
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        httpd.shutdown()
        shutdown(pipe)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mp4": "video/mp4"}

    def log_message(self, *args) -> None:
        pass


def err(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code, body
    assert "Traceback" not in r.text
    return body


def wait_done(c: httpx.Client, vid: str, timeout_s: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = c.get(f"/v1/videos/{vid}").json()
        if st["state"] not in ("queued", "running"):
            return st
        time.sleep(0.5)
    raise AssertionError(f"{vid} unfinished after {timeout_s}s: {st}")


# ------------------------------------------------------------------ bad input


def test_health_and_docs(srv):
    c = srv["c"]
    assert c.get("/healthz").json()["status"] == "ok"
    assert "/v1/videos" in c.get("/openapi.json").json()["paths"]
    assert c.get("/docs").status_code == 200


def test_token_missing_or_invalid(srv):
    c, root = srv["c"], srv["root"]
    body = {"uri": str(root / "clean.mp4")}
    err(c.post("/v1/videos", json=body), 401, "missing_token")
    err(c.post("/v1/videos", json=body, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}), 401, "invalid_token")
    err(c.put("/v1/keywords", json={"text": "x1\n"}), 401, "missing_token")
    err(c.get("/v1/videos/anything/evidence/0"), 401, "missing_token")


def test_malformed_json_and_unknown_fields(srv):
    c, root = srv["c"], srv["root"]
    err(c.post("/v1/videos", content=b'{"uri": ', headers={**AUTH, "content-type": "application/json"}), 400, "invalid_json")
    b = err(c.post("/v1/videos", json={"uri": str(root / "clean.mp4"), "priority": 1}, headers=AUTH), 422, "invalid_request")
    assert "priority" in b["error"]["message"]
    err(c.post("/v1/videos/x/review", json={"decision": "pass", "reviewer": "a", "score": 3}, headers=AUTH), 422, "invalid_request")


def test_path_traversal_dotdot_and_symlink(srv):
    c, root = srv["c"], srv["root"]
    err(c.post("/v1/videos", json={"uri": f"{root}/../outside.mp4"}, headers=AUTH), 403, "forbidden_path")
    err(c.post("/v1/videos", json={"uri": str(root / "escape.mp4")}, headers=AUTH), 403, "forbidden_path")
    err(c.post("/v1/videos", json={"uri": "/etc/passwd"}, headers=AUTH), 403, "forbidden_path")


def test_url_to_a_non_video(srv):
    c, web = srv["c"], srv["web"]
    err(c.post("/v1/videos", json={"uri": f"{web}/page.html"}, headers=AUTH), 415, "not_a_video")
    err(c.post("/v1/videos", json={"uri": f"{web}/fake.mp4"}, headers=AUTH), 415, "not_a_video")  # right type, wrong bytes
    err(c.post("/v1/videos", json={"uri": f"{web}/missing.mp4"}, headers=AUTH), 502, "fetch_failed")
    assert not [p for p in (srv["data"] / "uploads").glob("*") if p.is_file()] if (srv["data"] / "uploads").exists() else True


def test_zero_byte_and_over_limit_uploads(srv):
    c = srv["c"]
    err(c.post("/v1/videos", files={"file": ("empty.mp4", b"")}, headers=AUTH), 400, "empty_upload")
    big = srv["vids"]["clean"].read_bytes()
    big = big + b"\0" * (UPLOAD_LIMIT + 1024 - len(big))
    err(c.post("/v1/videos", files={"file": ("big.mp4", big)}, headers=AUTH), 413, "payload_too_large")

    def chunks():  # no Content-Length: refused while streaming
        yield b'--bb\r\nContent-Disposition: form-data; name="file"; filename="b.mp4"\r\n\r\n' + big[:65536]
        for i in range(65536, len(big), 65536):
            yield big[i : i + 65536]
        yield b"\r\n--bb--\r\n"

    err(c.post("/v1/videos", content=chunks(), headers={**AUTH, "content-type": "multipart/form-data; boundary=bb"}), 413, "payload_too_large")


def test_unknown_id(srv):
    c = srv["c"]
    err(c.get("/v1/videos/no-such-video"), 404, "video_not_found")
    err(c.get("/v1/videos/no-such-video/evidence/0", headers=AUTH), 404, "video_not_found")
    err(c.post("/v1/videos/no-such-video/review", json={"decision": "pass", "reviewer": "ann"}, headers=AUTH), 404, "video_not_found")


# ------------------------------------------------------------------ end to end (real pipeline)


@pytest.mark.slow
def test_submit_verdict_evidence_duplicate_review(srv):
    c, vids = srv["c"], srv["vids"]
    r = c.post("/v1/videos", json={"uri": str(vids["banned"]), "metadata": {"uploader": "u1"}}, headers=AUTH)
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running"), r.text
    vid = r.json()["video_id"]
    st = wait_done(c, vid)
    assert st["state"] == "done" and st["verdict"] == "reject", st
    assert any(h["keyword"] == "赌博网站" for h in st["hits"])
    assert st["timings"]["total_s"] > 0
    ev = c.get(st["hits"][0]["evidence"], headers=AUTH)
    assert ev.status_code == 200 and ev.headers["content-type"] == "image/jpeg" and ev.content[:2] == b"\xff\xd8"

    # The same bytes uploaded again: the earlier verdict at once, no OCR.
    r = c.post("/v1/videos", files={"file": ("re-upload.mp4", vids["banned"].read_bytes())}, headers=AUTH)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["verdict"] == "duplicate" and d["duplicate_of"] == vid and d["hits"][0]["keyword"] == "赌博网站"
    assert c.get(f"/v1/videos/{d['video_id']}").json()["verdict"] == "duplicate"

    # Review round trip: a human passes the machine reject -> tomorrow's relabel package.
    r = c.post(f"/v1/videos/{vid}/review", json={"decision": "pass", "reviewer": "ann", "note": "quoted in a news item"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["decision"] == "pass"
    assert c.get(f"/v1/videos/{vid}").json()["review"]["note"] == "quoted in a news item"
    from ray_ocr.store.results import ResultStore, utc_day

    fps = ResultStore(srv["data"]).false_positives(utc_day(time.time()))
    assert vid in [f["video_id"] for f in fps]

    s = c.get("/v1/search", params={"q": "赌博网站"}, headers=AUTH).json()
    assert vid in {x["video_id"] for x in s["results"]}
    stats = c.get("/v1/stats").json()
    assert stats["buffer"]["counts"]["done"] >= 1 and stats["throughput"]["videos_finished"] >= 1


@pytest.mark.slow
def test_url_submission_is_downloaded_and_processed(srv):
    c = srv["c"]
    r = c.post("/v1/videos", json={"uri": f"{srv['web']}/clip.mp4", "video_id": "from-url"}, headers=AUTH)
    assert r.status_code == 202, r.text
    st = wait_done(c, "from-url")
    assert st["state"] == "done" and st["verdict"] == "pass", st


@pytest.mark.slow
def test_keyword_update_takes_effect_for_the_next_video(srv):
    c, vids = srv["c"], srv["vids"]
    before = c.get("/v1/keywords").json()
    assert KW_ADDED not in before["text"]
    r = c.post("/v1/videos", json={"uri": str(vids["wx1"])}, headers=AUTH)
    st = wait_done(c, r.json()["video_id"])
    assert st["verdict"] == "pass", st  # 加微信 is not banned yet

    err(c.put("/v1/keywords", json={"text": before["text"] + "\tno keyword\n"}, headers=AUTH), 422, "invalid_keywords")
    r = c.put("/v1/keywords", json={"text": before["text"] + f"{KW_ADDED}\tad\n", "expected_version": before["version"]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["version"] == before["version"] + 1 and r.json()["applied"] is True, r.text
    assert KW_ADDED in c.get("/v1/keywords").json()["text"]

    r = c.post("/v1/videos", json={"uri": str(vids["wx2"])}, headers=AUTH)
    st = wait_done(c, r.json()["video_id"])
    assert st["verdict"] == "reject" and {h["keyword"] for h in st["hits"]} == {KW_ADDED}, st


# ------------------------------------------------------------------ direct ingress (the replica's own port)


def test_direct_ingress_serves_the_same_api_without_the_proxy(srv):
    from ray_ocr.serve import timing

    direct = srv["direct"]
    assert len(direct) == 1, direct  # one replica, listening in the configured range
    port = int(direct[0].rsplit(":", 1)[1])
    assert port in srv["settings"].serve.direct_ports()
    with httpx.Client(base_url=direct[0], timeout=60) as d:
        assert d.get("/healthz").json()["status"] == "ok"
        err(d.post("/v1/videos", json={"uri": str(srv["root"] / "clean.mp4")}), 401, "missing_token")
        err(d.post("/v1/videos", json={"uri": str(srv["root"] / ".." / "outside.mp4")}, headers=AUTH), 403, "forbidden_path")
        fresh = _video(srv["root"] / "direct.mp4", [], 15)  # bytes no other test submits: a real verdict, not a duplicate
        r = d.post("/v1/videos", json={"uri": str(fresh), "video_id": "via-direct"}, headers=AUTH)
        assert r.status_code == 202, r.text
        assert {"app", "pipeline"} <= set(timing.parse(r.headers["server-timing"]))
        err(d.post("/v1/videos", json={"uri": str(fresh), "video_id": "via-direct"}, headers=AUTH), 409, "video_id_exists")
    # RAY_worker_niceness=0 from apply_ray_env: the ingress runs at normal priority, not Ray's
    # default nice 15 (which would put it level with the scheduler and the OCR processes).
    ingress_pid = srv["c"].get("/v1/stats").json()["ingress"]["pid"]
    assert os.getpriority(os.PRIO_PROCESS, ingress_pid) == 0
    # One journal behind both doors: the proxy sees what came in directly.
    st = wait_done(srv["c"], "via-direct")
    assert st["state"] == "done" and st["verdict"] == "pass", st
