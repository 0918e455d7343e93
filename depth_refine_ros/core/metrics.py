"""Depth accuracy metrics: the standard set, depth-edge metrics, and temporal stability.

All functions take ``(H, W) float32`` depth maps in one unit (metres for the metric sets; any
positive unit for relative sets such as Middlebury disparity levels: the unit-free ratios are the
same, and ``rmse``/``mae`` come out in that unit). Ground-truth pixels count when finite and > 0;
a prediction that is NaN there is not scored but lowers ``coverage`` (a method that refuses to
answer is not rewarded with a lower error without it showing).

Choices (iBims-1, Koch et al. 2018, defines the depth boundary errors on hand-annotated edges; we
have none, so edges are detected, the same way on prediction and ground truth):
    * edges = Canny on log-depth scaled to 0..255 with the ground truth's 1..99 % range (the same
      scaling for both maps, so a uniform offset does not move edges), thresholds 15 / 40 levels;
    * DBE accuracy = mean distance (px) from each predicted edge pixel to the nearest ground-truth
      edge, completeness = mean distance from each ground-truth edge pixel to the nearest predicted
      one, both truncated at ``theta`` = 10 px as iBims-1 does;
    * edge F-score = harmonic mean of precision and recall with a ``tol`` = 2 px match radius.

Boundary / interior split (:func:`boundary_split`): RMSE within ``band`` px of a ground-truth
depth discontinuity (a relative jump > 5 % to a 4-neighbour) and elsewhere. Measured on held-out
RGB-D-D at x4, ~4 % of the pixels hold ~85-90 % of the squared error: this is where SR methods
differ, and where obstacle boundaries are.
"""
from __future__ import annotations

import numpy as np

from depth_refine_ros.core.sampling import aspect_mismatch
from depth_refine_ros.core.upsample import resample_matrix

STANDARD = ("absrel", "sqrel", "rmse", "rmse_log", "log10", "mae", "delta1", "delta2", "delta3", "rmse_scaled")


def valid_mask(gt: np.ndarray) -> np.ndarray:
    """Ground-truth pixels that count: finite and > 0. ``(H, W) bool``."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(gt) & (gt > 0)


def standard(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """AbsRel, SqRel, RMSE, RMSElog, log10, MAE, delta < 1.25^k (k = 1..3), coverage and scaled RMSE.

    ``rmse_scaled`` is the RMSE of ``s * pred`` with the least-squares scale of the frame,
    ``s = sum(pred * gt) / sum(pred ** 2)`` over the scored pixels: what is left of the error once a
    uniform gain (a mis-scaled sensor, the AIS-like input's per-frame attenuation) is forgiven. It
    reads the structure of a prediction apart from its absolute scale; ``rmse`` stays the score.

    Args:
        pred: ``(H, W)`` predicted depth, NaN = no answer. Non-positive values count as invalid.
        gt: ``(H, W)`` ground truth, same unit.
        mask: optional extra ``(H, W) bool`` region to score (e.g. without a border).

    Returns:
        The metrics (``rmse``/``mae``/``sqrel`` in the unit of the inputs; ``delta*`` and
        ``coverage`` as fractions) plus ``n_pixels`` scored. NaN metrics when nothing is scored.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    v = valid_mask(gt) if mask is None else valid_mask(gt) & mask
    with np.errstate(invalid="ignore"):
        both = v & np.isfinite(pred) & (pred > 0)
    n_valid, n = int(v.sum()), int(both.sum())
    out: dict[str, float] = {"coverage": n / n_valid if n_valid else float("nan"), "n_pixels": float(n)}
    if n == 0:
        out.update({k: float("nan") for k in STANDARD})
        return out
    p, g = pred[both].astype(np.float64), gt[both].astype(np.float64)
    diff = p - g
    ratio = np.maximum(p / g, g / p)
    out.update({
        "absrel": float(np.mean(np.abs(diff) / g)),
        "sqrel": float(np.mean(diff**2 / g)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "mae": float(np.mean(np.abs(diff))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "rmse_scaled": float(np.sqrt(np.mean((p * (np.dot(p, g) / np.dot(p, p)) - g) ** 2))),
    })
    return out


JUMP_REL = 0.05
"""A ground-truth discontinuity: neighbours whose depths differ by more than this fraction."""


def discontinuities(gt: np.ndarray, jump_rel: float = JUMP_REL) -> np.ndarray:
    """Pixels with a relative depth jump > ``jump_rel`` to a valid 4-neighbour. ``(H, W) bool``."""
    v = valid_mask(gt)
    g = np.where(v, gt, np.nan).astype(np.float64)
    out = np.zeros(gt.shape, bool)
    # (this pixel, its right neighbour) and (this pixel, the one below)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        with np.errstate(invalid="ignore"):
            jump = np.abs(g[a] - g[b]) > jump_rel * np.fmin(g[a], g[b])
        out[a] |= jump
        out[b] |= jump
    return out


def boundary_split(pred: np.ndarray, gt: np.ndarray, band: int = 4, jump_rel: float = JUMP_REL
                   ) -> dict[str, float]:
    """RMSE near ground-truth depth discontinuities and away from them.

    Args:
        pred, gt: ``(H, W)`` depth in one unit (NaN in ``pred`` is not scored).
        band: half-width (px) of the square neighbourhood around each discontinuity pixel.
        jump_rel: see :func:`discontinuities`.

    Returns:
        ``rmse_boundary`` and ``rmse_interior`` (input unit; NaN where a region is empty) and
        ``boundary_frac``, the fraction of valid ground-truth pixels in the boundary band.
    """
    import cv2

    v = valid_mask(gt)
    k = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    near = cv2.dilate(discontinuities(gt, jump_rel).astype(np.uint8), k).astype(bool) & v
    with np.errstate(invalid="ignore"):
        d2 = (pred.astype(np.float64) - gt) ** 2
    ok = np.isfinite(d2)

    def _rmse(m: np.ndarray) -> float:
        m = m & ok
        return float(np.sqrt(d2[m].mean())) if m.any() else float("nan")

    return {"rmse_boundary": _rmse(near), "rmse_interior": _rmse(v & ~near),
            "boundary_frac": float(near.sum() / v.sum()) if v.any() else float("nan")}


def depth_edges(depth: np.ndarray, lo: float, hi: float, t_low: float = 15, t_high: float = 40) -> np.ndarray:
    """Canny edges of log-depth scaled from ``[log lo, log hi]`` to 0..255. ``(H, W) bool``.

    Invalid pixels take the value ``lo`` (so holes make edges: to a consumer a hole is one).
    """
    import cv2

    with np.errstate(invalid="ignore", divide="ignore"):
        ld = np.log(np.where(np.isfinite(depth) & (depth > 0), depth, lo))
    a, b = np.log(lo), np.log(hi)
    img = np.clip((ld - a) / max(b - a, 1e-9) * 255, 0, 255).astype(np.uint8)
    return cv2.Canny(img, t_low, t_high, L2gradient=True) > 0


def _distance_to(edges: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel to the nearest ``True`` of ``edges`` (inf if there is none)."""
    import cv2

    if not edges.any():
        return np.full(edges.shape, np.inf, np.float32)
    return cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 5)


def edge_metrics(pred: np.ndarray, gt: np.ndarray, theta: float = 10.0, tol: float = 2.0) -> dict[str, float]:
    """Depth boundary errors (iBims-1 style) and edge F-score; see the module docstring.

    Returns:
        ``dbe_acc`` and ``dbe_comp`` in pixels (lower is better), ``edge_precision``,
        ``edge_recall``, ``edge_f`` in 0..1. NaN where there are no ground-truth edges.
    """
    v = valid_mask(gt)
    if not v.any():
        return {k: float("nan") for k in ("dbe_acc", "dbe_comp", "edge_precision", "edge_recall", "edge_f")}
    lo, hi = np.percentile(gt[v], [1, 99])
    e_gt, e_pr = depth_edges(gt, lo, hi) & v, depth_edges(pred, lo, hi) & v
    if not e_gt.any():
        return {k: float("nan") for k in ("dbe_acc", "dbe_comp", "edge_precision", "edge_recall", "edge_f")}
    d_to_gt, d_to_pr = _distance_to(e_gt), _distance_to(e_pr)
    acc = float(np.mean(np.minimum(d_to_gt[e_pr], theta))) if e_pr.any() else theta
    comp = float(np.mean(np.minimum(d_to_pr[e_gt], theta)))
    prec = float(np.mean(d_to_gt[e_pr] <= tol)) if e_pr.any() else 0.0
    rec = float(np.mean(d_to_pr[e_gt] <= tol))
    f = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"dbe_acc": acc, "dbe_comp": comp, "edge_precision": prec, "edge_recall": rec, "edge_f": f}


def temporal_change(prev: np.ndarray, cur: np.ndarray, static: np.ndarray) -> float:
    """Mean ``|cur - prev|`` over static pixels where both frames have depth (unit of the inputs).

    Args:
        prev, cur: consecutive refined depth maps ``(H, W)``, NaN invalid.
        static: ``(H, W) bool`` pixels known not to move (see :func:`static_mask`).

    Returns:
        The mean absolute frame-to-frame change, NaN if no pixel qualifies. For a static scene
        every change is flicker, so lower is better.
    """
    m = static & np.isfinite(prev) & np.isfinite(cur)
    return float(np.mean(np.abs(cur[m] - prev[m]))) if m.any() else float("nan")


def static_mask(prev_ref: np.ndarray, cur_ref: np.ndarray, rel_tol: float = 0.01) -> np.ndarray:
    """Pixels whose reference depth (ground truth, or the input) changed by at most ``rel_tol``."""
    with np.errstate(invalid="ignore"):
        return valid_mask(prev_ref) & valid_mask(cur_ref) & (np.abs(cur_ref - prev_ref) <= rel_tol * prev_ref)


def temporal_stability(preds: list[np.ndarray], refs: list[np.ndarray], rel_tol: float = 0.01) -> float:
    """Mean of :func:`temporal_change` over consecutive pairs of a sequence (NaN pairs skipped).

    Args:
        preds: refined depth maps in time order.
        refs: the reference maps that define static pixels (same length), e.g. ground truth.
    """
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} reference maps")
    vals = [temporal_change(preds[i - 1], preds[i], static_mask(refs[i - 1], refs[i], rel_tol))
            for i in range(1, len(preds))]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def lowres_residual(depth: np.ndarray, depth_lr: np.ndarray, min_valid: float = 0.5) -> float:
    """Low-res consistency: RMSE between ``depth`` area-averaged onto ``depth_lr``'s grid and ``depth_lr``.

    Needs no ground truth, so a node can report it for every frame (``RefineStats``): a refinement
    that keeps the measurements it was given scores near 0 (bicubic upsampling of a smooth surface;
    at a depth edge a low-res pixel that averaged both sides differs from the box average of a sharp
    output, so real scenes score somewhat above 0), one that moves the surfaces scores high.

    Args:
        depth: ``(H, W)`` output, NaN invalid.
        depth_lr: ``(h, w)`` low-res input in the same unit, over the same field of view.
        min_valid: a low-res pixel counts only where at least this fraction of its output footprint
            (the ``H/h x W/w`` box) holds valid output; the box average is over the valid ones.

    Returns:
        The RMSE over the low-res pixels that are valid (finite, > 0) and count, in the unit of the
        inputs; NaN when none counts or the aspect ratios differ
        (:func:`~depth_refine_ros.core.sampling.aspect_mismatch`).
    """
    if aspect_mismatch(depth.shape, depth_lr.shape):
        return float("nan")
    (big_h, big_w), (h, w) = depth.shape, depth_lr.shape
    valid = np.isfinite(depth)
    filled = np.where(valid, depth, np.float32(0)).astype(np.float32, copy=False)
    if big_h % h == 0 and big_w % w == 0:  # whole boxes: sums over reshaped rows, then columns
        ky, kx = big_h // h, big_w // w
        rows = filled.reshape(h, ky, big_w).sum(axis=1)
        rows_valid = valid.reshape(h, ky, big_w).sum(axis=1, dtype=np.float32)
        num = sum(rows[:, j::kx] for j in range(kx)) / np.float32(ky * kx)
        den = sum(rows_valid[:, j::kx] for j in range(kx)) / np.float32(ky * kx)
    else:
        ry, rx = resample_matrix(big_h, h, "area"), resample_matrix(big_w, w, "area")
        num = ry @ filled @ rx.T
        den = ry @ valid.astype(np.float32) @ rx.T
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (den >= min_valid) & np.isfinite(depth_lr) & (depth_lr > 0)
        if not ok.any():
            return float("nan")
        diff = num[ok].astype(np.float64) / den[ok] - depth_lr[ok]
    return float(np.sqrt(np.mean(diff * diff)))
