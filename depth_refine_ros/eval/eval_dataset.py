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

import argparse
import json
import pathlib
import sys
import zlib

import numpy as np

from depth_refine_ros.core.degrade import DEGRADATIONS, degrade
from depth_refine_ros.core.register import Registration, ShiftTracker

TABLE = [("dataset", "dataset"), ("degradation", "degradation"), ("scale", "scale"), ("method", "method"),
         ("rmse_shown", "RMSE"), ("mae_shown", "MAE"), ("unit_shown", "unit"),
         ("boundary_shown", "RMSE boundary"), ("interior_shown", "RMSE interior"),
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


def _dataset_shift(fs, inputs: list) -> tuple[int, int]:
    """The depth-to-RGB offset ``(dy, dx)`` (output px) of one dataset pass: the median of the
    per-frame estimates on the pass's inputs (``make_input`` results; no ground truth), with
    sr_node's gain gate and 2 px dead band. One median for the pass because its frames come from one
    sensor and calibration; a single frame's estimate is good to 1-2 px only."""
    tracker = ShiftTracker(window=max(1, len(fs)))
    for f, made in zip(fs, inputs, strict=True):
        if made is not None:
            tracker.update(made[0], made[1] * f.to_metres)
    return tracker.current


def evaluate(frames, methods, scales: list[int], degradations: list[str], out: pathlib.Path,
             panels: int = 2, edges: bool = True, progress=None) -> list[dict]:
    """Score every method on every (dataset, degradation, scale); write panels; return rows."""
    from depth_refine_ros.eval import plots, scoring
    from depth_refine_ros.eval.methods import InputError

    rows: list[dict] = []
    datasets = list(dict.fromkeys(f.dataset for f in frames))
    for ds in datasets:
        fs = [f for f in frames if f.dataset == ds]
        for deg in degradations:
            for scale in ([0] if deg == "supplied" and any("native" in f.lr for f in fs) else scales):
                registered = any(m.pipeline.registration for m in methods)
                # degraded once per pass: the registration estimate and the scoring share the inputs
                inputs = [make_input(f, deg, scale) for f in fs] if registered else None
                shift = _dataset_shift(fs, inputs) if registered else None
                for m in methods:
                    if m.pipeline.registration is not None:
                        m.pipeline.registration = Registration("fixed", shift)
                per: dict[str, list] = {m.label: [] for m in methods}
                ms: dict[str, list] = {m.label: [] for m in methods}
                refused: dict[str, str] = {}
                actual = None
                for i, f in enumerate(fs):
                    made = inputs[i] if inputs is not None else make_input(f, deg, scale)
                    if made is None:
                        continue
                    rgb, lr, gt, actual = made
                    outs = {}
                    for m in methods:
                        if m.label in refused:
                            continue
                        try:
                            pred_m, t = m.run(rgb, lr * f.to_metres, f.intrinsics)
                        except InputError as e:
                            refused[m.label] = str(e)
                            continue
                        pred = pred_m / f.to_metres
                        per[m.label].append(scoring.frame_scores(pred, gt, edges))
                        ms[m.label].append(t)
                        outs[m.label] = pred
                    if i < panels and outs:
                        name = f"{ds.replace('/', '_')}_{deg}_x{actual:g}_{f.name}.png"
                        plots.panel(out / "panels" / name, f"{ds} {f.name}: {deg} x{actual:.3g}", rgb, lr, gt,
                                    outs, f.unit)
                    if progress:
                        progress(f"{ds} {deg} x{actual if actual else scale:g}: frame {i + 1}/{len(fs)}")
                for m in methods:
                    if not per[m.label]:
                        if m.label in refused:
                            sys.stderr.write(f"\n[eval-dataset] {m.label} skipped {ds} {deg} x{scale}: "
                                             f"{refused[m.label]}\n")
                        continue
                    row = {"dataset": ds, "method": m.label, "scale": round(actual, 3), "degradation": deg}
                    row.update(scoring.aggregate(per[m.label], fs[0].unit))
                    row["median_ms"] = float(np.median(ms[m.label]))
                    if m.pipeline.registration is not None:
                        row["registration_shift_px"] = list(shift)
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
    if has_plot:
        lines += ["![accuracy vs scale](accuracy_vs_scale.png)", ""]
    lines += [f"![{p}](panels/{p})" for p in panels[:12]]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> int:
    from depth_refine_ros.backends import BackendError
    from depth_refine_ros.core.modeldir import ModelError
    from depth_refine_ros.data.datasets import DatasetError, load_dataset
    from depth_refine_ros.eval.methods import build_method

    bad = [d for d in args.degradations if d != "supplied" and d not in DEGRADATIONS]
    if bad:
        print(f"eval-dataset: unknown degradation(s) {bad}; known: {sorted(DEGRADATIONS) + ['supplied']}",
              file=sys.stderr)
        return 2
    try:
        frames = []
        for root in args.root:
            frames += load_dataset(root, set(args.groups) if args.groups else None,
                                   set(args.exclude) if args.exclude else None, args.limit)
        methods = [build_method(m, args.backend, registration=r) for r in args.registration for m in args.methods]
    except (DatasetError, BackendError, ModelError, OSError) as e:
        print(f"eval-dataset: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    (out / "panels").mkdir(parents=True, exist_ok=True)

    def progress(msg: str) -> None:
        sys.stderr.write("\r[eval-dataset] " + msg.ljust(80))
        sys.stderr.flush()

    rows = evaluate(frames, methods, args.scales, args.degradations, out, args.panels, not args.no_edges, progress)
    sys.stderr.write("\n")
    if not rows:
        print("eval-dataset: nothing was scored (no method accepted any input)", file=sys.stderr)
        return 1
    write_outputs(rows, out, "depth-refine " + " ".join(sys.argv[1:]))
    print((out / "table.md").read_text())
    print(f"report: {out / 'report.md'}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("eval-dataset", help="score methods on RGB-D folders (metrics.json, table, panels)")
    p.add_argument("--root", nargs="+", required=True, help="dataset folder(s); the layout is detected")
    p.add_argument("--scales", nargs="+", type=int, default=[4, 8, 16])
    p.add_argument("--degradations", nargs="+", default=["bicubic"],
                   help=f"{', '.join(DEGRADATIONS)}, or supplied (the dataset's own low-res input)")
    p.add_argument("--methods", nargs="+", default=["bicubic", "joint_bilateral", "guided_filter", "fgs"],
                   help="classical names and/or model names or directories")
    p.add_argument("--backend", default="onnxruntime", help="backend for models")
    p.add_argument("--registration", nargs="+", choices=["none", "auto"], default=["none"],
                   help="auto: also rows (label +reg) with the depth-to-RGB offset estimated from the "
                        "frames' edges (one median per dataset pass) and undone (real sensors' misregistered depth)")
    p.add_argument("--groups", nargs="+", help="only these capture days/scenes (e.g. held-out days)")
    p.add_argument("--exclude", nargs="+", help="without these capture days/scenes")
    p.add_argument("--limit", type=int, help="at most this many frames per dataset")
    p.add_argument("--panels", type=int, default=2, help="frames per dataset/degradation/scale with a PNG panel")
    p.add_argument("--no-edges", action="store_true", help="skip the depth-edge metrics (faster)")
    p.add_argument("--out", default="out/eval")
    p.set_defaults(func=run)
