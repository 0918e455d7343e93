"""The monocular pipeline: RGB (+ optional low-res depth) -> relative or metric depth.

``mono_node`` converts messages and calls :meth:`MonoPipeline.process`; this module runs the
network, the optional SDDR stage (docs/architecture.md, METHODS 3), the metric fit and the
range clamp. With a depth image, the prediction is robustly fitted (Huber-reweighted least
squares, :func:`~depth_refine_ros.core.net_input.fit_scale_shift`) to the valid depth pixels at the
depth's own resolution, so the output is in metres; without it the output is relative.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.core.net_input import fit_scale_shift, resize_depth
from depth_refine_ros.pipeline.sr import InputError, Result


@dataclass(frozen=True)
class MonoPipelineConfig:
    """Options of :class:`MonoPipeline`.

    Attributes:
        min_depth_m: fitted depth (and fit targets) at or below this are invalid (metres).
        max_depth_m: depth above this is invalid (metres; relative output too).
        min_points: fewest valid depth pixels for a metric fit.
    """

    min_depth_m: float = 0.05
    max_depth_m: float = 20.0
    min_points: int = 50


@dataclass
class MonoResult(Result):
    """A :class:`~depth_refine_ros.pipeline.sr.Result` plus the metric fit.

    Attributes:
        fit: ``scale``, ``shift_m``, ``residual_m``, ``points`` of the metric fit (empty: relative output).
    """

    fit: dict[str, float] = field(default_factory=dict)


class MonoPipeline:
    """Monocular network + optional SDDR refinement + optional metric fit (not thread-safe).

    Args:
        mono: a monocular model backend (``backends.net.MonoBackend``).
        config: options.
        refiner: optional :class:`~depth_refine_ros.pipeline.sddr.SddrRefinement`.
    """

    def __init__(self, mono, config: MonoPipelineConfig | None = None, refiner=None) -> None:
        self.mono = mono
        self.config = config or MonoPipelineConfig()
        self.refiner = refiner

    def process(self, rgb: np.ndarray, depth_lr: np.ndarray | None = None,
                intrinsics: Intrinsics | None = None) -> MonoResult:
        """Depth for one RGB frame.

        Args:
            rgb: ``(H, W, 3) uint8`` RGB.
            depth_lr: ``(h, w) float32`` metres (NaN invalid), registered to ``rgb``, any size with
                the same aspect: the output is fitted to it (metric). None: relative output.
            intrinsics: of ``rgb`` (any size: scaled to the output).

        Returns:
            ``(H, W) float32`` depth, NaN invalid: metres with ``depth_lr``, else relative units.

        Raises:
            InputError: ``fit_failed`` (too few valid depth pixels, or a non-positive scale).
        """
        cfg = self.config
        hw = rgb.shape[:2]
        t0 = time.perf_counter()
        rel = self.mono.infer({"rgb": rgb}, hw)["depth"]
        t1 = time.perf_counter()
        if self.refiner is not None:
            rel = self.refiner.apply(rel, rgb)
        t2 = time.perf_counter()
        depth, fit = rel, {}
        if depth_lr is not None:
            with np.errstate(invalid="ignore"):
                target = np.where((depth_lr > cfg.min_depth_m) & (depth_lr <= cfg.max_depth_m),
                                  depth_lr, np.nan).astype(np.float32)
            pred = resize_depth(rel, target.shape)
            s, t, resid, n = fit_scale_shift(pred, target, min_points=cfg.min_points)
            if not np.isfinite(s) or s <= 0:
                raise InputError("fit_failed", f"scale/shift fit failed ({n} valid depth pixels, scale {s:.3g}; "
                                               f"metric.min_points {cfg.min_points})")
            depth = rel * np.float32(s) + np.float32(t)
            fit = {"scale": s, "shift_m": t, "residual_m": resid, "points": n}
        floor = cfg.min_depth_m if depth_lr is not None else 0.0
        with np.errstate(invalid="ignore"):
            depth[(depth <= floor) | (depth > cfg.max_depth_m)] = np.nan
        intr = intrinsics.scaled_to(hw[1], hw[0]) if intrinsics is not None else None
        timings = {"infer": (t1 - t0) * 1e3, "postprocess": (time.perf_counter() - t2) * 1e3}
        if self.refiner is not None:
            timings["sddr"] = (t2 - t1) * 1e3
        return MonoResult(depth, intr, timings, fit)
