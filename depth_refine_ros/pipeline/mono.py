"""The monocular pipeline: RGB (+ optional low-res depth) -> relative or metric depth.

``mono_node`` converts messages and calls :meth:`MonoPipeline.process`; this module runs the
network, the optional SDDR stage (docs/architecture.md, METHODS 3), the metric fit and the
range clamp. With a depth image, the prediction is robustly fitted (Huber-reweighted least
squares, :func:`~depth_refine_ros.core.net_input.fit_scale_shift`) to the valid depth pixels at the
depth's own resolution, so the output is in metres; without it the output is relative.

Imported foundation models (docs/foundation_models.md) say what they output in their card
(:func:`~depth_refine_ros.core.foundation.output_kind`): Depth Anything's relative inverse depth is
fitted in inverse-depth space (:func:`~depth_refine_ros.core.foundation.fit_inverse_depth`, scale
and shift on ``1 / depth``), and a metric checkpoint's output is used as metres as it is (with a
depth image, the fit only measures its residual: scale 1, shift 0).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.core.foundation import fit_inverse_depth, inverse_to_depth, output_kind
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
        fit: ``scale``, ``shift_m``, ``residual_m``, ``points`` of the metric fit (empty: relative output);
            for a relative inverse-depth model ``scale``, ``shift_inv`` (1/m), ``residual_inv`` (1/m),
            ``residual_m``, ``points``, ``inliers`` (:func:`~depth_refine_ros.core.foundation.fit_inverse_depth`).
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
        #: ``relative``, ``relative_inverse`` or ``metric`` (the model card's ``units.depth_out``)
        self.output = output_kind(getattr(getattr(mono, "model", None), "card", None))

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
            if self.output == "relative":
                s, t, resid, n = fit_scale_shift(pred, target, min_points=cfg.min_points)
                if not np.isfinite(s) or s <= 0:
                    raise InputError("fit_failed", f"scale/shift fit failed ({n} valid depth pixels, scale "
                                                   f"{s:.3g}; metric.min_points {cfg.min_points})")
                depth = rel * np.float32(s) + np.float32(t)
                fit = {"scale": s, "shift_m": t, "residual_m": resid, "points": n}
            else:
                depth, fit = self._fit_foundation(rel, pred, target)
        elif self.output == "relative_inverse":
            depth = rel.copy()  # relative inverse depth, published as is (larger = nearer)
        floor = cfg.min_depth_m if depth_lr is not None or self.output == "metric" else 0.0
        # relative inverse depth (no depth image) has no range in metres to clamp to
        ceiling = np.inf if depth_lr is None and self.output == "relative_inverse" else cfg.max_depth_m
        with np.errstate(invalid="ignore"):
            depth[(depth <= floor) | (depth > ceiling)] = np.nan
        intr = intrinsics.scaled_to(hw[1], hw[0]) if intrinsics is not None else None
        timings = {"infer": (t1 - t0) * 1e3, "postprocess": (time.perf_counter() - t2) * 1e3}
        if self.refiner is not None:
            timings["sddr"] = (t2 - t1) * 1e3
        return MonoResult(depth, intr, timings, fit)

    def _fit_foundation(self, rel: np.ndarray, pred: np.ndarray, target: np.ndarray
                        ) -> tuple[np.ndarray, dict[str, float]]:
        """The metric fit of an imported foundation model (module docstring): ``(depth, fit)``.

        Raises:
            InputError: ``fit_failed``: too few valid pixels, or a fit that maps the prediction's
                larger values (nearer) to larger depth (non-positive scale).
        """
        n_min = self.config.min_points
        if self.output == "metric":
            n = int(np.count_nonzero(np.isfinite(pred) & np.isfinite(target)))
            if n < n_min:
                raise InputError("fit_failed", f"{n} valid depth pixels to check the metric output against "
                                               f"(metric.min_points {n_min})")
            with np.errstate(invalid="ignore"):
                resid = float(np.sqrt(np.nanmean((pred - target) ** 2)))
            return rel.copy(), {"scale": 1.0, "shift_m": 0.0, "residual_m": resid, "points": n}
        f = fit_inverse_depth(pred, target, min_points=n_min)
        if not np.isfinite(f["scale"]) or f["scale"] <= 0:
            raise InputError("fit_failed", f"inverse-depth scale/shift fit failed ({f['points']} valid depth "
                                           f"pixels, scale {f['scale']:.3g}; metric.min_points {n_min})")
        fit = {"scale": f["scale"], "shift_inv": f["shift"], "residual_inv": f["residual_inv"],
               "residual_m": f["residual_m"], "points": f["points"], "inliers": f["inliers"]}
        return inverse_to_depth(rel, f["scale"], f["shift"]), fit
