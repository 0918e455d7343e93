"""SDDR refinement of a depth map (docs/architecture.md, METHODS 3), one-stage or two-stage, as a pipeline stage.

The refiner needs two inferences of the same scene: a "low-resolution" one (consistent, blurry
edges) and a "high-resolution" one (sharp, locally inconsistent). Here:

* ``low`` is the depth being refined (the SR output in ``sr_node``, the monocular prediction in
  ``mono_node``), holes filled;
* ``high`` is the monocular network run on the RGB at ``high_upscale`` x its normal input size,
  affinely fitted to ``low`` (robust least squares), because the network is relative.

One-stage: ``D0 = refiner(low, high)``. Two-stage (coarse-to-fine, about 30 refiner runs): for
s = 1..3 the image is split into (s+1)^2 windows overlapping by ``overlap``; in each window the
monocular net is re-run on the RGB crop (a higher effective resolution), the refiner runs on
(current result, crop inference), the window's output is fitted back to the current result by
scale/shift least squares and blended in with a feathered weight. The result keeps the metric
scale of ``low``; pixels invalid in the input stay NaN.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from depth_refine_ros.backends.net import MonoBackend, SddrBackend
from depth_refine_ros.core.net_input import fit_scale_shift
from depth_refine_ros.core.upsample import fill_invalid

MODES = ("none", "one_stage", "two_stage")


def feather(h: int, w: int) -> np.ndarray:
    """``(h, w) float32`` weights rising linearly from the window border (min 0.05)."""
    y = np.minimum(np.arange(h) + 1, h - np.arange(h)) / max(h / 2, 1)
    x = np.minimum(np.arange(w) + 1, w - np.arange(w)) / max(w / 2, 1)
    return np.clip(np.outer(y, x), 0.05, 1.0).astype(np.float32)


def windows(hw: tuple[int, int], n: int, overlap: float = 0.25) -> list[tuple[slice, slice]]:
    """``n x n`` windows covering ``hw``, each overlapping its neighbours by ``overlap`` of its size."""
    out = []
    for axis_len in hw:
        size = int(np.ceil(axis_len / (n - (n - 1) * overlap))) if n > 1 else axis_len
        starts = np.linspace(0, axis_len - size, n).round().astype(int) if n > 1 else [0]
        out.append([slice(int(s), int(s) + size) for s in starts])
    return [(ys, xs) for ys in out[0] for xs in out[1]]


def fit_high(rel: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The relative high-resolution inference ``rel`` fitted to ``low`` by robust scale/shift
    (``low`` itself where the fit fails). ``(H, W) float32``, ``low``'s units."""
    s, t, _, _ = fit_scale_shift(rel, low)
    return rel * np.float32(s) + np.float32(t) if np.isfinite(s) else low


WindowRefine = Callable[[np.ndarray, slice, slice], tuple[np.ndarray, np.ndarray]]
"""``(window depth (h, w) float32, rows, cols) -> (refined depth, its gradient magnitude)``, both
``(h, w) float32`` in the window depth's units."""


def coarse_to_fine(d0: np.ndarray, refine: WindowRefine, overlap: float = 0.25, g0: np.ndarray | None = None,
                   levels: tuple[int, ...] = (1, 2, 3)) -> tuple[np.ndarray, np.ndarray | None]:
    """SDDR's coarse-to-fine pass (docs/architecture.md, METHODS 3), shared by the two-stage
    inference and the training's pseudo-labels.

    For each s in ``levels`` the map is split into (s+1)^2 windows overlapping by ``overlap``; each
    window's refinement is fitted back to the current result by robust scale/shift and blended in
    with :func:`feather` weights. With ``g0`` the edge map is carried along too: each window's
    gradient map ``G`` is fitted by least squares, ``beta1 G + beta0 ~= G_{s-1}`` over the window,
    and blended the same way into ``G_s``.

    Args:
        d0: ``(H, W) float32`` the one-stage result, no NaN.
        refine: runs the refiner on one window (see :data:`WindowRefine`).
        overlap: window overlap, fraction of the window size.
        g0: optional ``(H, W) float32`` starting edge map ``G_0`` (units of ``d0`` per pixel).
        levels: the s values.

    Returns:
        ``(D_S, G_S)``: ``(H, W) float32``; ``G_S`` is None without ``g0``.
    """
    cur, g = d0, g0
    for s in levels:
        acc, wsum = np.zeros_like(cur), np.zeros_like(cur)
        gacc = None if g is None else np.zeros_like(cur)
        for ys, xs in windows(cur.shape, s + 1, overlap):
            win = cur[ys, xs]
            out, edges = refine(win, ys, xs)
            a, b, _, _ = fit_scale_shift(out, win)
            if np.isfinite(a):
                out = out * np.float32(a) + np.float32(b)
            wgt = feather(*win.shape)
            acc[ys, xs] += out * wgt
            wsum[ys, xs] += wgt
            if gacc is not None:
                x = edges.astype(np.float64).ravel()
                beta1, beta0 = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1),
                                               g[ys, xs].astype(np.float64).ravel(), rcond=None)[0]
                gacc[ys, xs] += (edges * np.float32(beta1) + np.float32(beta0)) * wgt
        cur = acc / np.maximum(wsum, 1e-6)
        g = None if gacc is None else gacc / np.maximum(wsum, 1e-6)
    return cur, g


class SddrRefinement:
    """The refinement stage.

    Args:
        refiner: an SDDR model backend.
        mono: a monocular model backend (the "high-resolution inference").
        mode: ``one_stage`` or ``two_stage``.
        high_upscale: input-size factor of the high-resolution inference.
        overlap: window overlap of the two-stage mode.
    """

    def __init__(self, refiner: SddrBackend, mono: MonoBackend, mode: str = "one_stage",
                 high_upscale: float = 2.0, overlap: float = 0.25) -> None:
        if mode not in ("one_stage", "two_stage"):
            raise ValueError(f"refinement mode must be one_stage or two_stage, not {mode!r}")
        self.refiner, self.mono, self.mode = refiner, mono, mode
        self.high_upscale, self.overlap = high_upscale, overlap

    def describe(self) -> str:
        return f"sddr {self.mode} ({self.refiner.model.name} + {self.mono.model.name})"

    def _refine(self, low: np.ndarray, rgb: np.ndarray, upscale: float) -> tuple[np.ndarray, np.ndarray]:
        high = fit_high(self.mono.infer({"rgb": rgb}, low.shape, upscale=upscale)["depth"], low)
        out = self.refiner.infer({"low": low, "high": high}, low.shape)
        return out["depth"], out["edges"]

    def apply(self, depth: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """Refine ``(H, W) float32`` metres (NaN invalid) guided by ``(H, W, 3) uint8`` RGB."""
        filled, valid = fill_invalid(depth)
        if not valid.any():
            return depth
        cur, _ = self._refine(filled, rgb, self.high_upscale)
        if self.mode == "two_stage":
            cur, _ = coarse_to_fine(cur, lambda win, ys, xs: self._refine(win, rgb[ys, xs], 1.0), self.overlap)
        cur = cur.astype(np.float32, copy=False)
        cur[~valid] = np.nan
        return cur
