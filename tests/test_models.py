"""Model sets: packaged sets, user overrides under models/, and clear errors for bad files."""

from __future__ import annotations

import json
import shutil

import pytest

from ray_ocr.config import OcrSettings
from ray_ocr.ocr.engine import OcrEngine
from ray_ocr.ocr.models import available_model_sets, load_dictionary, resolve_model_set
from ray_ocr.ocr.recognizer import TextRecognizer
from ray_ocr.ocr.session import ModelError, make_session


def test_packaged_sets_resolve_with_matching_dictionaries():
    v5 = resolve_model_set("ppocr-v5-mobile")
    v4 = resolve_model_set("ppocr-v4-mobile")
    assert len(v5.charset) == 18385 and v5.charset[0] == "<blank>" and v5.charset[-1] == " "
    assert len(v4.charset) == 6625
    assert v5.version != v4.version and v5.version.startswith("ppocr-v5-mobile@")


def test_unknown_set_names_the_choices(tmp_path):
    with pytest.raises(ModelError, match="ppocr-v5-mobile"):
        resolve_model_set("no-such-set", tmp_path)


def test_missing_model_file_names_the_path(tmp_path):
    with pytest.raises(ModelError) as e:
        make_session(tmp_path / "gone.onnx")
    assert str(tmp_path / "gone.onnx") in str(e.value)


def test_corrupt_model_file_names_the_path(tmp_path):
    bad = tmp_path / "det.onnx"
    bad.write_bytes(b"\x08\x01garbage that is not a protobuf graph" * 10)
    with pytest.raises(ModelError) as e:
        make_session(bad)
    assert str(bad) in str(e.value) and "cannot be loaded" in str(e.value)


def _user_set(tmp_path, name="ppocr-v5-mobile", **manifest):
    v5 = resolve_model_set("ppocr-v5-mobile")
    d = tmp_path / name
    d.mkdir()
    shutil.copy(v5.det_path, d / "det.onnx")
    shutil.copy(v5.rec_path, d / "rec.onnx")
    (d / "dict.txt").write_text("\n".join(v5.charset[1:-1]) + "\n", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"det": "det.onnx", "rec": "rec.onnx", "dict": "dict.txt", **manifest}))
    return d


def test_user_set_under_models_dir_wins_over_package(tmp_path):
    d = _user_set(tmp_path)
    ms = resolve_model_set("ppocr-v5-mobile", tmp_path)
    assert ms.source == str(d) and ms.det_path == (d / "det.onnx").resolve()
    assert ms.charset == resolve_model_set("ppocr-v5-mobile").charset
    assert "ppocr-v5-mobile" in available_model_sets(tmp_path)


def test_fine_tuned_set_with_base_inherits_missing_files(tmp_path):
    v5 = resolve_model_set("ppocr-v5-mobile")
    d = tmp_path / "my-finetune"
    d.mkdir()
    shutil.copy(v5.rec_path, d / "rec.onnx")
    (d / "dict.txt").write_text("\n".join(v5.charset[1:-1]) + "\n", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"base": "ppocr-v5-mobile", "rec": "rec.onnx", "dict": "dict.txt", "det": None}))
    ms = resolve_model_set("my-finetune", tmp_path)
    assert ms.det_path == v5.det_path and ms.rec_path == (d / "rec.onnx").resolve()
    engine = OcrEngine(ms, OcrSettings(), intra_op_threads=1)
    assert "my-finetune" in available_model_sets(tmp_path)
    assert engine.model_version.startswith("my-finetune@")


def test_manifest_pointing_at_missing_file_names_it(tmp_path):
    d = _user_set(tmp_path, name="broken")
    (d / "rec.onnx").unlink()
    with pytest.raises(ModelError) as e:
        resolve_model_set("broken", tmp_path)
    assert str((d / "rec.onnx").resolve()) in str(e.value)


def test_malformed_manifest_is_a_clear_error(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="manifest"):
        resolve_model_set("bad", tmp_path)


def test_dictionary_that_does_not_match_the_model_is_rejected(tmp_path):
    v5 = resolve_model_set("ppocr-v5-mobile")
    short = tmp_path / "dict.txt"
    short.write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(ModelError, match="classes"):
        TextRecognizer(v5.rec_path, load_dictionary(short), intra_op_threads=1)


def test_dictionary_keeps_every_line_including_odd_separators(tmp_path):
    p = tmp_path / "d.txt"
    p.write_text("a\n\x1c\n\u2028\nb\n", encoding="utf-8")
    assert load_dictionary(p) == ("<blank>", "a", "\x1c", "\u2028", "b", " ")


def test_non_utf8_dictionary_is_rejected(tmp_path):
    p = tmp_path / "d.txt"
    p.write_bytes("汉字".encode("gbk"))
    with pytest.raises(ModelError, match="UTF-8"):
        load_dictionary(p)


def test_version_changes_with_the_dictionary(tmp_path):
    v5 = resolve_model_set("ppocr-v5-mobile")
    d = tmp_path / "reordered"
    d.mkdir()
    chars = list(v5.charset[1:-1])
    chars[0], chars[1] = chars[1], chars[0]
    (d / "dict.txt").write_text("\n".join(chars) + "\n", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"base": "ppocr-v5-mobile", "dict": "dict.txt"}))
    other = resolve_model_set("reordered", tmp_path)
    assert other.rec_path == v5.rec_path
    assert other.version.split("@")[1] != v5.version.split("@")[1]


def test_manifest_without_files_or_base_is_rejected(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"dict": "dict.txt"}))
    with pytest.raises(ModelError, match='"base"'):
        resolve_model_set("empty", tmp_path)
