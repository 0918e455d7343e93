"""``depth-refine eval-bag``: score refinement on a rosbag, offline or through the live node.

* offline (default): every RGB/depth pair of the bag goes through the same
  :class:`~depth_refine_ros.pipeline.Pipeline` the node runs (``--method``: classical or a model).
* ``--live``: starts ``sr_node`` as the launch file does (console script, ``config/sr.yaml``, the
  packaged Fast DDS profile, its own DDS domain), plays the bag's messages over DDS at the bag's
  pace (``--speed``), records the refined depth (and clouds with ``--clouds``), matches outputs to
  inputs by stamp, and scores them: per-frame latency (publish -> refined depth received), frames
  dropped (sent, never answered) and the node's own dropped/rejected counters.

Either way, ``--compare`` methods run offline on the same frames, and with ground truth in the
bag (``depth_gt/image``) the accuracy-vs-scale sweep re-degrades it (bicubic, ``--scales``) for
every method. Writes ``report.md``, ``metrics.json``, ``latency_hist.png``,
``accuracy_vs_scale.png`` and panels into ``--out``; ``--out-bag`` stores the refined topics
(with the inputs) for rviz.
"""
from __future__ import annotations

import copy
import json
import pathlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.core.upsample import CLASSICAL_METHODS
from depth_refine_ros.data.bags import Decoded


@dataclass
class RunResult:
    """Outputs of one method over the bag: stamp -> refined depth (m), latencies, rejections."""

    label: str
    depth: dict[int, np.ndarray] = field(default_factory=dict)
    latency_ms: dict[int, float] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def run_offline(method, frames: list[Decoded]) -> RunResult:
    """Every frame through ``method``'s pipeline; refusals counted by reason."""
    from depth_refine_ros.pipeline.sr import InputError

    res = RunResult(method.label)
    for f in frames:
        if f.rgb is None and method.uses_rgb:
            res.rejected["missing_rgb"] = res.rejected.get("missing_rgb", 0) + 1
            continue
        try:
            rgb = f.rgb if f.rgb is not None else np.zeros(f.gt.shape + (3,), np.uint8)
            d, ms = method.run(rgb, f.depth_lr, f.intrinsics)
        except InputError as e:
            res.rejected[e.reason] = res.rejected.get(e.reason, 0) + 1
            continue
        res.depth[f.stamp_ns], res.latency_ms[f.stamp_ns] = d, ms
    return res


def _restamped(msg, stamp_ns: int):
    m = copy.deepcopy(msg)
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return m


def run_live(contents, frames: list[Decoded], overrides: list[str], speed: float, clouds: bool,
             progress=None, paced: bool = False) -> RunResult:
    """Play the bag into a freshly started ``sr_node`` and record what comes back (see module doc).

    ``paced``: after each frame, wait (up to 10 s) for its refined depth before the bag's clock goes
    on: every frame is scored whatever the machine's speed (latency is still measured per frame);
    without it the bag plays at its own pace and a node that cannot keep up drops frames, as live.
    """
    from depth_refine_ros.eval.methods import DECIMATED_SUFFIX
    from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
    from depth_refine_ros.ros.rig import NodeProcess, Rig, isolate_domain

    isolate_domain()
    use_packaged_fastdds_profile()
    from depth_refine_ros.ros import conversions as conv

    by_stamp = {f.stamp_ns: f for f in contents.frames}
    # bag messages -> the rclpy messages a driver would publish (converted before the clock starts)
    wire = [{k: conv.to_rclpy(getattr(f, k)) if getattr(f, k) is not None else None
             for k in ("rgb", "depth", "rgb_info", "depth_info")} for f in contents.frames]
    first = contents.frames[0]
    main_names = ("backend", "model", "classical.method", "registration.mode")  # shown by value alone
    decimated = "depth.sampling:=decimated" in overrides  # labelled as the offline methods told the same
    label = "sr_node live (" + ", ".join(o.split(":=")[-1] if o.split(":=")[0] in main_names else o
                                         for o in overrides if o != "depth.sampling:=decimated") + ")"
    label += DECIMATED_SUFFIX if decimated else ""
    res = RunResult(label)
    # a bag recorded through image_transport's compressed transports is replayed as recorded, into a
    # node subscribed to the same transports
    tr = {k: contents.transports.get(k, "raw") for k in ("rgb", "depth")}
    overrides = [*overrides, f"rgb_transport:={tr['rgb']}", f"depth_transport:={tr['depth']}"]
    with NodeProcess(*overrides) as node:
        rig = Rig("eval_bag_rig", clouds=clouds, rgb_transport=tr["rgb"], depth_transport=tr["depth"])
        try:
            rig.wait_matched(60)
            f0 = frames[0]
            prime_ns = first.stamp_ns - 10_000_000_000
            infos = tuple(_restamped(m, prime_ns) if m is not None else None
                          for m in (wire[0]["rgb_info"], wire[0]["depth_info"]))
            rig.prime(f0.rgb, f0.depth_lr, "32FC1", prime_ns / 1e9, infos, timeout=60)
            sent: dict[int, tuple[int, float]] = {}
            t_bag0, t_wall0 = first.t_ns, time.monotonic()
            delay = 0.0  # --paced: how far the bag's clock has been held back for answers
            for i, f in enumerate(contents.frames):
                due = t_wall0 + delay + (f.t_ns - t_bag0) / 1e9 / speed
                if paced:
                    delay += max(0.0, time.monotonic() - due)
                    due = max(due, time.monotonic())
                rig.spin(max(0.0, due - time.monotonic()))
                w = wire[i]
                for pub, m in ((rig.pub_rgb_info, w["rgb_info"]), (rig.pub_depth_info, w["depth_info"]),
                               (rig.pub_rgb, w["rgb"])):
                    if m is not None:
                        pub.publish(m)
                rig.pub_depth.publish(w["depth"])
                sent[f.stamp_ns] = (i, time.monotonic())
                if paced:
                    rig.wait_for(lambda k=f.stamp_ns: k in rig.images, 10.0)
                if progress:
                    progress(i, len(contents.frames), rig.latencies_ms(sent))
            rig.wait_for(lambda: set(sent) <= set(rig.images), 5.0)
            rig.spin(1.5)
            diag = rig.diag_values()
        finally:
            rig.close()
        code = node.stop()
        log_tail = node.log()[-2000:]
    for k in sent:
        if k in rig.images and k in by_stamp:
            m = rig.images[k][1]
            res.depth[k] = np.frombuffer(m.data, np.float32).reshape(m.height, m.width).copy()
            res.latency_ms[k] = (rig.images[k][0] - sent[k][1]) * 1e3
    res.extra = {"sent": len(sent), "received": len(res.depth), "clouds_received": len(set(sent) & set(rig.clouds)),
                 "not_answered": len(set(sent) - set(rig.images)), "node_diagnostics": diag,
                 "node_exit_code": code}
    if code != 0:
        res.extra["node_log_tail"] = log_tail
    return res


def _score(result: RunResult, frames: list[Decoded], max_depth_m: float | None = None) -> dict:
    from depth_refine_ros.core import metrics
    from depth_refine_ros.core.upsample import nearest_mask
    from depth_refine_ros.eval import scoring

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


def scale_sweep(methods, frames: list[Decoded], scales: list[int], limit: int = 5,
                max_depth_m: float | None = None) -> list[dict]:
    """Accuracy vs scale: bicubic-degrade the bag's ground truth and run every method (offline);
    ``max_depth_m`` scores only ground truth within that range (metres)."""
    from depth_refine_ros.core.degrade import degrade
    from depth_refine_ros.eval import scoring
    from depth_refine_ros.pipeline.sr import InputError

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
                rows.append({"dataset": "bag", "degradation": "bicubic", "scale": s, "method": m.label,
                             **scoring.aggregate(per, "m")})
    scoring.add_relative(rows)
    return rows


def write_out_bag(path: pathlib.Path, storage: str, contents, result: RunResult) -> int:
    """Inputs (on the topics and transports they were read from) + ``depth_refined/image`` and
    ``depth_refined/camera_info`` into a new bag."""
    from depth_refine_ros.data.bags import BagWriter, image_topic
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
    from depth_refine_ros.eval import plots, scoring

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


@dataclass(frozen=True)
class BagEvalConfig:
    """What :func:`evaluate_bag` does (``depth-refine eval-bag`` and ``demo`` fill it from their options).

    Attributes:
        bag: the rosbag2 directory (sqlite3 or MCAP).
        out: report directory.
        method: what refines: a classical method or a model name/directory.
        live: play the bag into a freshly started ``sr_node`` instead of running ``method`` offline.
        backend: backend of models run offline.
        node_backend: ``sr_node``'s ``backend`` parameter with ``live``.
        compare: methods also run offline on the same frames.
        scales: accuracy-vs-scale sweep factors (empty: no sweep).
        registration: ``none`` or ``auto`` (every method tracks and undoes the depth-to-RGB offset).
        sampling: ``centred`` or ``decimated``: every method (and the live node) told the bag's
            low-res depth is every n-th pixel (sr_node's ``depth.sampling``); labels get ``+decimated``.
        speed: live playback speed (1 = the bag's pace).
        clouds: live: also subscribe to and count the clouds.
        paced: live: hold the bag's clock until each frame is answered.
        panels: frames with a PNG panel.
        out_bag: write inputs + ``depth_refined/*`` to this new bag (None: don't).
        out_bag_storage: ``sqlite3`` or ``mcap``.
        temporal: ``method`` with the temporal filter (offline: a pipeline stage; live:
            ``temporal.enable:=true``); ``compare`` methods stay plain.
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
    backend: str = "onnxruntime"
    node_backend: str = "onnxruntime"
    compare: tuple[str, ...] = ("bicubic", "guided_filter")
    scales: tuple[int, ...] = (2, 4, 8, 16)
    registration: str = "none"
    sampling: str = "centred"
    speed: float = 1.0
    clouds: bool = False
    paced: bool = False
    panels: int = 3
    out_bag: str | None = None
    out_bag_storage: str = "mcap"
    temporal: bool = False
    node_params: tuple[str, ...] = ()
    max_depth_m: float | None = None
    prog: str = "eval-bag"
    title: str = "eval-bag"
    command: str = ""


def evaluate_bag(args: BagEvalConfig) -> int:
    """Score ``args.method`` (and ``args.compare``) on a bag and write the report; returns the exit code."""
    from depth_refine_ros.backends import BackendError
    from depth_refine_ros.core.modeldir import ModelError
    from depth_refine_ros.data.bags import BagError, decode, read_bag
    from depth_refine_ros.eval import scoring
    from depth_refine_ros.eval.methods import build_method

    out = pathlib.Path(args.out)
    tag = "[" + args.prog + "]"
    try:
        contents = read_bag(args.bag, need_rgb=True)
        frames, undecodable = decode(contents, lambda m: sys.stderr.write(f"[{args.prog}] {m}\n"))
        if not frames:
            raise BagError(f"{args.bag}: no frame could be decoded ({undecodable})")
        reg, samp = args.registration, args.sampling
        compare = [build_method(m, args.backend, registration=reg, depth_sampling=samp)
                   for m in dict.fromkeys(args.compare) if args.live or args.temporal or m != args.method]
        main = None if args.live else build_method(args.method, args.backend, registration=reg,
                                                   temporal=args.temporal, depth_sampling=samp)
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
        overrides = [f"backend:={args.node_backend}"]
        if args.registration != "none":
            overrides.append(f"registration.mode:={args.registration}")
        if args.sampling != "centred":
            overrides.append(f"depth.sampling:={args.sampling}")
        if args.node_backend == "classical" and args.method in CLASSICAL_METHODS:
            overrides.append(f"classical.method:={args.method}")
        else:
            overrides.append(f"model:={args.method}")
        if args.temporal:
            overrides.append("temporal.enable:=true")
        overrides += list(args.node_params)
        live = run_live(contents, frames, overrides, args.speed, args.clouds, progress,
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
    rows = []
    for r in results:
        rows.append({"dataset": "bag", "scale": 0, "degradation": "bag", "method": r.label,
                     **_score(r, frames, args.max_depth_m)})
    scoring.add_relative(rows)
    sweep = []
    if args.scales and any(f.gt is not None for f in frames):
        # the sweep degrades the registered ground truth (centred: bicubic): nothing to undo or
        # re-sample; its frames are no sequence, so no temporal filter either
        if args.registration != "none" or args.temporal or args.sampling != "centred":
            names = dict.fromkeys([args.method, *args.compare])
            methods = [build_method(m, args.backend) for m in names]
        else:
            methods = ([build_method(args.method, args.backend)] if args.live and args.method not in args.compare
                       else [] if args.live else [main]) + compare
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
