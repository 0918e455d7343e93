"""The one contract every inference backend implements (classical, ONNX Runtime, torch, TensorRT).

Swapping the engine is a configuration change: the pipeline only calls :meth:`Backend.infer`.
Inputs and outputs are dicts of numpy arrays with these names and layouts:

Inputs:
    ``rgb``: ``(H, W, 3) uint8`` RGB guidance at the output resolution (may be absent for
    depth-only backends).
    ``depth_lr``: ``(h, w) float32`` metres, NaN invalid, registered to ``rgb``.

Outputs:
    ``depth``: ``(H, W) float32`` metres, NaN invalid.
    ``confidence`` (optional): ``(H, W) float32`` in [0, 1].
"""
from __future__ import annotations

import abc

import numpy as np


class BackendError(RuntimeError):
    """A backend cannot be created or cannot run; the message says what to do."""


class Backend(abc.ABC):
    """Abstract inference backend.

    Attributes:
        name: registry name (``'classical'``, ``'onnxruntime'``, ...).
        needs_rgb: whether ``infer`` requires the ``rgb`` input.
        last_timings: milliseconds per internal stage of the last ``infer`` (a network's fill,
            upsample, normalise, pad, infer, crop, holes); empty for backends without stages.
    """

    name: str = "abstract"
    needs_rgb: bool = True
    last_timings: dict[str, float] = {}  # read-only default; a backend assigns its own dict per call

    @abc.abstractmethod
    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        """Refine one frame.

        Args:
            inputs: see the module docstring.
            out_hw: ``(H, W)`` output size in pixels.

        Returns:
            Outputs as in the module docstring.
        """

    def warmup(self, out_hw: tuple[int, int] = (480, 640), scale: int = 4) -> None:
        """Run once on synthetic data so the first real frame is not slow (allocations, caches)."""
        h, w = out_hw
        rng = np.random.default_rng(0)
        depth = (1.0 + rng.random((h // scale, w // scale))).astype(np.float32)
        rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        self.infer({"rgb": rgb, "depth_lr": depth}, out_hw)

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for logs and diagnostics: backend, model/method, device, precision."""
