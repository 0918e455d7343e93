"""Where the low-res depth's pixels sample the scene, and moving decimated input onto block centres.

Every upsampler here (classical and network) takes the half-pixel-aligned convention of
cv2.resize and :meth:`Intrinsics.scaled_to`: low-res pixel ``i`` stands for the block of output
pixels ``[i*s, (i+1)*s)`` and sits at its centre, output coordinate ``(i + 0.5) * s - 0.5`` (``s``
the output/input size ratio). That is what a sensor with larger pixels, binning, block averaging
and antialiased resizes give (``centred``).

A driver that keeps every n-th pixel (``depth[::n, ::n]``, ``cv2.resize`` with ``INTER_NEAREST``,
image_proc's ``crop_decimate``) gives ``decimated`` input instead: pixel ``i`` is the output pixel
``i * s``, the block's top-left corner, ``(s - 1) / 2`` output pixels up and left of where the
upsamplers put it (1.5 px at x4, 3.5 at x8). Treated as centred, the whole result sits that far
off the RGB image; on held-out RGB-D-D frames that offset, not the missing detail, was most of the
error (bicubic 4.53 -> 2.87 cm at x4 once moved, docs/results.md#decimated). camera_info cannot
reliably tell the two apart (most drivers divide K by n for both), so the node takes it as a
parameter (``depth.sampling``); with it, the depth's own camera_info is scaled as a decimated
image's too (:meth:`Intrinsics.scaled_to`).

Exact where the output is a whole multiple of the input (``[::n]`` of a size divisible by n, the
usual case). Where it is not, a driver's ``[::n]`` samples at ``i * n`` while this assumes ``i * s``
with ``s = H / h`` (e.g. ``[::3]`` of 1280 px: 427 px, s = 2.998, 1.0 px off at the far edge).

:func:`recentre_decimated` re-samples decimated input at its block centres, low-res coordinate
``i + (s - 1) / (2 s)``, with a 4-tap cubic per axis, so that what follows can treat it as centred.

All of this assumes the depth covers the RGB image's field of view, at its aspect ratio:
:func:`aspect_mismatch` is the one check of that (the pipeline's validation, ``adapt``'s bag check and
the low-res residual metric all call it), to :data:`ASPECT_TOLERANCE`.
"""
from __future__ import annotations

import numpy as np

from depth_refine_ros.core.upsample import fill_invalid

SAMPLINGS = ("centred", "decimated", "averaged")
"""``depth.sampling`` values: ``centred`` (each low-res pixel stands for its block; no change),
``decimated`` (each is its block's top-left output pixel; re-sampled by :func:`recentre_decimated`) and
``averaged`` (centred, and each is its block's average; the output is projected back onto the samples by
:func:`depth_refine_ros.core.projection.project_averaged`)."""


ASPECT_TOLERANCE = 0.02
"""How far apart the RGB and depth scale factors (``W / w`` and ``H / h``) may be, relative to the larger:
2 % lets sizes rounded to whole pixels through and refuses depth that is not registered to the RGB
image (e.g. 4:3 RGB with 16:9 depth)."""


def aspect_mismatch(rgb_hw: tuple[int, int], depth_hw: tuple[int, int]) -> str | None:
    """None when the depth has the RGB image's aspect ratio (to :data:`ASPECT_TOLERANCE`), else why not.

    Args:
        rgb_hw: ``(H, W)`` of the RGB image (the output).
        depth_hw: ``(h, w)`` of the low-res depth.

    Returns:
        None, or a message naming both sizes, the two scale factors and how far apart they are
        (callers add what to do and raise their own error).
    """
    (big_h, big_w), (h, w) = rgb_hw, depth_hw
    sx, sy = big_w / w, big_h / h
    if abs(sx - sy) <= ASPECT_TOLERANCE * max(sx, sy):
        return None
    return (f"rgb {big_w}x{big_h} and depth {w}x{h} have different aspect ratios (scale x {sx:.3f} vs "
            f"y {sy:.3f}: {abs(sx - sy) / max(sx, sy):.1%} apart, more than {ASPECT_TOLERANCE:.0%})")


def decimation_offset(n_in: int, n_out: int) -> float:
    """How far (low-res pixels) a decimated sample sits before its block's centre: ``(s - 1) / (2 s)``
    with ``s = n_out / n_in``; 0 when the sizes are equal."""
    s = n_out / n_in
    return (s - 1.0) / (2.0 * s)


def shift_kernel(t: float) -> np.ndarray:
    """The 4 taps that sample a row at ``i + t`` (``0 <= t < 1``) from pixels ``i-1 .. i+2``:
    Keys' cubic with ``a = -0.5`` (Catmull-Rom), which reproduces planes and quadratics exactly.
    (OpenCV's ``a = -0.75`` does not: its remap moved a linear ramp by 0.404 px when asked for 0.375.)

    Returns:
        ``(4,) float32`` weights summing to 1.
    """
    def w(d: float) -> float:
        d = abs(d)
        if d <= 1:
            return 1.5 * d**3 - 2.5 * d**2 + 1
        return -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2 if d < 2 else 0.0

    return np.array([w(1 + t), w(t), w(1 - t), w(2 - t)], dtype=np.float32)


def recentre_decimated(depth_lr: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Decimated low-res depth re-sampled at its block centres (module docstring).

    A separable 4-tap filter per axis (:func:`shift_kernel`), borders replicated, each result clamped
    to the range of the 2x2 input pixels it lies between (no ringing at depth edges). Invalid pixels are
    filled from valid neighbours first (as the upsamplers do), so no hole leaks a 0 or NaN into its
    surroundings, and stay invalid (NaN) at their own position: the shift is under half a pixel, so
    each sample's nearest source pixel is itself.

    Args:
        depth_lr: ``(h, w) float32`` metres, NaN invalid, sampled at output pixels ``(i*sy, j*sx)``.
        out_hw: ``(H, W)`` output size the input is upsampled to (``sy = H / h``, ``sx = W / w``,
            each >= 1; a non-integer ratio is taken as samples at ``i * s``: module docstring).

    Returns:
        ``(h, w) float32`` metres, NaN where ``depth_lr`` was invalid: the same grid, sampled at the
        block centres, output pixels ``((i + 0.5) * sy - 0.5, (j + 0.5) * sx - 0.5)``.
    """
    import cv2  # a runtime dependency, imported where it is used (as core.upsample)

    h, w = depth_lr.shape
    ky = shift_kernel(decimation_offset(h, out_hw[0]))
    kx = shift_kernel(decimation_offset(w, out_hw[1]))
    filled, valid = fill_invalid(depth_lr)
    # correlation with the anchor on tap 1: out[i] = k0 in[i-1] + k1 in[i] + k2 in[i+1] + k3 in[i+2]
    src = np.ascontiguousarray(filled, dtype=np.float32)
    out = cv2.sepFilter2D(src, cv2.CV_32F, kx, ky, anchor=(1, 1), borderType=cv2.BORDER_REPLICATE)
    # no overshoot: each value within the 2x2 pixels it lies between (a cubic rings at a depth edge,
    # 10 m -> 0.3 m at x4 gave -0.41 and 10.43 m); a plane's values lie there already
    # (the 2x2 min / max anchored at the top-left: pixels i, i+1 in each axis)
    box = np.ones((2, 2), np.uint8)
    lo = cv2.erode(src, box, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    hi = cv2.dilate(src, box, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    np.clip(out, lo, hi, out=out)
    out[~valid] = np.nan
    return out


__all__ = ["SAMPLINGS", "decimation_offset", "recentre_decimated", "shift_kernel"]
