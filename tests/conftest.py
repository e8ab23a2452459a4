"""Shared fixtures. Sections are owned by stages; keep additions in your own section."""

from __future__ import annotations

import pytest

# ---------------------------------------------------------------- OCR


@pytest.fixture(scope="session")
def v5_models():
    from ray_ocr.ocr.models import resolve_model_set

    return resolve_model_set("ppocr-v5-mobile", models_dir=None)


@pytest.fixture(scope="session")
def ocr_engine():
    from ray_ocr.config import OcrSettings
    from ray_ocr.ocr.engine import OcrEngine

    return OcrEngine.from_settings(OcrSettings(model_set="ppocr-v5-mobile"), intra_op_threads=1)
