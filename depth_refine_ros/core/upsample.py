"""Classical depth upsamplers a robotics engineer would otherwise use (numpy; cv2 for the per-frame box
sums and mask resizes).

All share one signature, ``fn(depth_lr, rgb, out_hw, **params) -> depth_hr``:

- ``depth_lr``: ``(h, w) float32`` metres, NaN invalid.
- ``rgb``: ``(H, W, 3) uint8`` guidance image registered to the depth (ignored by ``bicubic``).
- ``out_hw``: ``(H, W)`` output size; any (also non-integer) scale factor >= 1.
- returns ``(H, W) float32`` metres, NaN where the nearest low-res source pixel was invalid.

Shared choices, written down once:

- Geometry is half-pixel aligned (the low-res pixel ``i`` covers high-res ``[i*s, (i+1)*s)``), the
  same convention as cv2.resize and :meth:`Intrinsics.scaled_to`.
- Default parameters were chosen by a small grid search on RGB-D-D frames 100..300 (every 25th;
  the tests use frames 0..20) with x4/x8 bicubic-downsampled input. On such clean input only the
  guided filter edges out bicubic (2.24 vs 2.28 cm at x4); these filters were designed for noisy
  low-res input, and the literature reports the same on clean input.
- Invalid low-res pixels are filled from their valid neighbours before interpolating, so a hole
  never drags a 0 or NaN into valid surroundings; the output is then NaN wherever the nearest
  low-res pixel was invalid, so we never invent depth inside a hole.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

UpsampleFn = Callable[..., np.ndarray]


@lru_cache(maxsize=64)
def resample_matrix(n_in: int, n_out: int, kind: str = "cubic") -> np.ndarray:
    """Dense 1-D resampling matrix, half-pixel aligned, border replicated.

    Args:
        n_in: input length (pixels).
        n_out: output length (pixels).
        kind: ``'cubic'`` (Keys kernel, a = -0.75 as in OpenCV) or ``'area'`` (box average of the
            input footprint; for downsampling guidance images).

    Returns:
        ``(n_out, n_in) float32`` matrix ``M`` with ``out = M @ in``; rows sum to 1. Read-only
        (cached).
    """
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    if kind == "cubic":
        a = -0.75
        x = (np.arange(n_out) + 0.5) * scale - 0.5
        x0 = np.floor(x).astype(np.int64)
        t = x - x0
        for k in range(-1, 3):
            d = np.abs(t - k)
            w = np.where(d <= 1, (a + 2) * d**3 - (a + 3) * d**2 + 1,
                         np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0))
            idx = np.clip(x0 + k, 0, n_in - 1)
            np.add.at(m, (np.arange(n_out), idx), w)
    elif kind == "area":
        for j in range(n_out):
            lo, hi = j * scale, (j + 1) * scale
            for i in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[j, i] = min(hi, i + 1) - max(lo, i)
        m /= m.sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown resampling kind '{kind}'")
    out = m.astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Index of the low-res pixel whose footprint contains each high-res pixel centre.

    Returns:
        ``(n_out,) int64`` indices into ``[0, n_in)``.
    """
    idx = np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64)
    return np.clip(idx, 0, n_in - 1)


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 sum with zeros outside the image (``(h, w) float32`` -> same)."""
    import cv2  # a runtime dependency, imported where the hot loops need it

    return cv2.boxFilter(x, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)


def fill_invalid(depth: np.ndarray, iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN pixels from valid neighbours (iterated normalised 3x3 mean, then the median).

    Each step gives every unknown pixel with a known 3x3 neighbour the mean of its known
    neighbours. The 3x3 sums are cv2 box filters over a zero-for-unknown image, faster than numpy
    slice sums; this runs on every frame of the node's network path. The results agree with the
    slice sums to float32 rounding. Timings: docs/log/2026-12.md.

    Args:
        depth: ``(h, w) float32`` metres, NaN invalid.
        iterations: 3x3 growth steps; holes wider than ``2 * iterations`` px get the median.

    Returns:
        ``(filled, valid)``: ``(h, w) float32`` without NaN, and the ``(h, w) bool`` input validity.
        All-invalid input gives zeros (callers mask the output anyway).
    """
    valid = np.isfinite(depth)
    if valid.all():
        return depth.astype(np.float32, copy=False), valid
    if not valid.any():
        return np.zeros_like(depth, dtype=np.float32), valid
    filled = np.where(valid, depth, 0.0).astype(np.float32)  # 0 wherever the value is unknown
    have = valid.astype(np.float32)  # 1 where known
    for _ in range(iterations):
        c = _box3(have)
        grow = (c > 0) & (have == 0)
        if not grow.any():
            break
        np.divide(_box3(filled), c, out=filled, where=grow)
        have[grow] = 1.0
    rest = have == 0
    if rest.any():
        filled[rest] = np.median(filled[valid])
    return filled, valid


def nearest_mask(valid_lr: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling (each high-res pixel takes :func:`nearest_index`'s pixel).

    Args:
        valid_lr: ``(h, w)``, usually a ``bool`` validity mask (any dtype works).
        out_hw: ``(H, W)``.

    Returns:
        ``(H, W)``, ``valid_lr``'s dtype.
    """
    h, w = valid_lr.shape
    if (out_hw[0] % h == 0 and out_hw[1] % w == 0
            and valid_lr.dtype in (np.bool_, np.uint8, np.uint16, np.float32, np.float64)):
        # Integer factors (every camera pair we know): cv2's exact nearest, floor((i + 0.5) * n / N),
        # is nearest_index there (0.15 ms against 0.7 ms for the fancy index at 640x480).
        import cv2

        small = np.ascontiguousarray(valid_lr)
        is_bool = small.dtype == np.bool_
        big = cv2.resize(small.view(np.uint8) if is_bool else small, (out_hw[1], out_hw[0]),
                         interpolation=cv2.INTER_NEAREST_EXACT)
        return big.view(np.bool_) if is_bool else big
    return valid_lr[np.ix_(nearest_index(h, out_hw[0]), nearest_index(w, out_hw[1]))]


def resize2d(img: np.ndarray, out_hw: tuple[int, int], kind: str = "cubic") -> np.ndarray:
    """Separable resize of a 2-D float32 array: ``My @ img @ Mx.T``."""
    my = resample_matrix(img.shape[0], out_hw[0], kind)
    mx = resample_matrix(img.shape[1], out_hw[1], kind)
    return (my @ img.astype(np.float32, copy=False)) @ mx.T


def _finish(depth_hr: np.ndarray, valid_lr: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    out = depth_hr.astype(np.float32, copy=False)
    if not valid_lr.all():
        out[~nearest_mask(valid_lr, out_hw)] = np.nan
    with np.errstate(invalid="ignore"):
        out[out <= 0] = np.nan  # cubic overshoot at a near-zero edge must not give depth <= 0
    return out


def _check(depth_lr: np.ndarray, out_hw: tuple[int, int]) -> None:
    if depth_lr.ndim != 2 or depth_lr.size == 0:
        raise ValueError(f"depth_lr must be a non-empty (h, w) array, got shape {depth_lr.shape}")
    if out_hw[0] < depth_lr.shape[0] or out_hw[1] < depth_lr.shape[1]:
        raise ValueError(f"output {out_hw} is smaller than the input {depth_lr.shape}")


def _gray(rgb: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    if rgb is None or rgb.shape[:2] != tuple(out_hw):
        raise ValueError(f"guided upsampling needs an RGB image of size {out_hw}, got "
                         f"{None if rgb is None else rgb.shape}")
    return (rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587)
            + rgb[..., 2] * np.float32(0.114)).astype(np.float32)


def bicubic(depth_lr: np.ndarray, rgb: np.ndarray | None, out_hw: tuple[int, int]) -> np.ndarray:
    """Bicubic upsampling (Keys a = -0.75, as cv2.INTER_CUBIC), holes filled then re-masked."""
    _check(depth_lr, out_hw)
    filled, valid = fill_invalid(depth_lr)
    return _finish(resize2d(filled, out_hw), valid, out_hw)


def joint_bilateral(depth_lr: np.ndarray, rgb: np.ndarray, out_hw: tuple[int, int],
                    radius: int = 1, sigma_spatial: float = 0.5, sigma_range: float = 32.0
                    ) -> np.ndarray:
    """Joint bilateral upsampling (Kopf et al., SIGGRAPH 2007).

    ``D(p) = sum_q D(q) f(|p_lr - q|) g(|I(p) - I_lr(q)|) / sum_q f g`` over low-res neighbours
    ``q`` within ``radius`` low-res pixels of ``p``'s low-res position ``p_lr``.

    Choices: the range term uses luminance (0..255), not colour, for speed; ``I_lr`` is the
    area-downsampled guide; invalid ``q`` get zero weight; pixels with no valid neighbour fall
    back to bicubic.

    Args:
        radius: neighbourhood half-size in low-res pixels.
        sigma_spatial: spatial Gaussian sigma in low-res pixels.
        sigma_range: range Gaussian sigma in luminance levels.
    """
    _check(depth_lr, out_hw)
    h, w = depth_lr.shape
    big_h, big_w = out_hw
    gray = _gray(rgb, out_hw)
    gray_lr = resize2d(gray, (h, w), "area")
    valid = np.isfinite(depth_lr)
    d0 = np.where(valid, depth_lr, 0.0).astype(np.float32)
    py = (np.arange(big_h, dtype=np.float32) + 0.5) * (h / big_h) - 0.5
    px = (np.arange(big_w, dtype=np.float32) + 0.5) * (w / big_w) - 0.5
    by, bx = np.rint(py).astype(np.int64), np.rint(px).astype(np.int64)
    num = np.zeros(out_hw, np.float32)
    den = np.zeros(out_hw, np.float32)
    inv_s = np.float32(-0.5 / sigma_spatial**2)
    inv_r = np.float32(-0.5 / sigma_range**2)
    for dy in range(-radius, radius + 1):
        qy = np.clip(by + dy, 0, h - 1)
        wy = np.exp(inv_s * (qy - py) ** 2).astype(np.float32)
        for dx in range(-radius, radius + 1):
            qx = np.clip(bx + dx, 0, w - 1)
            wx = np.exp(inv_s * (qx - px) ** 2).astype(np.float32)
            ix = np.ix_(qy, qx)
            diff = gray - gray_lr[ix]
            wgt = np.exp(inv_r * diff * diff) * (wy[:, None] * wx[None, :]) * valid[ix]
            num += wgt * d0[ix]
            den += wgt
    out = np.empty(out_hw, np.float32)
    ok = den > 1e-6
    np.divide(num, den, out=out, where=ok)
    if not ok.all():
        out[~ok] = bicubic(depth_lr, None, out_hw)[~ok]
    return _finish(out, valid, out_hw)


def _window_sum_1d(img: np.ndarray, r: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums over ``[i - r, i + r]`` (clipped) along ``axis`` via one cumulative sum, and counts."""
    n = img.shape[axis]
    c = np.cumsum(img, axis=axis, dtype=np.float64)
    c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
    hi = np.minimum(np.arange(n) + r + 1, n)
    lo = np.maximum(np.arange(n) - r, 0)
    return np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis), (hi - lo).astype(np.float64)


def box_filter(img: np.ndarray, r: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window (clipped at borders), O(1) per pixel, separable.

    Args:
        img: ``(H, W)`` float array.
        r: window radius in pixels.

    Returns:
        ``(H, W) float32`` local means.
    """
    rows, n_y = _window_sum_1d(img, r, 0)
    both, n_x = _window_sum_1d(rows, r, 1)
    return (both / (n_y[:, None] * n_x[None, :])).astype(np.float32)


def guided_filter(depth_lr: np.ndarray, rgb: np.ndarray, out_hw: tuple[int, int],
                  radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Guided filter (He et al., TPAMI 2013) of the bicubic upsample, guided by luminance.

    Choices: grey guide scaled to [0, 1] (the colour version needs a 3x3 inverse per pixel for
    little gain on depth); ``eps`` is in that guide's squared units.

    Args:
        radius: window radius in output pixels.
        eps: regularisation; larger = smoother, less edge transfer.
    """
    _check(depth_lr, out_hw)
    guide = _gray(rgb, out_hw) * np.float32(1.0 / 255.0)
    filled, valid = fill_invalid(depth_lr)
    p = resize2d(filled, out_hw)
    mean_i = box_filter(guide, radius)
    mean_p = box_filter(p, radius)
    cov_ip = box_filter(guide * p, radius) - mean_i * mean_p
    var_i = box_filter(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    q = box_filter(a, radius) * guide + box_filter(b, radius)
    return _finish(q, valid, out_hw)


def _wls_lines(rhs: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """Solve ``(I + lam * L_w) u = rhs`` independently along the last-but-one axis of each line.

    Args:
        rhs: ``(lines, n, k) float64`` right-hand sides (k solved together).
        weights: ``(lines, n - 1) float64`` smoothness weights between neighbours.
        lam: smoothness strength.

    Returns:
        ``(lines, n, k) float64`` solutions (Thomas algorithm, vectorised across lines).
    """
    lines, n, _ = rhs.shape
    wl = np.zeros((lines, n))
    wr = np.zeros((lines, n))
    wl[:, 1:] = weights
    wr[:, :-1] = weights
    a = -lam * wl
    b = 1.0 + lam * (wl + wr)
    c = -lam * wr
    cp = np.empty((lines, n))
    dp = np.empty_like(rhs)
    cp[:, 0] = c[:, 0] / b[:, 0]
    dp[:, 0] = rhs[:, 0] / b[:, 0, None]
    for i in range(1, n):
        m = b[:, i] - a[:, i] * cp[:, i - 1]
        cp[:, i] = c[:, i] / m
        dp[:, i] = (rhs[:, i] - a[:, i, None] * dp[:, i - 1]) / m[:, None]
    x = np.empty_like(rhs)
    x[:, -1] = dp[:, -1]
    for i in range(n - 2, -1, -1):
        x[:, i] = dp[:, i] - cp[:, i, None] * x[:, i + 1]
    return x


def fast_global_smoother(depth_lr: np.ndarray, rgb: np.ndarray, out_hw: tuple[int, int],
                         lam: float = 100.0, sigma_color: float = 4.0, iterations: int = 3,
                         prior_confidence: float = 0.3) -> np.ndarray:
    """Fast global smoother (Min et al., TIP 2014) for guided upsampling.

    Solves the weighted-least-squares problem by alternating 1-D horizontal and vertical
    tridiagonal solves with the paper's decreasing lambda schedule
    ``lam_t = 1.5 * lam * 4^(T-t) / (4^T - 1)``, and normalises by the same filter applied to the
    confidence map (the paper's sparse-data formulation). Neighbour weights are
    ``exp(-|g_i - g_j| / sigma_color)`` on luminance (0..255).

    Choice: the data term is the bicubic upsample with confidence 1 at the low-res sample
    centres and ``prior_confidence`` elsewhere; pure sparse data (0 elsewhere) leaves seams
    between samples where the guide has texture but the depth does not.
    """
    _check(depth_lr, out_hw)
    big_h, big_w = out_hw
    gray = _gray(rgb, out_hw).astype(np.float64)
    filled, valid = fill_invalid(depth_lr)
    f = resize2d(filled, out_hw).astype(np.float64)
    h, w = depth_lr.shape
    conf = np.full(out_hw, prior_confidence, np.float64)
    cy = np.clip(np.floor((np.arange(h) + 0.5) * big_h / h).astype(np.int64), 0, big_h - 1)
    cx = np.clip(np.floor((np.arange(w) + 0.5) * big_w / w).astype(np.int64), 0, big_w - 1)
    conf[np.ix_(cy, cx)] = valid.astype(np.float64)
    conf[~nearest_mask(valid, out_hw)] = 0.0
    wh = np.exp(-np.abs(np.diff(gray, axis=1)) / sigma_color)      # (H, W-1)
    wv = np.exp(-np.abs(np.diff(gray, axis=0)) / sigma_color).T    # (W, H-1)
    state = np.stack([f * conf, conf], axis=-1)                    # (H, W, 2)
    for t in range(1, iterations + 1):
        lam_t = 1.5 * lam * 4 ** (iterations - t) / (4**iterations - 1)
        state = _wls_lines(state, wh, lam_t)
        state = _wls_lines(state.transpose(1, 0, 2), wv, lam_t).transpose(1, 0, 2)
    num, den = state[..., 0], state[..., 1]
    out = np.where(den > 1e-6, num / np.maximum(den, 1e-12), f).astype(np.float32)
    return _finish(out, valid, out_hw)


UPSAMPLERS: dict[str, UpsampleFn] = {
    "bicubic": bicubic,
    "joint_bilateral": joint_bilateral,
    "guided_filter": guided_filter,
    "fgs": fast_global_smoother,
}
"""The classical upsamplers by name (the names the CLI, parameters and reports use)."""

CLASSICAL_METHODS: tuple[str, ...] = tuple(UPSAMPLERS)
"""The one list of classical method names, in report order (bicubic first: every table's baseline)."""


def upsample(method: str, depth_lr: np.ndarray, rgb: np.ndarray | None,
             out_hw: tuple[int, int], **params) -> np.ndarray:
    """Run the classical upsampler ``method`` (a key of :data:`UPSAMPLERS`)."""
    try:
        fn = UPSAMPLERS[method]
    except KeyError:
        raise ValueError(f"unknown classical method '{method}' (expected one of "
                         f"{sorted(UPSAMPLERS)})") from None
    return fn(depth_lr, rgb, out_hw, **params)
