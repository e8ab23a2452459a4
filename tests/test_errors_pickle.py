"""Errors that cross Ray (actor -> scheduler -> driver) must survive pickling with their fields."""

from __future__ import annotations

import pickle

from ray_ocr.moderation.keywords import KeywordFileError, KeywordIssue
from ray_ocr.ocr.session import ModelError
from ray_ocr.video.decode import VideoError


def roundtrip(exc: Exception) -> Exception:
    return pickle.loads(pickle.dumps(exc))


def test_video_error_pickles():
    e = roundtrip(VideoError("truncated", "/v/a.mp4", "moov box cut"))
    assert (e.reason, e.path, e.detail) == ("truncated", "/v/a.mp4", "moov box cut")
    assert str(e) == str(VideoError("truncated", "/v/a.mp4", "moov box cut"))


def test_model_error_pickles():
    e = roundtrip(ModelError("/m/rec.onnx", "not found"))
    assert e.path == "/m/rec.onnx" and str(e) == "model file /m/rec.onnx: not found"


def test_keyword_file_error_pickles():
    e = roundtrip(KeywordFileError("kw.txt", [KeywordIssue(3, "empty keyword")]))
    assert e.source == "kw.txt" and e.issues[0].line == 3 and "kw.txt:3: empty keyword" in str(e)
