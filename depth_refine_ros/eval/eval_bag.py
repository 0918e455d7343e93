"""``depth-refine eval-bag``: score refinement on a rosbag, offline or through the live node.

This module holds the command's options (:class:`BagEvalConfig`) and its order of work
(:func:`evaluate_bag`). Each step lives in its own module:

* :mod:`~depth_refine_ros.eval.bag_replay` runs the bag's frames through the method: offline
  through the node's :class:`~depth_refine_ros.pipeline.Pipeline`, or with ``--live`` through a
  freshly started ``sr_node`` over DDS at the bag's pace (``--speed``).
* :mod:`~depth_refine_ros.eval.bag_scoring` scores the runs. ``--compare`` methods run offline on
  the same frames. With ground truth in the bag (``depth_gt/image``), the accuracy-vs-scale sweep
  re-degrades it (bicubic, ``--scales``) for every method.
* :mod:`~depth_refine_ros.eval.bag_report` writes ``report.md``, ``metrics.json``,
  ``latency_hist.png``, ``accuracy_vs_scale.png`` and panels into ``--out``; ``--out-bag`` stores
  the refined topics (with the inputs) for rviz.
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.backends import BackendError
from depth_refine_ros.data.bags import BagError, decode, read_bag
from depth_refine_ros.data.modeldir import ModelError
from depth_refine_ros.eval.bag_replay import RunResult, node_settings, run_live, run_offline
from depth_refine_ros.eval.bag_report import write_out_bag, write_report
from depth_refine_ros.eval.bag_scoring import scale_sweep, score_runs
from depth_refine_ros.eval.methods import method_from_settings, settings_fields
from depth_refine_ros.pipeline.settings import SrParams, method_settings, offline_settings


@dataclass(frozen=True)
class BagEvalConfig:
    """What :func:`evaluate_bag` does (``depth-refine eval-bag`` and ``demo`` fill it from their options).

    Attributes:
        bag: the rosbag2 directory (sqlite3 or MCAP).
        out: report directory.
        method: what refines: a classical method or a model name/directory.
        live: play the bag into a freshly started ``sr_node`` instead of running ``method`` offline.
        settings: the settings of the methods run offline (their ``backend``: that of models), and
            the ones the live node takes from them (:func:`~depth_refine_ros.eval.bag_replay.node_settings`):
            ``registration_mode`` ``none`` or ``auto`` (every method tracks and undoes the depth-to-RGB
            offset); ``depth_sampling`` ``centred`` or ``decimated`` (every method, and the live node,
            told the bag's low-res depth is every n-th pixel; labels get ``+decimated``);
            ``temporal_enable``: ``method`` with the temporal filter (offline: a pipeline stage; live:
            ``temporal.enable:=true``), ``compare`` methods stay plain.
        node_backend: ``sr_node``'s ``backend`` parameter with ``live``.
        compare: methods also run offline on the same frames.
        scales: accuracy-vs-scale sweep factors (empty: no sweep).
        speed: live playback speed (1 = the bag's pace).
        clouds: live: also subscribe to and count the clouds.
        paced: live: hold the bag's clock until each frame is answered.
        panels: frames with a PNG panel.
        out_bag: write inputs + ``depth_refined/*`` to this new bag (None: don't).
        out_bag_storage: ``sqlite3`` or ``mcap``.
        node_params: live: more ``sr_node`` parameter overrides (``name:=value``).
        max_depth_m: score only ground-truth pixels at most this far (metres; None: all); the edge
            metrics are then skipped.
        prog: name in error messages.
        title: the report's title.
        command: the command line the report quotes.
    """

    bag: str
    out: str = "out/eval_bag"
    method: str = "bicubic"
    live: bool = False
    settings: SrParams = field(default_factory=offline_settings)
    node_backend: str = "onnxruntime"
    compare: tuple[str, ...] = ("bicubic", "guided_filter")
    scales: tuple[int, ...] = (2, 4, 8, 16)
    speed: float = 1.0
    clouds: bool = False
    paced: bool = False
    panels: int = 3
    out_bag: str | None = None
    out_bag_storage: str = "mcap"
    node_params: tuple[str, ...] = ()
    max_depth_m: float | None = None
    prog: str = "eval-bag"
    title: str = "eval-bag"
    command: str = ""


def evaluate_bag(args: BagEvalConfig) -> int:
    """Score ``args.method`` (and ``args.compare``) on a bag and write the report; returns the exit code."""
    out = pathlib.Path(args.out)
    tag = "[" + args.prog + "]"
    try:
        contents = read_bag(args.bag, need_rgb=True)
        frames, undecodable = decode(contents, lambda m: sys.stderr.write(f"[{args.prog}] {m}\n"))
        if not frames:
            raise BagError(f"{args.bag}: no frame could be decoded ({undecodable})")
        s = args.settings
        plain = dataclasses.replace(s, temporal_enable=False)  # the compare methods run without the filter
        compare = [method_from_settings(method_settings(m, plain))
                   for m in dict.fromkeys(args.compare) if args.live or s.temporal_enable or m != args.method]
        main = None if args.live else method_from_settings(method_settings(args.method, s))
    except (BagError, BackendError, ModelError, OSError) as e:
        print(f"{args.prog}: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    sys.stderr.write(f"{tag} {args.bag}: {len(contents.frames)} RGB/depth pairs ({contents.storage}), "
                     f"{sum(f.gt is not None for f in frames)} with ground truth\n")

    def progress(i, n, lat):
        p95 = np.percentile(lat, 95) if lat else float("nan")
        sys.stderr.write(f"\r{tag} live: sent {i + 1}/{n}, refined {len(lat)}, latency p95 {p95:.1f} ms".ljust(90))
        sys.stderr.flush()

    results: list[RunResult] = []
    summary: dict = {"bag": str(args.bag), "storage": contents.storage, "pairs": len(contents.frames),
                     "transports": ", ".join(f"{k} {v}" for k, v in contents.transports.items()),
                     "undecodable": undecodable, "unpaired_depth": contents.unpaired_depth,
                     "unpaired_rgb": contents.unpaired_rgb, "mode": "live" if args.live else "offline"}
    if args.max_depth_m is not None:
        summary["scored within (m)"] = args.max_depth_m
    if args.live:
        node = node_settings(args.method, args.node_backend, s)
        live = run_live(contents, frames, node, args.node_params, args.speed, args.clouds, progress,
                        paced=args.paced)
        sys.stderr.write("\n")
        results.append(live)
        summary["live"] = live.extra
    else:
        results.append(run_offline(main, frames))
    for m in compare:
        sys.stderr.write(f"\r{tag} offline {m.label}".ljust(90))
        results.append(run_offline(m, frames))
    sys.stderr.write("\n")
    rows = score_runs(results, frames, args.max_depth_m)
    sweep = []
    if args.scales and any(f.gt is not None for f in frames):
        # the sweep degrades the registered ground truth (centred: bicubic): nothing to undo or
        # re-sample; its frames are no sequence, so no temporal filter either
        sweep_settings = dataclasses.replace(s, **settings_fields(offline_settings()))
        if sweep_settings != s:
            names = dict.fromkeys([args.method, *args.compare])
            methods = [method_from_settings(method_settings(m, sweep_settings)) for m in names]
        else:
            methods = ([method_from_settings(method_settings(args.method, s))]
                       if args.live and args.method not in args.compare else [] if args.live else [main]) + compare
        sweep = scale_sweep(methods, frames, args.scales, max_depth_m=args.max_depth_m)
    if args.out_bag:
        try:
            n = write_out_bag(pathlib.Path(args.out_bag), args.out_bag_storage, contents, results[0])
            summary["out_bag"] = f"{args.out_bag} ({n} refined frames)"
        except BagError as e:
            print(f"{args.prog}: {e}", file=sys.stderr)
            return 2
    write_report(out, args.title, args.command, summary, rows, sweep, results, frames,
                 args.panels)
    print((out / "report.md").read_text())
    print(f"report: {out / 'report.md'}")
    main_res = results[0]
    if not main_res.depth:
        print(f"{args.prog}: {main_res.label} refined no frame", file=sys.stderr)
        return 1
    if args.live and summary["live"]["node_exit_code"] != 0:
        print(f"{args.prog}: sr_node exited with {summary['live']['node_exit_code']}", file=sys.stderr)
        return 1
    return 0
