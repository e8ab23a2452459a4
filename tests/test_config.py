"""Settings come from RAY_OCR_* environment variables, nested with a double underscore."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ray_ocr.config import Settings


def test_nested_environment_overrides(monkeypatch):
    monkeypatch.setenv("RAY_OCR_OCR__DET__LIMIT_SIDE_LEN", "736")
    monkeypatch.setenv("RAY_OCR_MODERATION__STOP_ON_HIT", "false")
    s = Settings()
    assert s.ocr.det.limit_side_len == 736 and s.moderation.stop_on_hit is False
    assert s.ocr.det.box_thresh == 0.5  # untouched fields keep their defaults


def test_api_token_from_the_contract_variable(monkeypatch):
    monkeypatch.delenv("RAY_OCR_SERVE__API_TOKEN", raising=False)
    monkeypatch.setenv("RAY_OCR_API_TOKEN", "from-contract")
    assert Settings().serve.api_token == "from-contract"
    monkeypatch.setenv("RAY_OCR_SERVE__API_TOKEN", "nested-wins")
    assert Settings().serve.api_token == "nested-wins"
    monkeypatch.delenv("RAY_OCR_API_TOKEN")
    monkeypatch.delenv("RAY_OCR_SERVE__API_TOKEN")
    assert Settings().serve.api_token is None


def test_bad_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("RAY_OCR_OCR__DET__LIMIT_SIDE_LEN", "tiny")
    with pytest.raises(ValidationError, match="limit_side_len"):
        Settings()


def test_serve_port_inside_the_direct_ingress_range_is_refused():
    from ray_ocr.config import ServeSettings
    from ray_ocr.serve.direct import ray_env

    with pytest.raises(ValueError, match="direct-ingress port range"):
        ServeSettings(port=8003, direct_port=8001, max_replicas=4)
    s = ServeSettings(port=8000, direct_port=8001, max_replicas=2)
    env = ray_env(s)
    assert env["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "1"
    assert (int(env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"]), int(env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"])) == (8001, 8006)
    off = ray_env(ServeSettings(port=8003, direct_port=0))
    assert "RAY_SERVE_ENABLE_DIRECT_INGRESS" not in off
