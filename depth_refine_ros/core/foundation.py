"""Foundation depth models (imported Depth Anything / Prompt Depth Anything): numpy only.

What the runtime needs to run a model that ``depth-refine import`` made (docs/foundation_models.md):

- the **input size policy** of its card (``input_size``): the RGB is resized so that its longer side
  is ``long_side`` pixels and both sides are multiples of ``multiple`` (14, the ViT patch), keeping
  the camera's aspect ratio; cards without the field run at their fixed ``input_hw``;
- the **output kind** (``units.depth_out``): ``relative_inverse`` (Depth Anything's affine-invariant
  inverse depth, "disparity"), ``metric`` (metres: a metric checkpoint, or a prompt-depth model) or
  ``relative`` (affine-invariant depth, the project's own ``mono`` nets);
- the **metric fit in inverse-depth space** (:func:`fit_inverse_depth`): an affine-invariant inverse
  depth ``p`` is metric only after ``1 / depth = a * p + b``; fitting scale and shift to depth itself
  (what suits ``mono_small``) would bend the far field, so the fit runs on ``1 / depth``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: ``units.depth_out`` values (card) and what each means for the metric fit
OUTPUT_KINDS = {
    "relative": "affine-invariant depth: scale and shift fitted to depth",
    "relative_inverse": "affine-invariant inverse depth: scale and shift fitted to 1 / depth",
    "metric": "metres: used as is (a fit only reports its residual)",
}
#: ImageNet statistics that Depth Anything's image processor applies (applied inside the exported graph)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def output_kind(card: Any) -> str:
    """``units.depth_out`` of a model card, normalised to one of :data:`OUTPUT_KINDS` (``metres`` -> metric)."""
    out = str((getattr(card, "units", None) or {}).get("depth_out", "relative"))
    return "metric" if out in ("metres", "metric") else out if out in OUTPUT_KINDS else "relative"


def policy_hw(rgb_hw: tuple[int, int], long_side: int, multiple: int) -> tuple[int, int]:
    """The network input size for an RGB image of ``rgb_hw`` under the longer-side policy.

    The longer side becomes ``long_side`` rounded to a multiple of ``multiple``; the shorter one keeps
    the aspect ratio, rounded to the nearest multiple (at least one multiple). 640x480 at 518 / 14 ->
    392x518 (H x W).
    """
    h, w = (int(v) for v in rgb_hw)
    big = max(multiple, int(round(long_side / multiple)) * multiple)
    small = max(multiple, int(round(min(h, w) * big / max(h, w) / multiple)) * multiple)
    return (big, small) if h >= w else (small, big)


def card_input_hw(card: Any, rgb_hw: tuple[int, int], upscale: float = 1.0) -> tuple[int, int] | None:
    """The input size a model card asks for an RGB image of ``rgb_hw``: its ``input_size`` policy
    (``upscale`` multiplies the longer side), else its fixed ``input_hw`` times ``upscale``, else None.
    """
    pol = (getattr(card, "extra", None) or {}).get("input_size") or {}
    if pol.get("policy") == "long_side":
        return policy_hw(rgb_hw, round(int(pol["long_side"]) * upscale), int(pol.get("multiple", 14)))
    hw = getattr(card, "input_hw", None)
    if hw is None:
        return None
    return round(hw[0] * upscale), round(hw[1] * upscale)


def fit_inverse_depth(pred: np.ndarray, target: np.ndarray, iters: int = 5, min_points: int = 10,
                      trim_sigmas: float = 3.0) -> dict[str, float]:
    """Robust scale and shift of an inverse-depth prediction to metric depth: ``1 / target ~= a * pred + b``.

    Least squares on the pixels finite (and positive) in both, reweighted with Huber weights
    (threshold 1.345 robust sigmas, the MAD of the residuals), then refitted once on the inliers
    (residual <= ``trim_sigmas`` robust sigmas) with the Huber weights of the last pass: a few flying
    pixels, wrong matches or sky pixels do not tilt the fit. Pixels are weighted alike in inverse
    depth, which is how a relative inverse-depth model's errors behave (larger in metres far away).

    Args:
        pred: the model's inverse depth (any positive-up scale), same shape as ``target``.
        target: metric depth (metres), NaN (or <= 0) where missing.
        min_points: fewer usable pixels give a failed fit (``a`` NaN).

    Returns:
        ``scale`` (a), ``shift`` (b, 1/m), ``residual_inv`` (RMSE of ``1/target - (a pred + b)`` over
        the inliers, 1/m), ``residual_m`` (RMSE in metres of the fitted depth ``1 / (a pred + b)``
        against ``target`` over the same inliers), ``points`` (usable pixels), ``inliers``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.isfinite(pred) & np.isfinite(target) & (target > 0)
    n = int(m.sum())
    nan = float("nan")
    if n < min_points:
        return {"scale": nan, "shift": nan, "residual_inv": nan, "residual_m": nan, "points": n, "inliers": 0}
    x = pred[m].astype(np.float64)
    d = target[m].astype(np.float64)
    y = 1.0 / d
    w = np.ones_like(x)
    keep = np.ones_like(x, bool)
    a = b = 0.0
    for it in range(iters + 1):
        sw = np.sqrt(w * keep)
        a, b = np.linalg.lstsq(np.stack([x * sw, sw], 1), y * sw, rcond=None)[0]
        r = y - (a * x + b)
        sigma = 1.4826 * np.median(np.abs(r - np.median(r))) + 1e-12
        if it == iters - 1:  # the trimmed re-fit: drop what lies beyond trim_sigmas
            keep = np.abs(r - np.median(r)) <= trim_sigmas * sigma
            if keep.sum() < min_points:
                keep = np.ones_like(x, bool)
        k = 1.345 * sigma
        w = np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-18))
    r = y - (a * x + b)
    inl = keep & (np.abs(r) <= trim_sigmas * (1.4826 * np.median(np.abs(r[keep])) + 1e-12))
    fitted = a * x[inl] + b
    with np.errstate(divide="ignore", invalid="ignore"):
        err_m = np.where(fitted > 0, 1.0 / fitted - d[inl], np.nan)
    res_m = float(np.sqrt(np.nanmean(err_m ** 2))) if np.isfinite(err_m).any() else nan
    return {"scale": float(a), "shift": float(b), "residual_inv": float(np.sqrt(np.mean(r[inl] ** 2))),
            "residual_m": res_m, "points": n, "inliers": int(inl.sum())}


def inverse_to_depth(pred: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """``1 / (scale * pred + shift)`` as ``float32`` metres, NaN where the fitted inverse depth is <= 0."""
    inv = pred.astype(np.float32) * np.float32(scale) + np.float32(shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inv > 0, 1.0 / inv, np.nan).astype(np.float32)
