"""Write what ``eval-bag`` found: ``report.md``, ``metrics.json``, plots, panels and the refined bag.

The report quotes its command, the bag's summary, the live run's counters, the accuracy table and
the accuracy-vs-scale sweep. ``--out-bag`` stores the inputs with the refined topics, for rviz.
"""
from __future__ import annotations

import json
import pathlib

from depth_refine_ros.data.bags import BagWriter, Decoded, image_topic
from depth_refine_ros.eval import plots, scoring
from depth_refine_ros.eval.bag_replay import RunResult


def write_out_bag(path: pathlib.Path, storage: str, contents, result: RunResult) -> int:
    """Inputs (on the topics and transports they were read from) + ``depth_refined/image`` and
    ``depth_refined/camera_info`` into a new bag."""
    from depth_refine_ros.ros import conversions as conv

    n = 0
    with BagWriter(path, storage) as bag:
        for f in contents.frames:
            tr = contents.transports
            for topic, m in ((image_topic("rgb/image", "rgb", tr.get("rgb", "raw")), f.rgb),
                             ("rgb/camera_info", f.rgb_info),
                             (image_topic("depth_lr/image", "depth", tr.get("depth", "raw")), f.depth),
                             ("depth_lr/camera_info", f.depth_info),
                             (image_topic("depth_gt/image", "gt", tr.get("gt", "raw")), f.gt)):
                if m is not None:
                    bag.write(topic, m, f.t_ns)
            d = result.depth.get(f.stamp_ns)
            if d is None:
                continue
            hdr = conv.header_from_ns(f.stamp_ns, f.depth.header.frame_id)
            bag.write_cdr("depth_refined/image", *conv.to_cdr(conv.depth_to_msg(d, hdr)), f.t_ns)
            # the RGB's camera_info (the output is the RGB's size), else the depth's
            depth_hw = (getattr(f.depth, "height", 0), getattr(f.depth, "width", 0))  # 0: compressed
            intr = conv.first_intrinsics([(f.rgb_info, d.shape), (f.depth_info, depth_hw)])
            if intr is not None:
                info_hr = conv.intrinsics_to_camera_info(intr.scaled_to(d.shape[1], d.shape[0]), hdr)
                bag.write_cdr("depth_refined/camera_info", *conv.to_cdr(info_hr), f.t_ns)
            n += 1
    return n


ROW_TABLE = [("method", "method"), ("rmse_cm", "RMSE cm"), ("mae_cm", "MAE cm"), ("absrel", "AbsRel"),
             ("delta1", "δ1"), ("dbe_acc", "DBE acc px"), ("edge_f", "edge F"), ("coverage", "coverage"),
             ("temporal_change_cm", "flicker cm"), ("vs_bicubic", "vs bicubic"),
             ("vs_best_classical", "vs best classical"), ("median_ms", "median ms"), ("p95_ms", "p95 ms"),
             ("n_frames", "frames")]
SWEEP_TABLE = [("scale", "scale"), ("method", "method"), ("rmse_cm", "RMSE cm"), ("mae_cm", "MAE cm"),
               ("delta1", "δ1"), ("vs_bicubic", "vs bicubic"), ("vs_best_classical", "vs best classical")]


def write_report(out: pathlib.Path, title: str, command: str, summary: dict, rows: list[dict],
                 sweep: list[dict], results: list[RunResult], frames: list[Decoded], panels: int) -> None:
    """``metrics.json``, ``report.md``, the latency histogram, accuracy-vs-scale plot and panels."""
    (out / "panels").mkdir(parents=True, exist_ok=True)
    summary = dict(summary, rows=rows, scale_sweep=sweep)
    (out / "metrics.json").write_text(json.dumps(summary, indent=1, default=str))
    has_hist = plots.latency_histogram(out / "latency_hist.png",
                                       {r.label: list(r.latency_ms.values()) for r in results})
    has_sweep = plots.accuracy_vs_scale(out / "accuracy_vs_scale.png", sweep, "rmse_cm")
    with_gt = [f for f in frames if f.gt is not None and f.rgb is not None]
    names = []
    for f in with_gt[:: max(1, len(with_gt) // max(panels, 1))][:panels]:
        outs = {r.label: r.depth[f.stamp_ns] for r in results if f.stamp_ns in r.depth}
        if outs:
            name = f"frame_{f.stamp_ns}.png"
            plots.panel(out / "panels" / name, f"{title}: stamp {f.stamp_ns / 1e9:.3f} s", f.rgb, f.depth_lr,
                        f.gt, outs, "m")
            names.append(name)
    lines = [f"# {title}", "", f"Command: `{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in summary.items() if k not in ("rows", "scale_sweep", "live")]
    live = summary.get("live")
    if live:
        diag = live.get("node_diagnostics", {})
        lines += ["", "## Live run", "",
                  f"- frames sent {live['sent']}, refined depth received {live['received']}, clouds received "
                  f"{live['clouds_received']}, never answered {live['not_answered']}; node counters: dropped "
                  f"{diag.get('frames dropped', '?')}, rejected {diag.get('frames rejected', '?')}; node exit code "
                  f"{live['node_exit_code']}.",
                  "- node per-stage latency (median / p95 ms): " + "; ".join(
                      f"{k.split()[1]} {v}" for k, v in diag.items() if k.startswith("latency_ms"))]
    lines += ["", "## Accuracy on the bag's frames", "",
              "Latency: live = publish -> refined depth received over DDS; offline = pipeline time. "
              "Flicker: mean frame-to-frame change on static pixels (lower is steadier). DBE acc: depth "
              "boundary error (px). `vs` columns: relative RMSE change (negative = better).", "",
              scoring.markdown_table(rows, ROW_TABLE), ""]
    if has_hist:
        lines += ["![latency](latency_hist.png)", ""]
    if sweep:
        lines += ["## Accuracy vs scale (ground truth re-degraded by bicubic, offline)", "",
                  scoring.markdown_table(sweep, SWEEP_TABLE), ""]
    if has_sweep:
        lines += ["![accuracy vs scale](accuracy_vs_scale.png)", ""]
    lines += [f"![{n}](panels/{n})" for n in names]
    (out / "report.md").write_text("\n".join(lines) + "\n")
