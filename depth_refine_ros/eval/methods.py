"""Method names (classical upsamplers, model names or paths) -> a :class:`Pipeline` to evaluate.

Evaluation runs the same :class:`~depth_refine_ros.pipeline.Pipeline` the nodes run, so a number
in a report is the number the node would give on that frame.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.pipeline.factory import build_sr_pipeline, spec_for_method
from depth_refine_ros.pipeline.sr import InputError, Pipeline

REG_SUFFIX = " +reg"  # label suffix of a method run with registration (reports compare on it)
TEMPORAL_SUFFIX = " +temporal"  # label suffix of a method run with the temporal filter
DECIMATED_SUFFIX = " +decimated"  # label suffix of a method told its input is decimated (depth.sampling)
# the settings whose rows compare among themselves in reports, in the order build_method appends them
SETTING_SUFFIXES = (DECIMATED_SUFFIX, REG_SUFFIX)


def split_label(label: str) -> tuple[str, tuple[str, ...]]:
    """``(method, settings)``: ``label`` without its trailing :data:`SETTING_SUFFIXES`, and those
    suffixes in label order (``("bicubic", (" +decimated", " +reg"))`` for ``"bicubic +decimated +reg"``)."""
    found: list[str] = []
    for suffix in reversed(SETTING_SUFFIXES):
        if label.endswith(suffix):
            label = label.removesuffix(suffix)
            found.insert(0, suffix)
    return label, tuple(found)


@dataclass
class Method:
    """A named way of refining: ``label`` (what reports print), the pipeline, and if it uses RGB."""

    label: str
    pipeline: Pipeline
    uses_rgb: bool

    def run(self, rgb: np.ndarray, depth_lr_m: np.ndarray, intrinsics: Intrinsics | None = None
            ) -> tuple[np.ndarray, float]:
        """Refine one frame -> (``(H, W) float32`` metres NaN invalid, milliseconds).

        Raises:
            InputError: the pipeline refused the frame (e.g. a scale outside the model's range).
        """
        t0 = time.perf_counter()
        if self.uses_rgb:
            res = self.pipeline.process(rgb, depth_lr_m, intrinsics)
        else:
            res = self.pipeline.process(None, depth_lr_m, intrinsics, out_hw=rgb.shape[:2])
        return res.depth, (time.perf_counter() - t0) * 1e3


def build_method(name: str, backend: str = "onnxruntime", max_depth_m: float = 20.0,
                 registration: str = "none", temporal: bool = False, depth_sampling: str = "centred") -> Method:
    """``bicubic`` | ``joint_bilateral`` | ``guided_filter`` | ``fgs`` | an SR model name or directory.

    The pipeline comes from :func:`~depth_refine_ros.pipeline.factory.build_sr_pipeline`, the
    factory ``sr_node`` uses.

    Args:
        backend: inference backend for models (``onnxruntime``, ``openvino``, ``torch``, ``tensorrt``, ``auto``).
        max_depth_m: the pipeline's range clamp.
        registration: ``none`` or ``auto``: the depth-to-RGB offset tracked over the frames run so
            far (as sr_node does: median of the last 15 per-frame estimates, dead band 2 px) and
            undone; the label gets ``+reg``. ``eval-dataset`` replaces it per dataset pass with the
            median over all of that pass's frames (one sensor, one calibration).
        temporal: the temporal filter (sr_node's ``temporal.*`` defaults) as the last stage; the
            label gets ``+temporal``. The filter is stateful: run the frames in time order.
        depth_sampling: ``centred`` or ``decimated`` (sr_node's ``depth.sampling``: the input is
            re-sampled at its block centres first); ``decimated`` labels get ``+decimated``.

    Raises:
        depth_refine_ros.backends.BackendError / depth_refine_ros.core.modeldir.ModelError: unknown
            name, a model of a kind that does not super-resolve, or a broken model directory.
    """
    spec = spec_for_method(name, backend, max_depth_m, registration, temporal, depth_sampling)
    pipe = build_sr_pipeline(spec, warmup=False)
    tag = ((DECIMATED_SUFFIX if depth_sampling == "decimated" else "") + (REG_SUFFIX if registration != "none" else "")
           + (TEMPORAL_SUFFIX if temporal else ""))
    label = name if spec.backend in ("classical", "onnxruntime") else f"{name} ({backend})"
    # classical methods always take the RGB frame (its size is the output size; registration reads it)
    return Method(label + tag, pipe, spec.backend == "classical" or pipe.backend.needs_rgb)


__all__ = ["DECIMATED_SUFFIX", "REG_SUFFIX", "SETTING_SUFFIXES", "TEMPORAL_SUFFIX", "InputError", "Method",
           "build_method", "split_label"]
