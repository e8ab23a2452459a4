"""Model-set evaluation and the promotion gate, with real ONNX models and real user model sets
under a models dir; and the relabel/dataset/eval CLI exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ray_ocr.cli import main
from ray_ocr.training.corpus import dictionary_path
from ray_ocr.training.dataset import frame_seed
from ray_ocr.training.model_eval import EvalReport, compare, evaluate_model_set
from ray_ocr.training.synth import render_text_image

REPO = Path(__file__).resolve().parent.parent
FR = dict(n_frames=3, seed=1, width=640, height=360, intra_op_threads=1)
CLI_FR = ["--frames", "3", "--seed", "1", "--width", "640", "--height", "360", "--threads", "1"]


def _dict_lines() -> list[str]:
    chars = dictionary_path().read_text(encoding="utf-8").split("\n")
    return chars[:-1] if chars[-1] == "" else chars


def _user_set(models: Path, name: str, chars: list[str]) -> None:
    d = models / name
    d.mkdir(parents=True)
    (d / "dict.txt").write_text("\n".join(chars) + "\n", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"base": "ppocr-v5-mobile", "det": None, "rec": None, "dict": "dict.txt"}))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """'scrambled': the v5 dictionary reversed (every class decodes to the wrong character).
    'swapped': three characters that occur in the evaluation frames trade places (a small,
    realistic regression)."""
    root = tmp_path_factory.mktemp("models")
    chars = _dict_lines()
    _user_set(root, "scrambled", chars[::-1])
    seen: list[str] = []
    for i in range(FR["n_frames"]):
        for it in render_text_image(frame_seed(FR["seed"], i), FR["width"], FR["height"]).items:
            seen += [c for c in it.text if "\u4e00" <= c <= "\u9fff" and c not in seen]
    a, b, c = (chars.index(x) for x in seen[:3])
    sw = list(chars)
    sw[a], sw[b], sw[c] = chars[b], chars[c], chars[a]
    _user_set(root, "swapped", sw)
    return root


@pytest.fixture(scope="module")
def baseline(models) -> EvalReport:
    return evaluate_model_set("ppocr-v5-mobile", models, **FR)


def test_baseline_report(baseline) -> None:
    assert baseline.model_version.startswith("ppocr-v5-mobile@")
    assert baseline.frames == 3 and baseline.chars > 30 and baseline.lines >= 6
    assert baseline.char_accuracy >= 0.9 and 0 < baseline.line_accuracy <= 1 and baseline.frames_per_s > 0


def test_same_set_passes_the_gate(models, baseline) -> None:
    again = evaluate_model_set("ppocr-v5-mobile", models, **FR)
    assert (again.char_accuracy, again.line_accuracy, again.chars) == (baseline.char_accuracy, baseline.line_accuracy, baseline.chars)
    cmp = compare(again, baseline)
    assert cmp.ok and cmp.char_accuracy_delta == 0 and cmp.reasons == []


def test_broken_and_slightly_worse_sets_fail_the_gate(models, baseline) -> None:
    broken = evaluate_model_set("scrambled", models, **FR)
    assert broken.char_accuracy < 0.2
    cmp = compare(broken, baseline)
    assert not cmp.ok and "character accuracy" in cmp.reasons[0]

    worse = evaluate_model_set("swapped", models, **FR)
    assert 0.5 < worse.char_accuracy < baseline.char_accuracy
    assert not compare(worse, baseline).ok
    # Promotion the other way round is fine: the baseline is no worse than the regression.
    assert compare(baseline, worse).ok


def test_compare_refuses_different_frames_and_gates_speed(baseline) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="different frames"):
        compare(replace(baseline, seed=2), baseline)
    slow = replace(baseline, frames_per_s=baseline.frames_per_s / 2)
    assert compare(slow, baseline).ok  # speed is not gated unless asked
    cmp = compare(slow, baseline, min_speed_ratio=0.8)
    assert not cmp.ok and "speed" in cmp.reasons[0] and cmp.speed_ratio == pytest.approx(0.5, abs=0.01)


def test_unknown_set_is_an_error(models) -> None:
    from ray_ocr.ocr.session import ModelError

    with pytest.raises(ModelError, match="unknown model set"):
        evaluate_model_set("no-such-set", models, **FR)
    with pytest.raises(ValueError):
        evaluate_model_set("ppocr-v5-mobile", models, n_frames=0)


# ---------------------------------------------------------------- CLI


def test_cli_eval_exit_codes(models, capsys) -> None:
    assert main(["eval", "--models", "ppocr-v5-mobile", "--baseline", "ppocr-v5-mobile", "--models-dir", str(models), *CLI_FR]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparison"]["ok"] is True and out["candidate"]["char_accuracy"] == out["baseline"]["char_accuracy"]

    assert main(["eval", "--models", "scrambled", "--baseline", "ppocr-v5-mobile", "--models-dir", str(models), *CLI_FR]) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["comparison"]["ok"] is False and "worse than the baseline" in cap.err

    assert main(["eval", "--models", "no-such-set", "--models-dir", str(models), *CLI_FR]) == 1
    assert "unknown model set" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["eval", "--models", "ppocr-v5-mobile", "--frames", "0"])
    assert e.value.code == 2


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ray_ocr.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_cli_dataset_and_relabel(tmp_path: Path) -> None:
    r = _run("dataset", "--out", str(tmp_path / "ds"), "--n", "2", "--seed", "3", "--width", "320", "--height", "180")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["images"] == 2 and stats["lines"] == len((tmp_path / "ds" / "rec_gt.txt").read_text(encoding="utf-8").splitlines())
    assert _run("dataset", "--out", str(tmp_path / "ds"), "--n", "2").returncode == 1  # exists
    assert _run("dataset", "--out", str(tmp_path / "x"), "--n", "0").returncode == 2

    from ray_ocr.store import ResultStore

    ResultStore(tmp_path / "data")  # an empty store
    r = _run("relabel", "--data", str(tmp_path / "data"), "--day", "2026-03-14", "--out", str(tmp_path / "pkg"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["videos"] == 0 and out["frames"] == 0 and Path(out["path"]).name == "relabel-2026-03-14"
    r = _run("relabel", "--data", str(tmp_path / "data"), "--day", "2026-03-14", "--out", str(tmp_path / "pkg"), "--zip")
    assert r.returncode == 0 and json.loads(r.stdout)["path"].endswith(".zip")
    r = _run("relabel", "--data", str(tmp_path / "data"), "--day", "14.03.2026", "--out", str(tmp_path / "pkg2"))
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr and r.stdout == ""
    r = _run("relabel", "--data", str(tmp_path / "nostore"), "--day", "2026-03-14", "--out", str(tmp_path / "pkg3"))
    assert r.returncode == 1 and "not a result store" in r.stderr
    assert not (tmp_path / "nostore").exists() and not (tmp_path / "pkg3").exists()
