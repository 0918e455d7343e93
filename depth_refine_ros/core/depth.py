"""Depth units and the invalid-pixel rules (REP 117/118).

Internal convention everywhere: ``(H, W) float32`` metres, NaN = invalid. Never 0.0 for invalid,
because downstream tools read 0 as a point at the camera centre.
"""
from __future__ import annotations

import numpy as np

MM_PER_M = 1000.0
UINT16_MAX_MM = 65535


def invalid_to_nan(depth_m: np.ndarray, min_m: float = 0.0, max_m: float = np.inf) -> np.ndarray:
    """Return float32 metres where 0, NaN, +-Inf and out-of-range values are NaN.

    Args:
        depth_m: ``(H, W)`` depth in metres, any float dtype.
        min_m: values ``<= min_m`` are invalid (0 and negatives always are).
        max_m: values ``> max_m`` are invalid.

    Returns:
        ``(H, W) float32`` copy, NaN where invalid.
    """
    out = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(out) | (out <= max(min_m, 0.0)) | (out > max_m)
    out[bad] = np.nan
    return out


def metres_to_mm_u16(depth_m: np.ndarray) -> np.ndarray:
    """Convert metres (NaN invalid) to uint16 millimetres (0 invalid, saturating at 65.535 m).

    Args:
        depth_m: ``(H, W) float32`` metres.

    Returns:
        ``(H, W) uint16`` millimetres, 0 where invalid or beyond the uint16 range.
    """
    mm = np.rint(np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0) * MM_PER_M)
    mm[(mm < 0) | (mm > UINT16_MAX_MM)] = 0
    return mm.astype(np.uint16)


def valid_fraction(depth_m: np.ndarray) -> float:
    """Fraction of finite pixels in a metres/NaN depth map."""
    return float(np.isfinite(depth_m).mean()) if depth_m.size else 0.0
