"""``depth-refine eval-dataset``: score methods on RGB-D folders at several scales and degradations.

For each dataset x degradation x scale, the low-res input is made from the ground truth by the
named degradation of :mod:`depth_refine_ros.core.degrade` (the functions training uses), or taken
from the dataset (``supplied``: a real sensor's low-res depth, or a benchmark's own noisy input),
then every method refines it through the node's :class:`Pipeline`. Writes to ``--out``:
``metrics.json`` (a list of rows), ``table.md``, ``report.md``, ``accuracy_vs_scale.png`` and
per-frame panels in ``panels/``. Deterministic: degradation seeds derive from the frame name,
scale and degradation (crc32), never from run order or Python's salted ``hash``.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
import sys
import zlib

import numpy as np

from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.register import ShiftTracker
from depth_refine_ros.core.sampling import recentre_decimated
from depth_refine_ros.pipeline.registration import Registration

TABLE = [("dataset", "dataset"), ("degradation", "degradation"), ("scale", "scale"), ("method", "method"),
         ("rmse_shown", "RMSE"), ("mae_shown", "MAE"), ("unit_shown", "unit"),
         ("boundary_shown", "RMSE boundary"), ("interior_shown", "RMSE interior"),
         ("scaled_shown", "RMSE scaled"),
         ("absrel", "AbsRel"), ("delta1", "δ1"),
         ("dbe_acc", "DBE acc px"), ("edge_f", "edge F"), ("coverage", "coverage"),
         ("vs_bicubic", "vs bicubic"), ("vs_best_classical", "vs best classical"), ("median_ms", "ms"),
         ("n_frames", "frames")]


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def make_input(frame, degradation: str, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(rgb, low-res depth, ground truth, actual scale) in the frame's unit, or None if not available.

    Synthetic degradations crop the frame to a multiple of ``scale`` first (the literature's
    protocol, so the low-res grid covers the image exactly). ``supplied`` uses the dataset's own
    ``x<scale>`` input, else its ``native`` one (whatever its factor, reported as the scale).
    """
    if degradation == "supplied":
        lr = frame.lr.get(f"x{scale}")
        if lr is None and scale == 0:
            lr = frame.lr.get("native")
        if lr is None:
            return None
        return frame.rgb, lr, frame.depth, frame.depth.shape[1] / lr.shape[1]
    h, w = (frame.depth.shape[0] // scale) * scale, (frame.depth.shape[1] // scale) * scale
    rgb, gt = frame.rgb[:h, :w], frame.depth[:h, :w]
    lr_m = degrade(degradation, gt * frame.to_metres, scale, seed=_seed(frame.name, scale, degradation), rgb=rgb)
    return rgb, lr_m / frame.to_metres, gt, float(scale)


def _registered(method) -> bool:
    """Whether ``method`` undoes a depth-to-RGB offset (its label carries ``+reg``)."""
    reg = method.pipeline.registration
    return reg is not None and reg.active


def _with_registration(method, registration: Registration):
    """A copy of ``method`` whose pipeline undoes ``registration``.

    The caller's method and pipeline stay as they were: the copy shares the backend, config and
    other stages, and only its registration differs.
    """
    pipeline = copy.copy(method.pipeline)
    pipeline.registration = registration
    return dataclasses.replace(method, pipeline=pipeline)


def _dataset_shift(fs, inputs: list, sampling: str = "centred") -> tuple[int, int]:
    """The depth-to-RGB offset ``(dy, dx)`` (output px) of one dataset pass: the median of the
    per-frame estimates on the pass's inputs (``make_input`` results; no ground truth), with
    sr_node's gain gate and 2 px dead band. One median for the pass because its frames come from one
    sensor and calibration; a single frame's estimate is good to 1-2 px only. ``sampling``
    ``decimated``: estimated on the input as such a pipeline sees it, re-sampled at its block centres
    (else the decimation offset would be undone twice)."""
    tracker = ShiftTracker(window=max(1, len(fs)))
    for f, made in zip(fs, inputs, strict=True):
        if made is not None:
            rgb, lr = made[0], made[1] * f.to_metres
            if sampling == "decimated":
                lr = recentre_decimated(np.asarray(lr, np.float32), rgb.shape[:2])
            tracker.update(rgb, lr)
    return tracker.current


def check_range_limit(frames, max_depth_m: float | None) -> None:
    """Refuse a range limit (``max_depth_m``, metres) on frames that are not in metres.

    Raises:
        ValueError: naming the disparity-valued datasets.
    """
    non_metric = sorted({f.dataset for f in frames if f.unit != "m"})
    if max_depth_m is not None and non_metric:
        raise ValueError(f"a range limit needs metric depth; {non_metric} are not in metres")


def evaluate(frames, methods, scales: list[int], degradations: list[str], out: pathlib.Path,
             panels: int = 2, edges: bool = True, progress=None, max_depth_m: float | None = None) -> list[dict]:
    """Score every method on every (dataset, degradation, scale); write panels; return rows.

    ``max_depth_m``: score only the pixels whose reference depth is at most this many metres (a
    robot's working range; a real sensor's far, noisy range otherwise dominates the RMSE). Metric
    datasets only; the edge metrics, whole-frame measures, are then skipped. Rows record it as
    ``max_depth_m``, and each method's range clamp (sr_node's ``depth.max_m``) as ``depth_max_m``.

    A method with registration runs, in each pass, as a copy with that pass's fixed median shift;
    ``methods`` themselves are not changed.
    """
    check_range_limit(frames, max_depth_m)
    from depth_refine_ros.eval import plots, scoring
    from depth_refine_ros.eval.methods import InputError, row_fields

    rows: list[dict] = []
    datasets = list(dict.fromkeys(f.dataset for f in frames))
    for ds in datasets:
        fs = [f for f in frames if f.dataset == ds]
        for deg in degradations:
            for scale in ([0] if deg == "supplied" and any("native" in f.lr for f in fs) else scales):
                registered = any(_registered(m) for m in methods)
                # degraded once per pass: the registration estimate and the scoring share the inputs
                inputs = [make_input(f, deg, scale) for f in fs] if registered else None
                shifts: dict[str, tuple[int, int]] = {}  # per depth.sampling setting
                run = []  # this pass's methods: registered ones as copies with the pass's shift
                for m in methods:
                    if _registered(m):
                        sampling = m.pipeline.config.depth_sampling
                        if sampling not in shifts:
                            shifts[sampling] = _dataset_shift(fs, inputs, sampling)
                        m = _with_registration(m, Registration("fixed", shifts[sampling]))
                    run.append(m)
                per: dict[str, list] = {m.label: [] for m in run}
                ms: dict[str, list] = {m.label: [] for m in run}
                refused: dict[str, str] = {}
                actual = None
                for i, f in enumerate(fs):
                    made = inputs[i] if inputs is not None else make_input(f, deg, scale)
                    if made is None:
                        continue
                    rgb, lr, gt, actual = made
                    outs = {}
                    for m in run:
                        if m.label in refused:
                            continue
                        try:
                            pred_m, t = m.run(rgb, lr * f.to_metres, f.intrinsics)
                        except InputError as e:
                            refused[m.label] = str(e)
                            continue
                        pred = pred_m / f.to_metres
                        per[m.label].append(scoring.frame_scores(pred, gt, edges, max_depth_m))  # metric: unit m
                        ms[m.label].append(t)
                        outs[m.label] = pred
                    if i < panels and outs:
                        name = f"{ds.replace('/', '_')}_{deg}_x{actual:g}_{f.name}.png"
                        plots.panel(out / "panels" / name, f"{ds} {f.name}: {deg} x{actual:.3g}", rgb, lr, gt,
                                    outs, f.unit)
                    if progress:
                        progress(f"{ds} {deg} x{actual if actual else scale:g}: frame {i + 1}/{len(fs)}")
                for m in run:
                    if not per[m.label]:
                        if m.label in refused:
                            sys.stderr.write(f"\n[eval-dataset] {m.label} skipped {ds} {deg} x{scale}: "
                                             f"{refused[m.label]}\n")
                        continue
                    row = {"dataset": ds, **row_fields(m), "scale": round(actual, 3), "degradation": deg}
                    row.update(scoring.aggregate(per[m.label], fs[0].unit))
                    if max_depth_m is not None:
                        row["max_depth_m"] = max_depth_m
                    row["depth_max_m"] = m.pipeline.config.max_depth_m  # the method's range clamp
                    row["median_ms"] = float(np.median(ms[m.label]))
                    if _registered(m):
                        row["registration_shift_px"] = list(shifts[m.pipeline.config.depth_sampling])
                    rows.append(row)
    scoring.add_relative(rows)
    return rows


def write_outputs(rows: list[dict], out: pathlib.Path, command: str) -> None:
    """``metrics.json``, ``table.md``, ``accuracy_vs_scale.png`` and ``report.md`` into ``out``."""
    from depth_refine_ros.eval import plots, scoring

    (out / "metrics.json").write_text(json.dumps(rows, indent=1))
    table = scoring.markdown_table([scoring.shown(r) for r in rows], TABLE)
    (out / "table.md").write_text(table + "\n")
    synth = [r for r in rows if r["degradation"] != "supplied"]
    has_plot = plots.accuracy_vs_scale(out / "accuracy_vs_scale.png", synth, "rmse")
    panels = sorted(p.name for p in (out / "panels").glob("*.png")) if (out / "panels").is_dir() else []
    lines = ["# Depth refinement accuracy", "", f"Command: `{command}`", "",
             "RMSE/MAE in the dataset's unit (m: metres; level: 8-bit disparity levels, the unit the "
             "Middlebury and Lu benchmarks are quoted in). `vs` columns: relative RMSE change against "
             "bicubic and against the best classical upsampler on the same input (negative = better). "
             "DBE acc: depth boundary error, accuracy (px, iBims-1 style, detected edges); edge F: "
             "edge F-score at 2 px. RMSE boundary / interior: within 4 px of a ground-truth depth "
             "discontinuity (> 5 % jump) / elsewhere. Coverage: fraction of valid ground-truth pixels "
             "the method answers.", "",
             table, ""]
    limits = sorted({r["max_depth_m"] for r in rows if "max_depth_m" in r})
    if limits:
        lines[4:4] = [f"Scored only where the reference depth is at most {limits[0]:g} m (`--max-depth`); "
                      "the edge metrics are whole-frame measures and were skipped.", ""]
    if has_plot:
        lines += ["![accuracy vs scale](accuracy_vs_scale.png)", ""]
    lines += [f"![{p}](panels/{p})" for p in panels[:12]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
