"""The openvino backend's start-up parity check: the compiled model against ONNX Runtime on the same graph.

At start-up the compiled model is run on a fixed input (:func:`parity_feeds`: every graph input
uniform in [0.1, 0.9], ``(1, C, H, W) float32``, seeded) and compared with ONNX Runtime on the same
graph; the largest difference relative to the reference output's range must stay within
:data:`PARITY_TOL` for the precision or the backend refuses to run (a :class:`BackendError` naming
the precision, the output and the measured difference). Noise input has no smooth depth for bf16's
rounding to hurt, so the check bounds the graph's arithmetic, not a model's accuracy: measure a
model in bf16 with ``depth-refine eval-dataset`` before relying on it.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.data.modeldir import ModelDir

# Start-up parity tolerance: max |OpenVINO - ONNX Runtime| / (range of the ORT output), inputs
# uniform in [0.1, 0.9] at the opt size. Measured on the shipped models (512x640 and 256x320):
#   fp32: <= 3.3e-7 (SR kinds), <= 1.7e-6 (mono_small): op fusion and summation order only.
#   bf16: 2.3e-3 .. 5.9e-3 (SR kinds; mean |diff| 2e-5 .. 1e-3), 1.3e-2 .. 1.4e-2 (mono_small):
#         bf16 keeps 8 significant bits.
# The tolerances sit a few times above the worst measured value: a wrong compile, a broken blob
# or a graph OpenVINO misreads is off by far more (order 1 of the range). Noise input has no
# smooth depth for the rounding to hurt, so this bounds arithmetic, not accuracy (module docstring).
PARITY_TOL = {"fp32": 1e-5, "bf16": 3e-2}


def parity_tolerance(model: ModelDir, precision: str) -> float:
    """:data:`PARITY_TOL` for ``precision`` (``fp32`` or ``bf16``); for an imported foundation graph (a
    ViT: deeper sums) in fp32, the tolerance its import checked OpenVINO against (1e-4;
    docs/foundation_models.md#parity). A fraction of the reference output's range."""
    tol = PARITY_TOL[precision]
    if precision == "fp32" and "imported" in model.card.extra:
        checked = model.card.extra.get("parity", {}).get("tolerance", {})
        tol = max(tol, float(checked.get("openvino_fp32", tol)))
    return tol


def parity_feeds(model: ModelDir, hw: tuple[int, int], seed: int = 0, rgb_bytes: bool = False
                 ) -> dict[str, np.ndarray]:
    """The fixed start-up parity input: every graph input uniform in [0.1, 0.9], ``(1, C, H, W)
    float32``; with ``rgb_bytes`` the ``rgb`` values are rounded to multiples of 1/255 (exactly what
    a byte image gives, for the ``rgb_u8`` engine)."""
    rng = np.random.default_rng(seed)
    feeds = {n: (0.1 + 0.8 * rng.random((1, 3 if n == "rgb" else 1, *hw))).astype(np.float32)
             for n in model.inputs}
    if rgb_bytes and "rgb" in feeds:
        feeds["rgb"] = (np.rint(feeds["rgb"] * 255) / 255).astype(np.float32)
    return feeds


def check_parity(model: ModelDir, hw: tuple[int, int], tol: float, run: Callable[[dict[str, np.ndarray]], list],
                 *, precision: str, threads: int, rgb_bytes: bool, cache_dir: str | os.PathLike) -> dict[str, float]:
    """Run :func:`parity_feeds` at the padded input size ``hw`` (``[H, W]``, pixels) through ONNX Runtime
    and through ``run`` (the compiled model: float feeds in, the outputs as ``float32`` arrays out, in
    the model's output order) and compare.

    Args:
        tol: the largest allowed ``max |OpenVINO - ONNX Runtime| / range of the ONNX Runtime output``.
        precision, threads, rgb_bytes: the engine's (``rgb_bytes``: its ``rgb`` input is fed as bytes).
        cache_dir: the engine's blob cache (named in the error, as a suspect).

    Returns:
        The measured difference per output name, relative to the reference output's range.

    Raises:
        BackendError: an output off by more than ``tol`` (or not finite).
    """
    from depth_refine_ros.backends.onnxruntime_backend import OrtEngine

    feeds = parity_feeds(model, hw, rgb_bytes=rgb_bytes)
    ref = OrtEngine(model, "cpu", threads).run(feeds)
    got = run(feeds)
    errors: dict[str, float] = {}
    for name, r, g in zip(model.outputs, ref, got, strict=True):
        err = float(np.max(np.abs(r - g)) / (np.ptp(r) + 1e-6))
        errors[name] = err
        if not np.isfinite(err) or err > tol:
            raise BackendError(
                f"OpenVINO {precision} output '{name}' of {model.name} differs from ONNX Runtime "
                f"by {err:.3g} of its range at {hw[0]}x{hw[1]} (tolerance for {precision}: {tol:g}): "
                f"refusing to run; try precision fp32, or delete {cache_dir} if the cache is suspect")
    return errors
