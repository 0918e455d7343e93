"""The one place that turns (rgb, depth_lr, intrinsics) into (depth_hr, intrinsics_hr).

Nodes, bag evaluation and benchmarks all call :meth:`Pipeline.process`, so they measure the same
thing. Stages: validate -> (decimated input re-sampled at block centres) -> (registration) -> backend
-> (SDDR) -> (averaged input: projection onto the samples) -> postprocess (range clamp to NaN) -> (temporal
filter).
Decoding messages and building clouds happen outside (in ``ros/``), because they are about
transport, not refinement.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.backends.base import Backend
from depth_refine_ros.core.depth import invalid_to_nan
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.core.projection import project_averaged
from depth_refine_ros.core.register import shift_image
from depth_refine_ros.core.sampling import SAMPLINGS, aspect_mismatch, recentre_decimated
from depth_refine_ros.core.temporal import TemporalFilter
from depth_refine_ros.pipeline.registration import Registration


class InputError(ValueError):
    """The frame cannot be refined; ``reason`` is a diagnostics key, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PipelineConfig:
    """Pipeline options.

    Attributes:
        min_depth_m: refined values ``<=`` this become NaN.
        max_depth_m: refined (and input) values ``>`` this become NaN.
        depth_sampling: where the low-res pixels sample the scene (:mod:`depth_refine_ros.core.sampling`):
            ``centred`` (each stands for its block of output pixels), ``decimated`` (each is its
            block's top-left output pixel, ``depth[::n, ::n]``; re-sampled at the block centres
            before anything else) or ``averaged`` (centred, each the average of its block; the
            output is projected back onto the samples after the backend).

    Raises:
        ValueError: an unknown ``depth_sampling``.
    """

    min_depth_m: float = 0.05
    max_depth_m: float = 20.0
    depth_sampling: str = "centred"

    def __post_init__(self) -> None:
        if self.depth_sampling not in SAMPLINGS:
            raise ValueError(f"depth sampling '{self.depth_sampling}' is not one of {', '.join(SAMPLINGS)}")


@dataclass
class Result:
    """One refined frame.

    Attributes:
        depth: ``(H, W) float32`` metres, NaN invalid, at the RGB resolution.
        intrinsics: intrinsics of ``depth`` (None when no camera_info was available).
        timings_ms: stage name -> milliseconds: ``preprocess`` (validation; with decimated input
            also its re-sampling), ``registration``,
            ``backend`` (all of the backend's work; for a network also its own stages ``fill``,
            ``upsample``, ``normalise``, ``pad``, ``infer``, ``crop``, ``holes``), ``sddr``,
            ``projection`` (``depth_sampling: averaged``), ``postprocess`` (range clamp, moving a
            registered result back), ``temporal``.
        shift_px: the registration ``(dy, dx)`` (output pixels) ``depth`` was moved by; ``(0, 0)``
            without registration.
        depth_lr: the ``(h, w) float32`` metres (NaN invalid) low-res depth as the backend got it:
            range-checked and, with ``depth_sampling: decimated``, re-sampled at its block centres
            (what a consistency check of the output should compare with).
    """

    depth: np.ndarray
    intrinsics: Intrinsics | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    shift_px: tuple[int, int] = field(default=(0, 0), kw_only=True)
    depth_lr: np.ndarray | None = field(default=None, kw_only=True)


class Pipeline:
    """Validation + backend + postprocessing for one frame at a time (not thread-safe).

    Args:
        backend: the inference backend.
        config: options.
        refiner: optional refinement stage applied after the backend (needs RGB).
        registration: optional depth-to-RGB offset correction (estimated from frames with RGB;
            frames without RGB keep the shift in use, so the output stays put). The RGB image is moved
            onto the depth's grid, refined there, and the result moved back, by whole output
            pixels: no depth value is interpolated, and the output stays on the RGB camera's grid
            (its camera_info) as the node promises.
        temporal: optional temporal filter, the last stage (on the final output grid, after the
            range clamp). Stateful: one per output stream; ``sr_node`` gives its guided and
            depth-only pipelines the same one, and replaces it (attribute ``temporal``, read once
            per frame) when its ``temporal.*`` parameters change.
    """

    def __init__(self, backend: Backend, config: PipelineConfig | None = None, refiner=None,
                 registration: Registration | None = None, temporal: TemporalFilter | None = None) -> None:
        self.backend = backend
        self.config = config or PipelineConfig()
        self.refiner = refiner  # optional SDDR stage (depth_refine_ros.pipeline.sddr.SddrRefinement)
        self.registration = registration
        self.temporal = temporal

    def output_size(self, rgb_hw: tuple[int, int], depth_hw: tuple[int, int]) -> tuple[int, int]:
        """Check the RGB/depth geometry and return the output size (the RGB size).

        Raises:
            InputError: different aspect ratios (:func:`~depth_refine_ros.core.sampling.aspect_mismatch`),
                or depth larger than RGB.
        """
        if why := aspect_mismatch(rgb_hw, depth_hw):
            raise InputError("aspect_mismatch", f"{why}; depth must be registered to rgb")
        (big_h, big_w), (h, w) = rgb_hw, depth_hw
        sx, sy = big_w / w, big_h / h
        if sx < 1 or sy < 1:
            raise InputError("depth_larger_than_rgb",
                             f"depth {w}x{h} is larger than rgb {big_w}x{big_h}; nothing to upsample")
        self.check_scale(max(sx, sy))
        return big_h, big_w

    def check_scale(self, scale: float) -> None:
        """Refuse a scale factor outside the backend's ``scale_range`` (25 % tolerance).

        Raises:
            InputError: ``scale_out_of_range``.
        """
        rng = getattr(self.backend, "scale_range", None)
        if rng is not None and not (rng[0] / 1.25 <= scale <= rng[1] * 1.25):
            raise InputError("scale_out_of_range",
                             f"upsampling factor {scale:.2f} is outside {rng[0]:g}..{rng[1]:g}, the range "
                             f"{self.backend.describe()} was made for")

    def process(self, rgb: np.ndarray | None, depth_lr: np.ndarray,
                intrinsics: Intrinsics | None = None, out_hw: tuple[int, int] | None = None
                ) -> Result:
        """Refine one frame.

        Args:
            rgb: ``(H, W, 3) uint8`` RGB registered to the depth, or None for depth-only backends
                (then ``out_hw`` is required).
            depth_lr: ``(h, w) float32`` metres, NaN invalid.
            intrinsics: intrinsics of either image (any size: they are scaled to the output; those of
                the depth's own size with ``depth_sampling: decimated`` as a decimated image's).
            out_hw: output size; defaults to the RGB size.

        Returns:
            :class:`Result` at the output resolution.

        Raises:
            InputError: geometry problems, all-invalid depth, or missing RGB for a guided backend.
        """
        t0 = time.perf_counter()
        if rgb is None:
            if self.backend.needs_rgb or out_hw is None:
                raise InputError("missing_rgb", f"backend {self.backend.describe()} needs an RGB image")
            self.check_scale(max(out_hw[0] / depth_lr.shape[0], out_hw[1] / depth_lr.shape[1]))
        else:
            out_hw = self.output_size(rgb.shape[:2], depth_lr.shape)
        cfg = self.config
        depth_lr = invalid_to_nan(depth_lr, cfg.min_depth_m, cfg.max_depth_m)
        if not np.isfinite(depth_lr).any():
            raise InputError("all_invalid", "every depth pixel is invalid (0, NaN, Inf or out of "
                                            f"[{cfg.min_depth_m}, {cfg.max_depth_m}] m)")
        if cfg.depth_sampling == "decimated":
            depth_lr = recentre_decimated(depth_lr, out_hw)
        t_reg = time.perf_counter()
        shift = (0, 0)
        if self.registration is not None and self.registration.active:
            if rgb is None:  # depth alone: keep the output on the RGB grid with the shift in use
                shift = self.registration.current
            else:
                shift = self.registration.shift_for(rgb, depth_lr)
                rgb = shift_image(rgb, -shift[0], -shift[1])
        t1 = time.perf_counter()
        out = self.backend.infer({"rgb": rgb, "depth_lr": depth_lr}, out_hw)
        t2 = time.perf_counter()
        depth = out["depth"]
        t_ref = time.perf_counter()
        if self.refiner is not None and rgb is not None:
            depth = self.refiner.apply(depth, rgb)
        t_ref = time.perf_counter() - t_ref
        t_proj = time.perf_counter()
        if cfg.depth_sampling == "averaged":  # on the depth's own grid: before a registered result moves back
            depth = project_averaged(depth, depth_lr)
        t_proj = time.perf_counter() - t_proj
        if shift != (0, 0):
            depth = np.ascontiguousarray(shift_image(depth, *shift))
        with np.errstate(invalid="ignore"):
            depth[(depth <= cfg.min_depth_m) | (depth > cfg.max_depth_m)] = np.nan
        intr = None
        if intrinsics is not None:  # a decimated image's own intrinsics scale by the decimation's geometry
            decimated = cfg.depth_sampling == "decimated" and (intrinsics.height, intrinsics.width) == depth_lr.shape
            intr = intrinsics.scaled_to(out_hw[1], out_hw[0], decimated=decimated)
        t3 = time.perf_counter()
        temporal = self.temporal  # read once: the node may swap it between frames
        if temporal is not None:
            depth = temporal.apply(depth)
        t4 = time.perf_counter()
        timings = {"preprocess": (t_reg - t0) * 1e3, "backend": (t2 - t1) * 1e3,
                   "postprocess": (t3 - t2 - t_ref - t_proj) * 1e3}
        if cfg.depth_sampling == "averaged":
            timings["projection"] = t_proj * 1e3
        if temporal is not None:
            timings["temporal"] = (t4 - t3) * 1e3
        timings.update(self.backend.last_timings)  # a network's own stages
        if self.registration is not None and self.registration.active:
            timings["registration"] = (t1 - t_reg) * 1e3
        if self.refiner is not None:
            timings["sddr"] = t_ref * 1e3
        return Result(depth, intr, timings, shift_px=shift, depth_lr=depth_lr)
