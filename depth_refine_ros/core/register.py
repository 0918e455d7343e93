"""Depth-to-RGB registration: estimate and undo a residual image-plane offset (numpy only).

A driver's "aligned depth" is only as good as its extrinsic calibration. The real phone-ToF frames
of RGB-D-D (``rgbdd_real_lr``) sit 1-7 px (at 512x384) off their RGB image, and that offset, not the
upsampling, dominates their error: undoing the offset estimated here takes bicubic from 7.67 cm to
4.98 (each frame's own estimate) or 5.38 (the three frames' median, one calibration). Guided
upsamplers cannot fix it (they look for RGB edges within a pixel or two).

The estimate needs no ground truth: the shift that best lines up the depth's edges with the RGB
image's edges (normalised cross-correlation of the two edge maps, searched exhaustively within
``max_shift_px`` by FFT). RGB has texture edges that depth lacks, but they are uncorrelated with the
depth edges, so they lower the peak without moving it much. One frame's estimate can be wrong (a
texture-free view, a flat scene): :class:`ShiftTracker` keeps a running median over frames whose
peak is clearly above the zero-shift score, as an offset that comes from calibration drifts slowly.
The pipeline's stage that uses them per frame (modes, every n-th frame, a background thread) is
:class:`depth_refine_ros.pipeline.registration.Registration`.

A single 2-D shift is an approximation: the parallax of a camera pair changes with depth. It is
exact for a pure misregistration and good for scenes within a moderate depth range.

Conventions: a shift ``(dy, dx)`` in output (RGB) pixels moves depth content by ``+dy`` rows and
``+dx`` columns, i.e. ``corrected[y, x] = depth[y - dy, x - dx]`` (edges replicated).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from depth_refine_ros.core.upsample import fill_invalid, resize2d


@dataclass(frozen=True)
class ShiftEstimate:
    """One frame's registration estimate.

    Attributes:
        dy: rows (output pixels) to move the depth down.
        dx: columns (output pixels) to move the depth right.
        score: normalised edge correlation at the best shift (0..1).
        gain: ``score`` over the zero-shift score (1.0: no better than leaving the depth alone).
    """

    dy: int
    dx: int
    score: float
    gain: float


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    for axis in (0, 1):
        p = np.pad(img, [(r, r) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = img.shape[axis]
        img = sum(w * np.take(p, np.arange(i, i + n), axis=axis) for i, w in enumerate(k))
    return img.astype(np.float32)


def _grad_mag(img: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(img)
    return np.hypot(gx, gy).astype(np.float32)


def depth_edges(depth_lr: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Relative depth-edge strength ``|grad d| / d`` at the output size, clipped to [0, 1].

    Args:
        depth_lr: ``(h, w) float32`` metres, NaN invalid.
        out_hw: ``(H, W)`` output (RGB) size.

    Returns:
        ``(H, W) float32``; relative so that a 10 cm step at 1 m counts as much as 1 m at 10 m.
    """
    filled, _ = fill_invalid(depth_lr)
    up = resize2d(filled, out_hw)
    return np.clip(_grad_mag(up) / np.maximum(up, 0.1), 0.0, 1.0)


def rgb_edges(rgb: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the grey image after a 1 px Gaussian (``(H, W, 3) uint8`` -> ``(H, W) float32``)."""
    g = (rgb[..., 0] * np.float32(0.299 / 255) + rgb[..., 1] * np.float32(0.587 / 255)
         + rgb[..., 2] * np.float32(0.114 / 255)).astype(np.float32)
    return _grad_mag(_blur(g, 1.0))


@lru_cache(maxsize=8)
def _interior(hw: tuple[int, int], margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The interior mask (1 inside ``margin``) and its rFFT; cached per image size (read-only)."""
    mask = np.zeros(hw, np.float32)
    mask[margin:-margin, margin:-margin] = 1.0
    f = np.fft.rfft2(mask)
    mask.setflags(write=False)
    f.setflags(write=False)
    return mask, f


def estimate_shift(rgb: np.ndarray, depth_lr: np.ndarray, max_shift_px: int = 8) -> ShiftEstimate:
    """The integer shift (output pixels) that best lines up depth edges with RGB edges.

    Args:
        rgb: ``(H, W, 3) uint8`` guidance image (the output grid).
        depth_lr: ``(h, w) float32`` metres, NaN invalid, registered (nominally) to ``rgb``.
        max_shift_px: search radius in output pixels.

    Returns:
        The best shift; ``(0, 0)`` with ``gain`` 1 when the depth has no edges at all.
    """
    hw = rgb.shape[:2]
    a = depth_edges(depth_lr, hw)
    b = rgb_edges(rgb)
    m = max_shift_px + 2
    if min(hw) <= 4 * m:
        raise ValueError(f"image {hw} too small for a {max_shift_px} px registration search")
    mask, f_mask = _interior(hw, m)
    b = b * mask  # only interior pixels are compared, so the FFT's wrap-around never enters
    fb = np.fft.rfft2(b)
    # c[d] = sum_x a(x - d) b(x): the shifted depth edges against the RGB edges
    cross = np.fft.irfft2(np.conj(np.fft.rfft2(a)) * fb, s=hw)
    energy = np.fft.irfft2(np.conj(np.fft.rfft2(a * a)) * f_mask, s=hw)
    b_norm = float(np.sqrt((b * b).sum()))
    r = np.arange(-max_shift_px, max_shift_px + 1)
    win = np.ix_(r % hw[0], r % hw[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = cross[win] / (np.sqrt(np.maximum(energy[win], 0.0)) * b_norm)
    ncc = np.nan_to_num(ncc, nan=0.0, posinf=0.0, neginf=0.0)
    zero = float(ncc[max_shift_px, max_shift_px])
    iy, ix = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    best = float(ncc[iy, ix])
    if best <= 0.0:
        return ShiftEstimate(0, 0, 0.0, 1.0)
    gain = best / zero if zero > 0 else float("inf")
    return ShiftEstimate(int(r[iy]), int(r[ix]), best, gain)


def shift_image(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = img[y - dy, x - dx]`` with edge replication (works for ``(H, W)`` and ``(H, W, C)``)."""
    if dy == 0 and dx == 0:
        return img
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return img[ys][:, xs]


class ShiftTracker:
    """Running median of per-frame shift estimates (a calibration offset drifts slowly).

    A single frame's estimate is good to about 1-2 px (measured on RGB-D-D: even the ground-truth
    depth, full resolution, lands within 1 px of (0, 0) on only ~60 % of frames; RGB texture edges
    pull the peak), so a median below ``min_shift_px`` is treated as no misregistration at all:
    on a well-registered stream the correction then stays off instead of adding 1 px of error.

    Args:
        window: estimates kept.
        min_gain: an estimate counts only if its peak beats the zero-shift score by this factor
            (else it counts as ``(0, 0)``: no evidence of misregistration).
        max_shift_px: search radius passed to :func:`estimate_shift`.
        min_shift_px: dead band: a median shift smaller than this (both axes) is reported as 0.

    Not thread-safe: the pipeline's stage, whose estimates may run on a background thread, uses a
    locked subclass (``pipeline/registration.py``).
    """

    def __init__(self, window: int = 15, min_gain: float = 1.05, max_shift_px: int = 8,
                 min_shift_px: int = 2) -> None:
        self.min_gain = min_gain
        self.max_shift_px = max_shift_px
        self.min_shift_px = min_shift_px
        self._hist: deque[tuple[int, int]] = deque(maxlen=window)
        self.last: ShiftEstimate | None = None

    def update(self, rgb: np.ndarray, depth_lr: np.ndarray) -> tuple[int, int]:
        """Estimate on this frame, add it, and return the current ``(dy, dx)``."""
        self.add(estimate_shift(rgb, depth_lr, self.max_shift_px))
        return self.current

    def add(self, est: ShiftEstimate) -> None:
        """Keep one frame's estimate (as ``(0, 0)`` if its gain is below ``min_gain``)."""
        self.last = est
        self._hist.append((est.dy, est.dx) if est.gain >= self.min_gain else (0, 0))

    @property
    def current(self) -> tuple[int, int]:
        """Median ``(dy, dx)`` of the kept estimates (``(0, 0)`` before any)."""
        hist = list(self._hist)
        if not hist:
            return 0, 0
        arr = np.asarray(hist)
        dy, dx = int(np.round(np.median(arr[:, 0]))), int(np.round(np.median(arr[:, 1])))
        if max(abs(dy), abs(dx)) < self.min_shift_px:
            return 0, 0
        return dy, dx

    def reset(self) -> None:
        self._hist.clear()
        self.last = None
