"""Per-frame statistics: the package's own message, ``depth_refine_ros/msg/RefineStats``.

``sr_node`` publishes one on ``depth_refined/stats`` and ``mono_node`` on ``depth_mono/stats`` for
every refined frame, built only while someone subscribes (:meth:`RefineNode._publish
<depth_refine_ros.ros.node_base.RefineNode._publish>`). The fields are documented in
``msg/RefineStats.msg`` and docs/nodes.md.

The message type is generated from ``msg/RefineStats.msg`` (a colcon workspace: CMakeLists.txt; the
venv: ``make setup``). A checkout where it was never generated still runs the nodes: then
:data:`RefineStats` is None (or its type support does not load), and a node logs :data:`MISSING`
once and has no stats topic.
"""
from __future__ import annotations

import numpy as np

from depth_refine_ros.core.metrics import lowres_residual
from depth_refine_ros.core.register import shift_image

try:
    from depth_refine_ros.msg import RefineStats
    IMPORT_ERROR = ""
except ImportError as e:  # never generated here (or built for another Python)
    RefineStats = None
    IMPORT_ERROR = f"{type(e).__name__}: {e}"

MISSING = ("no per-frame statistics on {topic}: the message depth_refine_ros/msg/RefineStats is not available "
           "({error}); generate it with `make setup` (the venv) or `colcon build` (a workspace)")

#: fields filled by :func:`build` (test_stats.py checks them against msg/RefineStats.msg)
FIELDS = ("header", "mode", "method", "model", "backend", "precision", "scale", "input_height",
          "input_width", "output_height", "output_width", "stage_names", "stage_ms", "coverage",
          "lowres_residual_m", "shift_dy_px", "shift_dx_px", "frames_published", "frames_dropped",
          "frames_rejected")


def describe_pipeline(pipeline) -> tuple[str, str, str, str]:
    """``(method, model, backend, precision)`` of an SR or monocular pipeline, as the message has them.

    ``method``: the classical upsampler, or the network's kind (``sr``, ``depth_sr``, ``mono``), with
    ``+sddr`` when the SDDR stage runs; ``model``: the model's name (empty for classical);
    ``backend``: the registry name of what runs it (``auto`` resolved); ``precision``: the engine's
    (ONNX Runtime and the classical upsamplers compute in fp32).
    """
    backend = getattr(pipeline, "backend", None) or pipeline.mono
    model = getattr(backend, "model", None)
    if model is not None:
        method, name = model.kind, model.name
    else:
        method, name = getattr(backend, "method", backend.name), ""
    if getattr(pipeline, "refiner", None) is not None:
        method += "+sddr"
    precision = getattr(getattr(backend, "engine", None), "precision", "fp32")
    return method, name, backend.name, precision


def coverage(depth: np.ndarray) -> float:
    """Fraction of finite pixels of ``depth``."""
    return float(np.count_nonzero(np.isfinite(depth))) / max(depth.size, 1)


def build(header, identity: tuple[str, str, str, str], mode: str, depth: np.ndarray,
          input_hw: tuple[int, int], depth_lr: np.ndarray | None, shift_px: tuple[int, int],
          timings_ms: dict[str, float], totals: tuple[int, int, int]):
    """One ``RefineStats`` message.

    Args:
        header: the header the frame's outputs copy.
        identity: :func:`describe_pipeline` of the pipeline that refined it.
        mode: ``rgb`` or ``depth_only``.
        depth: the published ``(H, W)`` depth, metres, NaN invalid.
        input_hw: size of the input the scale is measured from (low-res depth, or RGB for mono_node).
        depth_lr: the low-res metric depth the frame was refined from (or fitted to), registered to
            the RGB camera; None: the residual is NaN.
        shift_px: registration ``(dy, dx)`` the output was moved by (undone before the residual).
        timings_ms: stage -> milliseconds.
        totals: ``(published, dropped, rejected)`` counters of the node.
    """
    msg = RefineStats()
    msg.header = header
    msg.mode = mode
    msg.method, msg.model, msg.backend, msg.precision = identity
    (out_h, out_w), (in_h, in_w) = depth.shape, input_hw
    msg.output_height, msg.output_width = int(out_h), int(out_w)
    msg.input_height, msg.input_width = int(in_h), int(in_w)
    msg.scale = out_w / in_w if in_w else 0.0
    msg.stage_names = list(timings_ms)
    msg.stage_ms = [float(v) for v in timings_ms.values()]
    msg.coverage = coverage(depth)
    dy, dx = (int(v) for v in shift_px)
    residual = float("nan")
    if depth_lr is not None:
        if (dy, dx) != (0, 0):  # compare on the depth's own grid
            depth = shift_image(depth, -dy, -dx)
        residual = lowres_residual(depth, depth_lr)
    msg.lowres_residual_m = residual
    msg.shift_dy_px, msg.shift_dx_px = dy, dx
    msg.frames_published, msg.frames_dropped, msg.frames_rejected = (int(v) for v in totals)
    return msg
