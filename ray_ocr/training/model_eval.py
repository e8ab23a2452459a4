"""Evaluate a model set on synthetic frames and gate a fine-tuned set before it is promoted.

Both sets of a comparison read the same rendered frames (same seed, count and size), so the
accuracy difference is the models' and not the sample's; frames/s is measured on this machine
in the same process and is reported, and only gated when asked (a different machine or load
changes it, accuracy does not).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ray_ocr.training.dataset import frame_seed
from ray_ocr.training.evaluate import Accuracy, score_frame


@dataclass
class EvalReport:
    model_set: str
    model_version: str
    frames: int
    seed: int
    width: int
    height: int
    chars: int
    lines: int
    char_accuracy: float
    line_accuracy: float
    frames_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    ok: bool  # the candidate is no worse than the baseline
    char_accuracy_delta: float
    line_accuracy_delta: float
    speed_ratio: float  # candidate frames/s over baseline frames/s
    reasons: list[str] = field(default_factory=list)  # why not ok

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_model_set(
    name: str,
    models_dir: str | Path | None = None,
    n_frames: int = 20,
    seed: int = 0,
    width: int = 1280,
    height: int = 720,
    intra_op_threads: int = 0,
) -> EvalReport:
    """Character and line accuracy (evaluate.score_frame) and frames/s of model set ``name``."""
    from ray_ocr.config import OcrSettings
    from ray_ocr.ocr.engine import OcrEngine
    from ray_ocr.training.synth import render_text_image

    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    settings = OcrSettings(model_set=name, **({"models_dir": Path(models_dir)} if models_dir is not None else {}))
    engine = OcrEngine.from_settings(settings, intra_op_threads=intra_op_threads)
    # Same frames as dataset.export_synthetic with this seed: a report is reproducible from it.
    frames = [render_text_image(frame_seed(seed, i), width, height) for i in range(n_frames)]
    engine.read(frames[0].image)  # warm-up: first-run allocations are not the model's speed
    acc = Accuracy()
    elapsed = 0.0
    for f in frames:
        t0 = time.perf_counter()
        lines = engine.read(f.image)
        elapsed += time.perf_counter() - t0
        acc += score_frame([(it.text, it.polygon) for it in f.items], [(ln.text, ln.box) for ln in lines])
    return EvalReport(
        model_set=name, model_version=engine.model_version, frames=n_frames, seed=seed, width=width, height=height,
        chars=acc.chars, lines=acc.items, char_accuracy=round(acc.char_accuracy, 5),
        line_accuracy=round(acc.line_accuracy, 5), frames_per_s=round(n_frames / elapsed, 3) if elapsed else 0.0,
    )


def compare(
    candidate: EvalReport,
    baseline: EvalReport,
    char_tolerance: float = 0.002,
    line_tolerance: float = 0.01,
    min_speed_ratio: float | None = None,
) -> Comparison:
    """Whether ``candidate`` may replace ``baseline``: accuracy not lower beyond the tolerances
    (absolute), and frames/s at least ``min_speed_ratio`` of the baseline's when given."""
    same = (candidate.frames, candidate.seed, candidate.width, candidate.height) == (
        baseline.frames, baseline.seed, baseline.width, baseline.height)
    if not same:
        raise ValueError("candidate and baseline were evaluated on different frames (frames, seed, size differ)")
    dc = candidate.char_accuracy - baseline.char_accuracy
    dl = candidate.line_accuracy - baseline.line_accuracy
    ratio = candidate.frames_per_s / baseline.frames_per_s if baseline.frames_per_s else float("inf")
    reasons = []
    if dc < -char_tolerance:
        reasons.append(f"character accuracy {candidate.char_accuracy:.4f} < baseline {baseline.char_accuracy:.4f}")
    if dl < -line_tolerance:
        reasons.append(f"line accuracy {candidate.line_accuracy:.4f} < baseline {baseline.line_accuracy:.4f}")
    if min_speed_ratio is not None and ratio < min_speed_ratio:
        reasons.append(f"speed {ratio:.2f}x of baseline < {min_speed_ratio:.2f}x")
    return Comparison(not reasons, round(dc, 5), round(dl, 5), round(ratio, 3), reasons)
