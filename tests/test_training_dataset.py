"""Synthetic PaddleOCR export: labels equal the renderer's polygons, crops read back with the
real recogniser, the same seed gives the same files, and bad arguments are refused."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from ray_ocr.training.dataset import export_synthetic, frame_seed, read_det_labels
from ray_ocr.training.evaluate import Accuracy, score_frame
from ray_ocr.training.synth import render_text_image

N, SEED, W, H = 3, 5, 640, 360


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "set"
    stats = export_synthetic(out, N, SEED, W, H, progress=False)
    return out, stats


def test_labels_match_the_rendered_polygons(exported) -> None:
    out, stats = exported
    det = read_det_labels(out / "Label.txt")
    assert [img for img, _ in det] == [f"images/{i:06d}.jpg" for i in range(N)]
    rec = [ln.split("\t") for ln in (out / "rec_gt.txt").read_text(encoding="utf-8").splitlines()]
    n_lines = 0
    for i, (img, items) in enumerate(det):
        truth = render_text_image(frame_seed(SEED, i), W, H)
        assert [it["transcription"] for it in items] == [t.text for t in truth.items]
        np.testing.assert_allclose([it["points"] for it in items], [t.polygon for t in truth.items], atol=0.006)
        # JPEG of the same pixels (sensor noise costs a few levels), far from any other frame.
        got = cv2.imread(str(out / img)).astype(int)
        other = render_text_image(frame_seed(SEED, i + 1), W, H).image.astype(int)
        assert got.shape == (H, W, 3)
        assert np.abs(got - truth.image).mean() < 8 < np.abs(got - other).mean()
        n_lines += len(items)
    assert len(rec) == n_lines == stats.lines and stats.images == N
    assert stats.chars == sum(len(t) for _, t in rec)
    assert json.loads((out / "stats.json").read_text())["lines"] == n_lines
    assert all((out / p).is_file() for p, _ in rec)


def test_crops_read_back_with_the_ocr_engine(exported, ocr_engine) -> None:
    out, _ = exported
    rec = [ln.split("\t") for ln in (out / "rec_gt.txt").read_text(encoding="utf-8").splitlines()]
    crops = [cv2.imread(str(out / p)) for p, _ in rec]
    read = ocr_engine.recognizer.recognize(crops)
    want = ["".join(t.split()) for _, t in rec]
    got = ["".join(t.split()) for t, _ in read]
    chars = sum(map(len, want))
    errors = sum(Levenshtein.distance(a, b) for a, b in zip(want, got))
    assert 1 - errors / chars >= 0.95, list(zip(want, got))


def test_det_labels_agree_with_the_full_pipeline(exported, ocr_engine) -> None:
    out, _ = exported
    acc = Accuracy()
    for img, items in read_det_labels(out / "Label.txt"):
        lines = ocr_engine.read(cv2.imread(str(out / img)))
        acc += score_frame([(it["transcription"], np.asarray(it["points"])) for it in items], [(ln.text, ln.box) for ln in lines])
    assert acc.char_accuracy >= 0.9


def test_same_seed_same_files_other_seed_differs(exported, tmp_path: Path) -> None:
    out, _ = exported
    again = tmp_path / "again"
    export_synthetic(again, 2, SEED, W, H, progress=False)
    assert (again / "images/000001.jpg").read_bytes() == (out / "images/000001.jpg").read_bytes()
    assert (again / "Label.txt").read_text(encoding="utf-8").splitlines() == (out / "Label.txt").read_text(encoding="utf-8").splitlines()[:2]
    other = tmp_path / "other"
    export_synthetic(other, 1, SEED + 1, W, H, progress=False)
    assert (other / "Label.txt").read_text(encoding="utf-8") != (again / "Label.txt").read_text(encoding="utf-8").splitlines()[0] + "\n"


def test_progress_bar_on_stderr(tmp_path: Path, capsys) -> None:
    export_synthetic(tmp_path / "p", 1, 0, 320, 180, progress=True)
    cap = capsys.readouterr()
    assert "rendering" in cap.err and cap.out == ""


def test_bad_arguments(exported, tmp_path: Path) -> None:
    out, _ = exported
    with pytest.raises(FileExistsError):
        export_synthetic(out, 1, 0, W, H, progress=False)  # never overwrite a dataset
    before = sorted(p.name for p in out.iterdir())
    assert "Label.txt" in before
    with pytest.raises(ValueError, match="n must be"):
        export_synthetic(tmp_path / "zero", 0, 0, W, H, progress=False)
    with pytest.raises(ValueError, match="too small"):
        export_synthetic(tmp_path / "tiny", 1, 0, 32, 32, progress=False)
    assert not (tmp_path / "zero").exists() and not (tmp_path / "tiny").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    export_synthetic(empty, 1, 0, 320, 180, progress=False)  # an empty folder is fine
    assert (empty / "Label.txt").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []
