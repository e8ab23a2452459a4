"""ONNX Runtime session construction, shared by the detector, recognizer and classifier."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


class ModelError(RuntimeError):
    """A model file is missing, unreadable or not a usable ONNX graph. The message names the path."""

    def __init__(self, path: Path | str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"model file {self.path}: {problem}")

    def __reduce__(self):  # two constructor arguments: pickle them, so it crosses Ray intact
        return (type(self), (self.path, self.problem))


def make_session(path: Path | str, intra_op_threads: int = 0) -> ort.InferenceSession:
    """A CPU session tuned for throughput on small OCR graphs.

    intra_op_threads=0 lets onnxruntime use every core; the Ray workers pass the CPUs they
    reserve (usually 1) because several single-threaded sessions side by side keep cores busier
    than one session whose thread pool waits on its slowest operator.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "not found")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.intra_op_num_threads = max(0, int(intra_op_threads))
    opts.inter_op_num_threads = 1
    if intra_op_threads == 1:
        # A one-thread pool should not spin waiting for work that never comes.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for bad files
        raise ModelError(path, f"cannot be loaded by onnxruntime ({type(exc).__name__}: {exc})") from exc
