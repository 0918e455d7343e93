"""Run an ONNX file as it is through ONNX Runtime and OpenVINO (fp32), for ``depth-refine import``'s
parity check (docs/foundation_models.md#parity). Unlike the engines, no model directory, cache or
shape policy: every input may have its own size (a prompt-depth model's low-res prompt)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from depth_refine_ros.backends.base import BackendError


def run_onnxruntime(graph: Path, feeds: dict[str, np.ndarray], threads: int = 0) -> list[np.ndarray]:
    """Outputs of ``graph`` on ``feeds`` through ONNX Runtime's CPU provider."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise BackendError(f"onnxruntime is not installed ({e})") from e
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_openvino(graph: Path, feeds: dict[str, np.ndarray], threads: int = 0,
                 precision: str = "f32") -> list[np.ndarray]:
    """Outputs of ``graph`` on ``feeds`` through OpenVINO on the CPU (compiled for these shapes)."""
    try:
        import openvino as ov
    except ImportError as e:
        raise BackendError(f"openvino is not installed ({e})") from e
    core = ov.Core()
    model = core.read_model(str(graph))
    model.reshape({k: list(v.shape) for k, v in feeds.items()})
    cfg = {"INFERENCE_PRECISION_HINT": precision}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    compiled = core.compile_model(model, "CPU", cfg)
    res = compiled(feeds)
    return [np.asarray(res[o]) for o in compiled.outputs]


def relative_error(ref: np.ndarray, got: np.ndarray) -> float:
    """``max |got - ref| / range(ref)``: the project's parity measure (test_parity.py, the OpenVINO start-up)."""
    if ref.shape != got.shape:
        return float("inf")
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / (np.ptp(ref) + 1e-6))
