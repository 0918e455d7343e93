"""Per-frame scores, their aggregation into report rows, and the markdown table of rows.

Aggregation is the mean of per-frame values (the literature's per-image averaging), NaN frames
skipped. Rows carry the dataset's unit; ``rmse_cm``/``mae_cm`` are filled for metric data only
(``None`` for disparity-level sets, whose ``rmse``/``mae`` are in levels).
"""
from __future__ import annotations

import math

import numpy as np

from depth_refine_ros.core import metrics

SCORES = metrics.STANDARD + ("coverage", "dbe_acc", "dbe_comp", "edge_f", "rmse_boundary", "rmse_interior",
                             "boundary_frac")


def frame_scores(pred: np.ndarray, gt: np.ndarray, edges: bool = True,
                 max_depth: float | None = None) -> dict[str, float]:
    """Standard metrics (+ depth-edge metrics and the boundary/interior RMSE split) of one frame.

    Args:
        pred, gt: ``(H, W)`` depth, both in the dataset's unit.
        edges: also the edge metrics and the boundary split (whole-frame measures).
        max_depth: score only the pixels whose ground truth is at most this (the maps' unit; a
            robot's working range). The edge metrics, whole-frame measures, are then skipped.
    """
    if max_depth is None:
        out = metrics.standard(pred, gt)
    else:
        with np.errstate(invalid="ignore"):
            out = metrics.standard(pred, gt, gt <= max_depth)
        edges = False
    if edges:
        out.update(metrics.edge_metrics(pred, gt))
        out.update(metrics.boundary_split(pred, gt))
    return out


def aggregate(per_frame: list[dict[str, float]], unit: str) -> dict:
    """Mean of each score over frames (NaN skipped) + ``rmse_cm``/``mae_cm`` for metric units."""
    out: dict = {"n_frames": len(per_frame), "unit": unit}
    for k in SCORES:
        vals = [f[k] for f in per_frame if k in f and math.isfinite(f[k])]
        out[k] = float(np.mean(vals)) if vals else None
    metric = unit == "m"
    out["rmse_cm"] = out["rmse"] * 100 if metric and out["rmse"] is not None else None
    out["mae_cm"] = out["mae"] * 100 if metric and out["mae"] is not None else None
    for k in ("rmse_boundary", "rmse_interior", "rmse_scaled"):
        out[k + "_cm"] = out[k] * 100 if metric and out.get(k) is not None else None
    return out


def shown(row: dict) -> dict:
    """A copy of ``row`` with ``rmse_shown``/``mae_shown``/``scaled_shown``/``unit_shown`` (and the
    boundary/interior split): cm for metric data, else the
    dataset's unit (what the literature quotes)."""
    r = dict(row)
    metric = row.get("unit") == "m"
    r["rmse_shown"] = row.get("rmse_cm") if metric else row.get("rmse")
    r["mae_shown"] = row.get("mae_cm") if metric else row.get("mae")
    r["boundary_shown"] = row.get("rmse_boundary_cm") if metric else row.get("rmse_boundary")
    r["interior_shown"] = row.get("rmse_interior_cm") if metric else row.get("rmse_interior")
    r["scaled_shown"] = row.get("rmse_scaled_cm") if metric else row.get("rmse_scaled")
    r["unit_shown"] = "cm" if metric else row.get("unit")
    return r


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """``columns`` = [(key, header)]: one markdown table line per row."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines)


def add_relative(rows: list[dict], key: str = "rmse") -> None:
    """Add ``vs_bicubic`` and ``vs_best_classical`` (relative change of ``key``, e.g. -0.31) per row,
    comparing within the same dataset, scale and degradation, and among rows with the same
    ``depth_sampling`` (a ``decimated`` row against the classical rows told the same).

    Rows say what they ran in fields (:func:`~depth_refine_ros.eval.methods.row_fields`):
    ``method_name``, ``depth_sampling``, ``registration_mode``, ``temporal_enable``; a field left out
    reads as the node's default and ``method`` as the name. The baselines are the plain classical rows
    (no registration, no temporal filter); where a group has only registered ones (e.g. ``eval-bag
    --registration auto``), those are the baselines instead.
    """
    from depth_refine_ros.core.upsample import CLASSICAL_METHODS as CLASSICAL

    def name(r: dict) -> str:
        return r.get("method_name") or r["method"]

    for r in rows:
        sampling = r.get("depth_sampling", "centred")
        peers = [p for p in rows if p.get(key) and p.get("depth_sampling", "centred") == sampling
                 and (p["dataset"], p["scale"], p["degradation"]) == (r["dataset"], r["scale"], r["degradation"])
                 and name(p) in CLASSICAL and not p.get("temporal_enable")]
        base = {name(p): p[key] for p in peers if p.get("registration_mode", "none") == "none"}
        if not base:
            base = {name(p): p[key] for p in peers}
        bic = base.get("bicubic")
        best = min(base.values(), default=None)
        r["vs_bicubic"] = r[key] / bic - 1 if bic and r.get(key) is not None else None
        r["vs_best_classical"] = r[key] / best - 1 if best and r.get(key) is not None else None
