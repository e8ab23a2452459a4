"""Property-based run over the app's own OpenAPI spec (schemathesis): valid and invalid
requests for every operation, with the token; no answer may be a 5xx, and every 4xx carries
the error shape. In-process over the real Backend/journal/store (no Ray, no network: URL
fetching is off so generated http:// uris are refused rather than fetched)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from ray_ocr.config import ServeSettings, Settings
from ray_ocr.serve.app import build_app
from ray_ocr.serve.backend import Backend
from ray_ocr.serve.pipeline_client import LocalPipeline

TOKEN = "schema-token"
_tmp = Path(tempfile.mkdtemp(prefix="ray-ocr-schema-"))
(_tmp / "videos").mkdir()
(_tmp / "videos" / "a.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 1000)
_settings = Settings(serve=ServeSettings(api_token=TOKEN, allowed_roots=[_tmp / "videos"], max_upload_bytes=256 * 1024, allow_url_fetch=False))
app = build_app(Backend(_settings, _tmp / "data", LocalPipeline(_tmp / "data" / "journal.sqlite")))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    resp = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code < 500, f"{case.method} {case.path} -> {resp.status_code}: {resp.text[:500]}"
    if resp.status_code >= 400:
        body = resp.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
