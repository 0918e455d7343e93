"""``depth-refine bench``: per-stage latency at 640x480, end-to-end latency over DDS, and every model
preset through each backend (:mod:`depth_refine_ros.cli.bench_models`).

Prints a table (and optionally writes JSON rows). Stages run exactly the code the node runs:
decode (Image -> numpy), the pipeline with its stages (for a network: fill, upsample, normalise,
pad, infer, crop, holes), then the node's own output path (:class:`depth_refine_ros.ros.frame_out.FrameOutput`):
encode (numpy -> 32FC1 Image), publish_depth (the depth through a real rclpy publisher; camera_info
follows, untimed as in the node), then cloud (xyzrgb buffer + PointCloud2) and publish_cloud.
``depth_out_but_infer`` is what the depth topic waits for besides the network. The live part starts
``sr_node`` as its own process and streams real RealSense frames (640x480 RGB, depth downsampled x4
to 160x120) at 15 Hz over DDS.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.core.upsample import CLASSICAL_METHODS

OUT_HW = (480, 640)
SCALE = 4


def _frames(n: int):
    """(rgb 480x640x3 uint8, depth_lr 120x160 uint16 mm) pairs: real when data is present."""
    from depth_refine_ros.data.paths import DataMissing, downsample_mm, realsense_frames
    try:
        real = realsense_frames(n)
        return [(rgb, downsample_mm(d.astype(np.float32) / 1000, SCALE)) for rgb, d in real], "realsense_seq"
    except DataMissing:
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 255, (*OUT_HW, 3), dtype=np.uint8)
        lr = (1000 + rng.integers(0, 2000, (OUT_HW[0] // SCALE, OUT_HW[1] // SCALE))).astype(np.uint16)
        return [(rgb, lr)] * n, "synthetic"


def _classical_keys(method: str) -> dict:
    """The model-row keys for a classical method (no network: no parameters; memory not measured)."""
    return {"model": f"classical/{method}", "preset": "", "backend": "classical", "params": 0, "gflops": None,
            "peak_mem_mb": None}


def _stats(xs: list[float]) -> tuple[float, float]:
    return float(np.median(xs)), float(np.percentile(xs, 95))


# the order stages are reported in: the node's path for one frame (network stages only for models)
STAGES = ("decode", "preprocess", "registration", "fill", "upsample", "normalise", "pad", "infer", "crop",
          "holes", "backend", "postprocess", "encode", "publish_depth", "cloud", "publish_cloud")


def parse_method(spec: str) -> tuple[str, str, str]:
    """``bicubic`` -> (``bicubic``, ``classical``, ``auto``); ``sr_lite@openvino`` -> (``sr_lite``,
    ``openvino``, ``auto``); ``sr_lite@openvino:fp32`` -> (``sr_lite``, ``openvino``, ``fp32``)."""
    name, _, rest = spec.partition("@")
    backend, _, precision = rest.partition(":")
    if name in CLASSICAL_METHODS:
        return name, "classical", "auto"
    return name, backend or "onnxruntime", precision or "auto"


class _Publisher:
    """A real rclpy publisher with a matched in-process subscriber (the ``publish`` stage's cost).

    Uses the package's Fast DDS profile, as the node does. The subscriber is never spun: delivery
    into its history is what the publisher pays for.
    """

    def __init__(self) -> None:
        import rclpy
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
        from depth_refine_ros.ros.qos import make_qos
        from depth_refine_ros.ros.rig import isolate_domain

        isolate_domain()
        use_packaged_fastdds_profile()
        self._ctx = rclpy.Context()
        rclpy.init(context=self._ctx)
        self.node = rclpy.create_node("bench_publisher", context=self._ctx)
        qos = make_qos("reliable", 2)
        self.depth = self.node.create_publisher(Image, "bench/depth", qos)
        self.info = self.node.create_publisher(CameraInfo, "bench/camera_info", qos)
        self.cloud = self.node.create_publisher(PointCloud2, "bench/points", qos)
        self._subs = [self.node.create_subscription(Image, "bench/depth", lambda m: None, qos),
                      self.node.create_subscription(PointCloud2, "bench/points", lambda m: None, qos)]
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and (self.depth.get_subscription_count() < 1
                                             or self.cloud.get_subscription_count() < 1):
            time.sleep(0.05)

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        rclpy.shutdown(context=self._ctx)


def bench_stages(methods: list[str], iters: int, cloud_layout: str = "packed") -> list[dict]:
    """Per-stage latency of the node's path for one 640x480 frame from x4 depth (ms).

    Every stage runs the code the node runs, in its order: decode (Image -> numpy), the pipeline (its
    own stages, and a network's: fill, upsample, normalise, pad, infer, crop, holes), then the node's
    output path (:class:`~depth_refine_ros.ros.frame_out.FrameOutput`, its cloud forced as if
    subscribed): encode (numpy -> 32FC1 Image), publish_depth (the depth through a real rclpy
    publisher to a matched subscriber; camera_info follows, untimed), cloud (xyzrgb buffer +
    PointCloud2) and publish_cloud. ``depth_out`` is the time to the depth's publish (what a depth
    consumer waits for: the node builds the cloud after it); ``all_but_infer`` and
    ``depth_out_but_infer`` are the frame's total and ``depth_out`` minus ``infer``.

    Args:
        methods: classical names, or ``model@backend`` (e.g. ``sr_lite@openvino``).
        iters: frames per classical bicubic / network; other classical methods run ``iters // 10``.
        cloud_layout: the xyzrgb cloud's point layout, ``pcl`` (32 bytes) or ``packed`` (16 bytes).
    """
    from std_msgs.msg import Header

    from depth_refine_ros.backends import BackendError
    from depth_refine_ros.data.modeldir import ModelError
    from depth_refine_ros.pipeline.factory import build_sr_pipeline, spec_from_settings
    from depth_refine_ros.pipeline.settings import method_settings
    from depth_refine_ros.ros import conversions as conv
    from depth_refine_ros.ros.frame_out import FrameOutput, Publishers
    from depth_refine_ros.ros.rig import image_msg

    frames, source = _frames(min(iters, 60))
    intr = Intrinsics(615.0 / SCALE, 615.0 / SCALE, 79.5, 59.5, OUT_HW[1] // SCALE, OUT_HW[0] // SCALE)
    msgs = [(image_msg(rgb, "rgb8", 1.0), image_msg(lr, "16UC1", 1.0)) for rgb, lr in frames]
    rows = []
    output = FrameOutput()
    pub = _Publisher()
    pubs = Publishers(pub.depth, pub.info, pub.cloud)
    try:
        for spec_text in methods:
            name, backend, precision = parse_method(spec_text)
            try:
                settings = method_settings(name, backend=backend, precision=precision)
                pipe = build_sr_pipeline(spec_from_settings(settings))
            except (BackendError, ModelError) as e:
                print(f"bench: {spec_text} skipped: {e}")
                continue
            label = name if backend == "classical" else f"{name}@{pipe.backend.name}"
            engine_precision = getattr(getattr(pipe.backend, "engine", None), "precision", None)
            if engine_precision and engine_precision != "fp32":
                label += f":{engine_precision}"
            for _ in range(3):  # warm caches and allocators on real frames
                rgb_msg, d_msg = msgs[0]
                pipe.process(conv.rgb_msg_to_array(rgb_msg), conv.depth_msg_to_metres(d_msg), intr)
            t: dict[str, list[float]] = {}
            n = iters if name == "bicubic" or backend != "classical" else max(5, iters // 10)
            for i in range(n):
                rgb_msg, d_msg = msgs[i % len(msgs)]
                t0 = time.perf_counter()
                depth = conv.depth_msg_to_metres(d_msg)
                rgb = conv.rgb_msg_to_array(rgb_msg)
                t1 = time.perf_counter()
                res = pipe.process(rgb, depth, intr)
                t2 = time.perf_counter()
                # the node's output path, the cloud forced (the node makes it only when subscribed)
                out = output.publish(pubs, res.depth, res.intrinsics, Header(), rgb, layout=cloud_layout)
                t3 = time.perf_counter()
                stage = {"decode": (t1 - t0) * 1e3, **out}
                stage.update(res.timings_ms)
                stage["pipeline"] = (t2 - t1) * 1e3
                stage["total"] = (t3 - t0) * 1e3
                stage["all_but_infer"] = stage["total"] - stage.get("infer", 0.0)
                # what the depth topic waits for: everything up to its publish (the cloud comes after)
                stage["depth_out"] = (t2 - t0) * 1e3 + out["encode"] + out["publish_depth"]
                stage["depth_out_but_infer"] = stage["depth_out"] - stage.get("infer", 0.0)
                for k, v in stage.items():
                    t.setdefault(k, []).append(v)
            order = [k for k in STAGES if k in t] + ["pipeline", "depth_out_but_infer", "depth_out",
                                                     "all_but_infer", "total"]
            for st in order:
                med, p95 = _stats(t[st])
                rows.append({"kind": "stage", "method": label, "stage": st, **_keys(name, backend, pipe),
                             "input_hw": [OUT_HW[0] // SCALE, OUT_HW[1] // SCALE], "output_hw": list(OUT_HW),
                             "n": n, "median_ms": med, "p95_ms": p95, "data": source})
    finally:
        pub.close()
    return rows


def _keys(name: str, backend: str, pipe) -> dict:
    """The model-row keys of a stage row."""
    if backend == "classical":
        return _classical_keys(name)
    return {"model": name, "preset": pipe.backend.model.card.preset, "backend": pipe.backend.name,
            "params": pipe.backend.model.card.params, "gflops": None, "peak_mem_mb": None}


def bench_live(method: str, n_frames: int, rate_hz: float, driver_profile: bool,
               clouds: bool, node_params: tuple[str, ...] = (), run: int = 1) -> dict:
    """End-to-end latency (publish -> refined depth received) through a live sr_node.

    Args:
        driver_profile: the publishing side (standing in for the camera driver) uses the
            package's Fast DDS profile, as docs/nodes.md tells users to configure drivers; False
            measures a driver left at Fast DDS defaults (its 1 MB RGB crosses a 512 KiB segment).
            Must be the same for every call in one process (Fast DDS reads it once).
        clouds: the consumer also subscribes to the xyzrgb cloud (the node builds it only then).
        node_params: extra ``name:=value`` overrides for the node (e.g. ``backend_threads:=1``).
        run: which repeat this is (recorded in the row; live latency on a shared VM varies run to run).
    """
    from depth_refine_ros.pipeline.settings import SrParams, method_settings, node_overrides
    from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
    from depth_refine_ros.ros.rig import NodeProcess, Rig, info_msg, isolate_domain

    isolate_domain()
    if driver_profile:
        use_packaged_fastdds_profile()
    frames, source = _frames(n_frames)
    period = 1.0 / rate_hz

    def info(stamp: float) -> tuple:
        return (info_msg(*OUT_HW, 615.0, 615.0, 319.5, 239.5, stamp), None)

    name, backend, precision = parse_method(method)
    settings = method_settings(name, SrParams(), backend=backend, precision=precision)
    names = ("backend", "classical_method") if backend == "classical" else ("backend", "model", "precision")
    overrides = node_overrides(settings, names, always=names) + list(node_params)
    with NodeProcess(*overrides) as node:
        rig = Rig("bench_rig", clouds=clouds)
        try:
            rig.wait_matched(60)
            rgb0, lr0 = frames[0]
            rig.prime(rgb0, lr0, "16UC1", 1_500_000_000.0, info(1_500_000_000.0))
            stream = []
            for i in range(n_frames):
                rgb, lr = frames[i % len(frames)]
                stamp = 1_600_000_000 + i * period
                stream.append((rgb, "rgb8", lr, "16UC1", stamp, info(stamp)))
            sent = rig.play(stream, rate_hz)
            rig.wait_for(lambda: set(sent) <= set(rig.images), 3.0)
            rig.spin(1.2)
            lat = rig.latencies_ms(sent)
            diag = rig.diag_values()
        finally:
            rig.close()
        node.stop()
    med, p95 = _stats(lat) if lat else (float("nan"), float("nan"))
    keys = _classical_keys(name) if backend == "classical" else {
        "model": name, "preset": "", "backend": backend, "params": None, "gflops": None, "peak_mem_mb": None}
    return {"kind": "end_to_end", "method": method, "rate_hz": rate_hz, **keys,
            "node_backend": diag.get("backend", "?"),
            "stage": ("e2e_depth+cloud" if clouds else "e2e_depth_only"),
            "driver_profile": "package" if driver_profile else "fastdds_default",
            "input_hw": [120, 160], "output_hw": list(OUT_HW), "n": n_frames, "received": len(lat),
            "dropped": n_frames - len(lat), "median_ms": med, "p95_ms": p95,
            "node_total_ms": diag.get("latency_ms total (median/p95)", "?"), "data": source,
            "node_params": list(node_params), "run": run}


def print_table(rows: list[dict]) -> None:
    print(f"{'method':<22} {'stage':<20} {'median ms':>10} {'p95 ms':>9}  notes")
    for r in rows:
        note = (f"run {r['run']}{' ' + ' '.join(r['node_params']) if r['node_params'] else ''}: "
                f"{r['received']}/{r['n']} received, {r['dropped']} dropped at {r['rate_hz']:g} Hz; "
                f"driver DDS profile: {r['driver_profile']}; "
                f"node-internal total {r['node_total_ms']} ms (median/p95); node: {r['node_backend']}"
                if r["kind"] == "end_to_end" else f"n={r['n']}")
        print(f"{r['method']:<22} {r['stage']:<20} {r['median_ms']:>10.2f} {r['p95_ms']:>9.2f}  {note}")


def run(args: argparse.Namespace) -> int:
    from depth_refine_ros.cli import bench_models

    model_rows = []
    if args.models:
        res = [tuple(int(v) for v in r.split("x"))[::-1] for r in args.resolutions]
        print(f"models ({', '.join(args.backends)}), output {', '.join(args.resolutions)}, each in its own process:")
        model_rows = bench_models.bench_models(args.models, args.backends, budget_s=args.model_budget,
                                               resolutions=res)
    rows = bench_stages(args.methods, args.iters, cloud_layout=args.cloud_layout)
    if not args.no_live:
        for run in range(1, args.live_repeats + 1):
            for method in args.live_methods:
                for clouds in (False, True):
                    rows.append(bench_live(method, args.live_frames, args.rate, args.driver_profile == "package",
                                           clouds, tuple(args.live_params), run))
    print(f"depth-refine bench: {OUT_HW[1]}x{OUT_HW[0]} output from x{SCALE} input, data: {rows[0]['data']}")
    print_table(rows)
    if model_rows:
        print()
        bench_models.print_table(model_rows)
    rows += model_rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="per-stage and end-to-end latency (prints a table)")
    p.add_argument("--methods", nargs="+", default=[*CLASSICAL_METHODS, "sr_lite@onnxruntime", "sr_lite@openvino"],
                   help="per-stage rows: classical names and/or model@backend[:precision] (precision: auto, "
                        "the default, fp32, bf16, fp16; a backend that is not installed is skipped with a note)")
    p.add_argument("--iters", type=int, default=200,
                   help="frames for bicubic and each network (other classical methods: /10)")
    p.add_argument("--live-frames", type=int, default=150, help="frames streamed through sr_node")
    p.add_argument("--live-methods", nargs="+", default=["bicubic"],
                   help="what sr_node runs in the live part: classical names and/or model@backend")
    p.add_argument("--live-params", nargs="+", default=[], metavar="NAME:=VALUE",
                   help="extra sr_node parameter overrides for every live run (e.g. backend_threads:=1)")
    p.add_argument("--live-repeats", type=int, default=1,
                   help="run the live part this many times (the rows say which run): on a shared VM "
                        "the p95 varies run to run, so a default-setting decision needs several")
    p.add_argument("--cloud-layout", choices=["pcl", "packed"], default="packed",
                   help="the per-stage rows' xyzrgb cloud layout (packed: the node's default; the live "
                        "node's: --live-params output.cloud_layout:=pcl)")
    p.add_argument("--rate", type=float, default=15.0, help="stream rate (Hz)")
    p.add_argument("--no-live", action="store_true", help="skip the live DDS part")
    p.add_argument("--driver-profile", choices=["package", "default"], default="package",
                   help="Fast DDS profile of the publishing side standing in for the camera driver")
    p.add_argument("--json", help="also write the rows as JSON to this file")
    from depth_refine_ros.cli.bench_models import SPECS
    p.add_argument("--models", nargs="*", default=SPECS,
                   help="kind/preset (an untrained copy is written to out/bench_models/ once) or an "
                        "installed model's name (e.g. the shipped sr_lite); none: skip")
    p.add_argument("--resolutions", nargs="+", default=["640x480"],
                   help="output sizes WxH for the model rows (SR input: a quarter of it)")
    p.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"], help="backends for the model rows")
    p.add_argument("--model-budget", type=float, default=15.0, help="seconds of timing per model and backend")
    p.set_defaults(func=run)
