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
