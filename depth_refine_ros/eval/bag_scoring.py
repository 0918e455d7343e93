"""Score the runs of ``eval-bag``: accuracy, flicker and latency per method, and the scale sweep.

Accuracy needs the bag's ground truth (``depth_gt/image``). Flicker needs none: without ground
truth, its static pixels come from the low-res input. The scale sweep re-degrades the ground truth
(bicubic) at each factor and runs every method offline.
"""
from __future__ import annotations

import numpy as np

from depth_refine_ros.core import metrics
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.upsample import nearest_mask
from depth_refine_ros.data.bags import Decoded
from depth_refine_ros.eval import scoring
from depth_refine_ros.eval.bag_replay import RunResult
from depth_refine_ros.eval.methods import row_fields
from depth_refine_ros.pipeline.sr import InputError


def score_run(result: RunResult, frames: list[Decoded], max_depth_m: float | None = None) -> dict:
    """One report row's scores for ``result``: accuracy where there is ground truth, flicker,
    latency (median, p95) and the rejections; ``max_depth_m`` scores only ground truth within it."""
    per, preds, refs = [], [], []
    for f in frames:
        d = result.depth.get(f.stamp_ns)
        if d is None:
            continue
        # no ground truth: static pixels come from the input, nearest-upsampled (core's own indexing)
        ref = f.gt if f.gt is not None else nearest_mask(f.depth_lr, d.shape)
        if f.gt is not None and f.gt.shape == d.shape:
            per.append(scoring.frame_scores(d, f.gt, max_depth=max_depth_m))
        preds.append(d)
        refs.append(ref)
    row = scoring.aggregate(per, "m") if per else {"n_frames": len(preds), "unit": "m"}
    row["n_frames"] = len(preds)
    ts = metrics.temporal_stability(preds, refs) if len(preds) > 1 else float("nan")
    row["temporal_change_cm"] = ts * 100 if np.isfinite(ts) else None
    lat = list(result.latency_ms.values())
    row["median_ms"] = float(np.median(lat)) if lat else None
    row["p95_ms"] = float(np.percentile(lat, 95)) if lat else None
    row["rejected"] = dict(result.rejected)
    return row


def score_runs(results: list[RunResult], frames: list[Decoded], max_depth_m: float | None = None) -> list[dict]:
    """One row per run, with the ``vs bicubic`` and ``vs best classical`` columns."""
    rows = [{"dataset": "bag", "scale": 0, "degradation": "bag", "method": r.label, **r.fields,
             **score_run(r, frames, max_depth_m)} for r in results]
    scoring.add_relative(rows)
    return rows


def scale_sweep(methods, frames: list[Decoded], scales: list[int], limit: int = 5,
                max_depth_m: float | None = None) -> list[dict]:
    """Accuracy vs scale: bicubic-degrade the bag's ground truth and run every method (offline);
    ``max_depth_m`` scores only ground truth within that range (metres)."""
    with_gt = [f for f in frames if f.gt is not None and f.rgb is not None][:limit]
    rows = []
    for s in scales:
        for m in methods:
            per = []
            for f in with_gt:
                h, w = (f.gt.shape[0] // s) * s, (f.gt.shape[1] // s) * s
                lr = degrade("bicubic", f.gt[:h, :w], s, seed=s)
                try:
                    d, _ = m.run(f.rgb[:h, :w], lr)
                except InputError:
                    continue
                per.append(scoring.frame_scores(d, f.gt[:h, :w], edges=False, max_depth=max_depth_m))
            if per:
                rows.append({"dataset": "bag", "degradation": "bicubic", "scale": s, **row_fields(m),
                             **scoring.aggregate(per, "m")})
    scoring.add_relative(rows)
    return rows
