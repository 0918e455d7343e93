"""The argparse halves of the evaluation commands: ``eval-dataset``, ``make-bag``, ``eval-bag``.

Each ``add_*`` declares a sub-command's options; each ``run_*`` turns them into calls of
:mod:`depth_refine_ros.eval` (which takes plain values, settings or a config dataclass, never a
Namespace). Options that set a runtime setting are generated from the settings
(:mod:`depth_refine_ros.cli.setting_args`) and read back by name.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from depth_refine_ros.cli.setting_args import NETWORK_BACKENDS, add_setting, settings_from_args, swept_settings
from depth_refine_ros.core.degrade import DEGRADATIONS
from depth_refine_ros.core.upsample import CLASSICAL_METHODS

EVAL_DATASET_SETTINGS = ("backend", "max_depth_m")
"""The settings eval-dataset sets once for every method (options made from the settings)."""
EVAL_DATASET_SWEEPS = ("depth_sampling", "registration_mode")
"""The settings eval-dataset runs every method with each value of (rows per value, outermost first)."""
EVAL_BAG_SETTINGS = ("backend", "registration_mode", "depth_sampling", "temporal_enable")
"""The settings eval-bag's options set (``temporal_enable``: ``--method`` only)."""


def run_eval_dataset(args: argparse.Namespace) -> int:
    from depth_refine_ros.backends import BackendError
    from depth_refine_ros.data.datasets import DatasetError, load_dataset
    from depth_refine_ros.data.modeldir import ModelError
    from depth_refine_ros.eval.eval_dataset import check_range_limit, evaluate, write_outputs
    from depth_refine_ros.eval.methods import method_from_settings
    from depth_refine_ros.pipeline.settings import method_settings

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
        base = settings_from_args(args, EVAL_DATASET_SETTINGS)
        methods = [method_from_settings(method_settings(m, s))
                   for s in swept_settings(args, EVAL_DATASET_SWEEPS, base) for m in args.methods]
    except (DatasetError, BackendError, ModelError, OSError) as e:
        print(f"eval-dataset: {e}", file=sys.stderr)
        return 2
    try:
        check_range_limit(frames, args.max_depth)
    except ValueError as e:
        print(f"eval-dataset: --max-depth: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    (out / "panels").mkdir(parents=True, exist_ok=True)

    def progress(msg: str) -> None:
        sys.stderr.write("\r[eval-dataset] " + msg.ljust(80))
        sys.stderr.flush()

    rows = evaluate(frames, methods, args.scales, args.degradations, out, args.panels, not args.no_edges,
                    progress, args.max_depth)
    sys.stderr.write("\n")
    if not rows:
        print("eval-dataset: nothing was scored (no method accepted any input)", file=sys.stderr)
        return 1
    write_outputs(rows, out, "depth-refine " + " ".join(sys.argv[1:]))
    print((out / "table.md").read_text())
    print(f"report: {out / 'report.md'}")
    return 0


def add_eval_dataset(sub) -> None:
    p = sub.add_parser("eval-dataset", help="score methods on RGB-D folders (metrics.json, table, panels)")
    p.add_argument("--root", nargs="+", required=True, help="dataset folder(s); the layout is detected")
    p.add_argument("--scales", nargs="+", type=int, default=[4, 8, 16])
    p.add_argument("--degradations", nargs="+", default=["bicubic"],
                   help=f"{', '.join(DEGRADATIONS)}, or supplied (the dataset's own low-res input)")
    p.add_argument("--methods", nargs="+", default=list(CLASSICAL_METHODS),
                   help="classical names and/or model names or directories")
    add_setting(p, "backend", choices=NETWORK_BACKENDS, note="Backend for models.")
    add_setting(p, "registration_mode", alias="--registration", sweep=True, choices=("none", "auto"),
                note="auto: also rows (label +reg) with the depth-to-RGB offset estimated from the frames' edges "
                     "(one median per dataset pass) and undone (real sensors' misregistered depth).")
    add_setting(p, "depth_sampling", alias="--sampling", sweep=True,
                note="decimated: also rows (label +decimated) told that the low-res pixels are every n-th pixel "
                     "(the nearest degradation makes such input); averaged: rows (label +averaged) told that "
                     "each is its block's clean average (the bicubic degradation makes such input).")
    p.add_argument("--groups", nargs="+", help="only these capture days/scenes (e.g. held-out days)")
    p.add_argument("--exclude", nargs="+", help="without these capture days/scenes")
    p.add_argument("--limit", type=int, help="at most this many frames per dataset")
    p.add_argument("--panels", type=int, default=2, help="frames per dataset/degradation/scale with a PNG panel")
    p.add_argument("--no-edges", action="store_true", help="skip the depth-edge metrics (faster)")
    p.add_argument("--max-depth", type=_positive, metavar="METRES",
                   help="score only pixels whose reference depth is at most this (a robot's working range; "
                        "metric datasets; skips the edge metrics)")
    add_setting(p, "max_depth_m", parse=_positive, note="Every method's range clamp (default: the node's).")
    p.add_argument("--out", default="out/eval")
    p.set_defaults(func=run_eval_dataset)


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of metres, got {text}")
    return v


def run_make_bag(args: argparse.Namespace) -> int:
    from depth_refine_ros.data.bags import BagError
    from depth_refine_ros.data.datasets import DatasetError, load_dataset
    from depth_refine_ros.eval.make_bag import FX_REL, build_bag

    try:
        frames = load_dataset(args.root, set(args.groups) if args.groups else None, None, None)
        frames = frames[args.start:args.start + args.frames] if args.frames else frames[args.start:]
        if not frames:
            raise DatasetError(f"{args.root}: no frames from index {args.start}")
        if frames[0].intrinsics is None:
            sys.stderr.write(f"[make-bag] {args.root} has no intrinsics: using fx = fy = {FX_REL} * width, "
                             "principal point at the centre\n")

        def progress(i, n):
            sys.stderr.write(f"\r[make-bag] frame {i + 1}/{n}")

        n = build_bag(frames, pathlib.Path(args.out), args.storage, args.rate, args.scale, args.degradation,
                      args.start_time, args.frame_id, args.depth_encoding, progress=progress,
                      transport=args.transport, rgb_format=args.rgb_format, with_gt=not args.no_gt)
    except (DatasetError, BagError, ValueError, KeyError) as e:
        print(f"\nmake-bag: {e}", file=sys.stderr)
        return 2
    lowres = ("the dataset's own low-res depth" if args.degradation == "supplied"
              else f"{args.degradation} x{args.scale}")  # supplied depth has its own size; --scale unused
    sent = "" if args.transport == "raw" else f", compressed transports (rgb {args.rgb_format})"
    sent += ", no ground truth" if args.no_gt else ""
    print(f"\nmake-bag: wrote {n} frames to {args.out} ({args.storage}, {args.rate:g} Hz, {lowres}{sent})")
    return 0


def add_make_bag(sub) -> None:
    p = sub.add_parser("make-bag", help="RGB-D folder/sequence -> rosbag2 (sqlite3 or MCAP) with the node's topics")
    p.add_argument("--root", required=True, help="dataset folder (any layout eval-dataset reads, metric depth)")
    p.add_argument("--out", required=True, help="bag directory to create")
    p.add_argument("--storage", choices=["sqlite3", "mcap"], default="sqlite3")
    p.add_argument("--rate", type=float, default=15.0, help="frames per second (stamps and receive times)")
    p.add_argument("--scale", type=int, default=4, help="low-res factor for synthetic degradations")
    p.add_argument("--degradation", default="bicubic", help=f"{', '.join(DEGRADATIONS)} or supplied")
    p.add_argument("--frames", type=int, default=0, help="number of frames (0 = all)")
    p.add_argument("--start", type=int, default=0, help="first frame index (name order)")
    p.add_argument("--groups", nargs="+", help="only these capture days/scenes")
    p.add_argument("--start-time", type=float, default=1_700_000_000.0, help="stamp of the first frame (s)")
    p.add_argument("--frame-id", default="camera_color_optical_frame")
    p.add_argument("--depth-encoding", choices=["16UC1", "32FC1"], default="16UC1")
    p.add_argument("--transport", choices=["raw", "compressed"], default="raw",
                   help="compressed: record the inputs as image_transport's compressed transports would "
                        "(rgb/image/compressed and depth_lr/image/compressedDepth, sensor_msgs/CompressedImage)")
    p.add_argument("--rgb-format", choices=["jpeg", "png"], default="jpeg",
                   help="--transport compressed: the RGB image's compression (jpeg quality 95, or lossless png)")
    p.add_argument("--no-gt", action="store_true",
                   help="leave out depth_gt/image (a bag as a robot records it, e.g. for depth-refine-train adapt)")
    p.set_defaults(func=run_make_bag)


def add_eval_bag_options(p: argparse.ArgumentParser) -> None:
    """eval-bag's options (the fields of :class:`~depth_refine_ros.eval.eval_bag.BagEvalConfig`)."""
    p.add_argument("--method", default="bicubic", help="what refines: a classical name or a model name/dir")
    add_setting(p, "backend", choices=NETWORK_BACKENDS, note="Backend for models run offline.")
    p.add_argument("--node-backend", default="onnxruntime",
                   help="sr_node's backend with --live (classical methods always run on 'classical')")
    p.add_argument("--compare", nargs="*", default=["bicubic", "guided_filter"],
                   help="methods also run offline on the same frames")
    p.add_argument("--scales", nargs="*", type=int, default=[2, 4, 8, 16],
                   help="accuracy-vs-scale sweep from the bag's ground truth (none: skip)")
    add_setting(p, "registration_mode", alias="--registration", choices=("none", "auto"),
                note="auto: track and undo the depth-to-RGB offset in every method; labels get +reg.")
    add_setting(p, "depth_sampling", alias="--sampling",
                note="decimated: the bag's low-res depth is every n-th pixel, for every method and the live "
                     "node; labels get +decimated.")
    p.add_argument("--speed", type=float, default=1.0, help="--live playback speed (1 = the bag's pace)")
    p.add_argument("--clouds", action="store_true", help="--live: also subscribe to and count the clouds")
    p.add_argument("--paced", action="store_true",
                   help="--live: hold the bag's clock until each frame is answered (every frame scored "
                        "on any machine; without it a node that cannot keep up drops frames, as live)")
    p.add_argument("--panels", type=int, default=3)
    p.add_argument("--out-bag", help="write inputs + depth_refined/* to this new bag")
    p.add_argument("--out-bag-storage", choices=["sqlite3", "mcap"], default="mcap")


#: sr_node parameters eval-bag sets from its own options (and labels its rows by): --node-param may not
#: set them too, or the node would run with one value while the report names the other
NODE_PARAMS_SET_BY_OPTIONS = {"backend": "--node-backend", "model": "--method", "classical.method": "--method",
                              "registration.mode": "--registration", "depth.sampling": "--sampling",
                              "temporal.enable": "--temporal", "rgb_transport": "the bag's recorded transport",
                              "depth_transport": "the bag's recorded transport"}


def node_param_problem(params: list[str]) -> str | None:
    """Why eval-bag's ``--node-param`` overrides cannot be used as given, or None.

    Args:
        params: ``name:=value`` strings.
    """
    for p in params:
        name, sep, _ = p.partition(":=")
        if not sep or not name:
            return f"--node-param {p!r}: expected NAME:=VALUE"
        name = name.rsplit(":", 1)[-1]  # as -p takes it, with or without a node-name prefix
        if name in NODE_PARAMS_SET_BY_OPTIONS:
            return f"--node-param {p!r}: {name} is set by {NODE_PARAMS_SET_BY_OPTIONS[name]}, which also labels the row"
    return None


def run_eval_bag(args: argparse.Namespace) -> int:
    from depth_refine_ros.eval.eval_bag import BagEvalConfig, evaluate_bag

    problem = node_param_problem(args.node_param)
    if problem:
        print(f"eval-bag: {problem}", file=sys.stderr)
        return 2
    node_backend = "classical" if args.live and args.method in CLASSICAL_METHODS else args.node_backend
    cfg = BagEvalConfig(
        bag=args.bag, out=args.out, method=args.method, live=args.live,
        settings=settings_from_args(args, EVAL_BAG_SETTINGS), node_backend=node_backend,
        compare=tuple(args.compare), scales=tuple(args.scales), speed=args.speed, clouds=args.clouds,
        paced=args.paced, panels=args.panels, out_bag=args.out_bag, out_bag_storage=args.out_bag_storage,
        prog="eval-bag", node_params=tuple(args.node_param), max_depth_m=args.max_depth,
        title=f"eval-bag: {args.bag}", command="depth-refine " + " ".join(sys.argv[1:]))
    return evaluate_bag(cfg)


def add_eval_bag(sub) -> None:
    p = sub.add_parser("eval-bag", help="score refinement on a rosbag, offline or --live through sr_node")
    p.add_argument("bag", help="rosbag2 directory (sqlite3 or MCAP)")
    p.add_argument("--live", action="store_true", help="play the bag into a freshly started sr_node over DDS")
    p.add_argument("--out", default="out/eval_bag")
    add_eval_bag_options(p)
    add_setting(p, "temporal_enable", alias="--temporal",
                note="--method with the temporal filter (sr_node's temporal.* defaults; label +temporal): offline "
                     "as a pipeline stage, --live as temporal.enable:=true; --compare rows stay plain.")
    p.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="--live: one more sr_node parameter override (repeatable), e.g. temporal.alpha:=0.2")
    p.add_argument("--max-depth", type=_positive, metavar="METRES",
                   help="score only pixels whose ground truth is at most this far (a robot's working range; "
                        "skips the edge metrics)")
    p.set_defaults(func=run_eval_bag)
