"""Network input/output preparation shared by every network backend (numpy only).

The pipeline, not the caller, handles sizes: inputs are padded (edge replicate) to the model's
size multiple and outputs cropped back, so any output size and any scale factor work.
All arrays follow the graph layout ``(1, C, H, W) float32``.
"""
from __future__ import annotations

import time

import numpy as np

from depth_refine_ros.core.upsample import fill_invalid, nearest_mask


def padded_size(hw: tuple[int, int], multiple: int) -> tuple[int, int]:
    """Smallest (H', W') >= hw with both multiples of ``multiple``."""
    return tuple(-(-int(n) // multiple) * multiple for n in hw)  # type: ignore[return-value]


def pad_to(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Edge-pad the last two axes of ``x`` (bottom/right) to ``hw``; no copy when already there."""
    dh, dw = hw[0] - x.shape[-2], hw[1] - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(0, dh), (0, dw)]
    return np.pad(x, pad, mode="edge")


def rgb_to_chw(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(3, H, W) float32`` in [0, 1] (the graphs' RGB normalisation)."""
    return rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)


def rgb_to_nchw(rgb: np.ndarray, hw: tuple[int, int] | None = None) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(1, 3, H', W') float32`` in [0, 1], edge-padded to ``hw``."""
    return pad_to(rgb_to_chw(rgb), hw or rgb.shape[:2])[None]


def _cubic(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bicubic (Keys a = -0.75) resize with cv2, not the BLAS matmul of ``core.upsample``.

    Why: OpenBLAS worker threads spin for a while after a matmul and fight the inference engine's
    threads for the CPUs, which slows the inference that follows. cv2's result equals
    ``resize2d``'s to float32 rounding. Measured: docs/log/2026-12.md.
    """
    import cv2

    return cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)


def _split(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(H, W, C) uint8`` -> C contiguous ``(H, W)`` planes (cv2, imported here only)."""
    import cv2

    return cv2.split(rgb)


def _buffer(buffers: dict | None, key: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """An array of ``shape`` and ``dtype``: ``buffers[key]`` reused when it matches, else new."""
    if buffers is None:
        return np.empty(shape, dtype)
    buf = buffers.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = buffers[key] = np.empty(shape, dtype)
    return buf


def _copy_rgb_bytes(rgb: np.ndarray, dst: np.ndarray) -> None:
    """Write ``(H, W, 3)`` RGB into the ``uint8`` view ``dst`` (same size, rows may be strided).

    Why not ``dst[...] = rgb`` alone: numpy's strided byte copy is slow. A bgr8 camera's RGB is the
    channel-reversed view of its buffer (``encodings.color_to_rgb``), so OpenCV's BGR->RGB
    conversion writes it instead. Other strided views (bgra8's) go through contiguous planes and
    one ``cv2.merge``. Non-``uint8`` input is rounded and clipped to bytes. Timings:
    docs/log/2026-12.md.
    """
    import cv2

    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if rgb.flags.c_contiguous:
        dst[...] = rgb
        return
    bgr = rgb[:, :, ::-1]
    if bgr.flags.c_contiguous:
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=dst)
    else:
        out = cv2.merge([np.ascontiguousarray(rgb[:, :, c]) for c in range(3)], dst=dst)
    if not np.shares_memory(out, dst):  # an OpenCV that allocated anyway
        dst[...] = out


def _edge_pad_in_place(x: np.ndarray, h: int, w: int) -> None:
    """Fill ``x[..., h:, :]`` and ``x[..., :, w:]`` by edge replication of ``x[..., :h, :w]``
    (what ``np.pad(mode='edge')`` gives, corner included)."""
    if x.shape[-2] > h:
        x[..., h:, :w] = x[..., h - 1:h, :w]
    if x.shape[-1] > w:
        x[..., :, w:] = x[..., :, w - 1:w]


def sr_inputs(depth_lr: np.ndarray, rgb: np.ndarray | None, out_hw: tuple[int, int], multiple: int,
              guided: bool, timings: dict[str, float] | None = None, buffers: dict | None = None,
              rgb_u8: bool = False) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """Graph inputs of an SR model.

    The normalised inputs are written straight into their padded graph arrays: one pass each,
    instead of a conversion and then a padding copy.

    Args:
        depth_lr: ``(h, w) float32`` metres, NaN invalid (at least one valid pixel).
        rgb: ``(H, W, 3) uint8`` at ``out_hw`` (guided models only).
        out_hw: output size.
        multiple: the model's size multiple.
        guided: whether the graph takes ``rgb``.
        timings: if given, filled with milliseconds per stage: ``fill`` (holes filled from the
            nearest valid pixel), ``upsample`` (bicubic to ``out_hw``), ``normalise`` (depth / scale
            and RGB to float, written into the padded arrays), ``pad`` (edge replication into the
            padding).
        buffers: if given, a dict the graph arrays are kept in and reused from call to call (a
            backend's own: the returned feeds are then overwritten by the next call).
        rgb_u8: give ``rgb`` as the raw ``(1, H', W', 3) uint8`` image, edge-padded, for an engine
            whose compiled graph converts it itself (OpenVINO's ``rgb_u8``: the same values, no
            float pass here).

    Returns:
        ``(feeds, scale, valid_lr)``: ``depth`` (and ``rgb``) as ``(1, C, H', W') float32`` (``rgb``
        ``(1, H', W', 3) uint8`` with ``rgb_u8``), the
        per-frame depth scale in metres (max valid low-res depth) and the ``(h, w) bool`` input
        validity.
    """
    t0 = time.perf_counter()
    filled, valid = fill_invalid(depth_lr)
    scale = float(np.max(filled[valid]))
    hw = padded_size(out_hw, multiple)
    h, w = out_hw
    t1 = time.perf_counter()
    up = _cubic(filled, out_hw)
    t2 = time.perf_counter()
    x_depth = _buffer(buffers, "depth", (1, 1, *hw))
    np.multiply(up, np.float32(1.0 / scale), out=x_depth[0, 0, :h, :w])
    feeds = {"depth": x_depth}
    if guided and rgb_u8:
        x_u8 = feeds["rgb"] = _buffer(buffers, "rgb_u8", (1, *hw, 3), np.uint8)
        _copy_rgb_bytes(rgb, x_u8[0, :h, :w])
        _edge_pad_in_place(np.moveaxis(x_u8, 3, 1), h, w)  # a (1, 3, H', W') view of the same memory
    elif guided:
        x_rgb = feeds["rgb"] = _buffer(buffers, "rgb", (1, 3, *hw))
        # contiguous channel planes convert with SIMD; the strided (H, W, 3) -> (3, H, W) view does not
        planes = _split(rgb) if rgb.dtype == np.uint8 and rgb.flags.c_contiguous else rgb.transpose(2, 0, 1)
        for c in range(3):
            np.multiply(planes[c], np.float32(1 / 255), out=x_rgb[0, c, :h, :w], dtype=np.float32)
    t3 = time.perf_counter()
    _edge_pad_in_place(x_depth, h, w)
    if guided and not rgb_u8:
        _edge_pad_in_place(feeds["rgb"], h, w)
    if timings is not None:
        t4 = time.perf_counter()
        timings.update(fill=(t1 - t0) * 1e3, upsample=(t2 - t1) * 1e3, normalise=(t3 - t2) * 1e3,
                       pad=(t4 - t3) * 1e3)
    return feeds, scale, valid


def sr_output(out: np.ndarray, scale: float, out_hw: tuple[int, int], valid_lr: np.ndarray,
              keep_holes: bool = True, timings: dict[str, float] | None = None) -> np.ndarray:
    """Graph output ``(1, 1, H', W')`` -> ``(H, W) float32`` metres (a new array).

    Args:
        keep_holes: set NaN where the nearest low-res input pixel was invalid (as the classical
            upsamplers do: no invented depth where the sensor saw nothing).
        timings: if given, filled with milliseconds for ``crop`` (crop + de-normalise) and ``holes``.
    """
    t0 = time.perf_counter()
    depth = np.multiply(out[0, 0, :out_hw[0], :out_hw[1]], np.float32(scale), dtype=np.float32)
    t1 = time.perf_counter()
    if keep_holes:
        mask_holes(depth, valid_lr)
    if timings is not None:
        timings.update(crop=(t1 - t0) * 1e3, holes=(time.perf_counter() - t1) * 1e3)
    return depth


def mask_holes(depth: np.ndarray, valid_lr: np.ndarray) -> np.ndarray:
    """Set ``depth`` ``(H, W) float32`` to NaN, in place, where the nearest low-res pixel was invalid.

    Args:
        depth: ``(H, W) float32`` metres, on the low-res depth's grid.
        valid_lr: ``(h, w) bool``: the low-res input's valid pixels.

    Returns:
        ``depth``.
    """
    if not valid_lr.all():
        # NaN at low resolution, upsampled, added: one small resize and one add over the frame,
        # instead of a full-size boolean mask and a masked store (0.2 ms against 0.8 ms at VGA)
        hole = np.where(valid_lr, np.float32(0), np.float32(np.nan))
        depth += nearest_mask(hole, depth.shape)
    return depth


def resize_rgb(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Area/linear resize of ``(H, W, 3) uint8`` to ``hw`` (cv2, imported here only)."""
    import cv2

    if rgb.shape[:2] == tuple(hw):
        return rgb
    interp = cv2.INTER_AREA if hw[0] < rgb.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(rgb, (hw[1], hw[0]), interpolation=interp)


def resize_depth(depth: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize a dense ``(h, w) float32`` map to ``hw``: area average when shrinking, bilinear otherwise."""
    import cv2

    if depth.shape == tuple(hw):
        return depth.astype(np.float32, copy=False)
    interp = cv2.INTER_AREA if hw[0] < depth.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(depth.astype(np.float32, copy=False), (hw[1], hw[0]), interpolation=interp)


def minmax_normalise(d: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(d - lo) / (hi - lo)`` over finite pixels; returns (normalised, lo, hi). NaN -> 0.5."""
    fin = np.isfinite(d)
    lo, hi = float(np.min(d[fin])), float(np.max(d[fin]))
    span = max(hi - lo, 1e-6)
    n = np.where(fin, (d - lo) / span, 0.5).astype(np.float32)
    return n, lo, hi


def fit_scale_shift(pred: np.ndarray, target: np.ndarray, iters: int = 5,
                    min_points: int = 10) -> tuple[float, float, float, int]:
    """Robust least-squares ``s * pred + t ~= target`` over pixels finite in both.

    Iteratively reweighted (Huber, threshold 1.345 x the MAD of the residuals) so that a few
    flying pixels or wrong matches do not tilt the fit.

    Args:
        pred, target: same shape, float; NaN marks missing target pixels.

    Returns:
        ``(s, t, residual_rmse, n)``: residual RMSE in target units over inliers (residual <= 3
        robust sigmas) and the number of pixels used. ``n < min_points`` gives (nan, nan, nan, n).
    """
    m = np.isfinite(pred) & np.isfinite(target)
    n = int(m.sum())
    if n < min_points:
        return float("nan"), float("nan"), float("nan"), n
    x = pred[m].astype(np.float64)
    y = target[m].astype(np.float64)
    w = np.ones_like(x)
    s, t = 1.0, 0.0
    for _ in range(iters):
        a = np.stack([x * w, w], 1)
        s, t = np.linalg.lstsq(a, y * w, rcond=None)[0]
        r = y - (s * x + t)
        sigma = 1.4826 * np.median(np.abs(r - np.median(r))) + 1e-9
        k = 1.345 * sigma
        w = np.sqrt(np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-12)))
    r = y - (s * x + t)
    inl = np.abs(r) <= 3 * 1.4826 * np.median(np.abs(r)) + 1e-9
    return float(s), float(t), float(np.sqrt(np.mean(r[inl] ** 2))), n
