"""Replay a decoded bag through a method, offline or through the live node, and collect the outputs.

* :func:`run_offline`: every RGB/depth pair goes through a method's
  :class:`~depth_refine_ros.pipeline.Pipeline`, the one the node runs.
* :func:`run_live`: starts ``sr_node`` as the launch file does (console script, ``config/sr.yaml``,
  the packaged Fast DDS profile, its own DDS domain). It plays the bag's messages over DDS at the
  bag's pace, records the refined depth (and clouds), and matches outputs to inputs by stamp. It
  records per-frame latency (publish -> refined depth received), frames never answered and the
  node's own diagnostics.

Both return a :class:`RunResult`; :mod:`~depth_refine_ros.eval.bag_scoring` scores it.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.data.bags import Decoded
from depth_refine_ros.eval.methods import row_fields, sampling_suffix, settings_fields
from depth_refine_ros.pipeline.settings import SrParams, method_settings, node_overrides
from depth_refine_ros.pipeline.sr import InputError


@dataclass
class RunResult:
    """Outputs of one method over the bag: stamp -> refined depth (m), latencies, rejections;
    ``fields``: what its report row says it ran (:func:`~depth_refine_ros.eval.methods.row_fields`)."""

    label: str
    depth: dict[int, np.ndarray] = field(default_factory=dict)
    latency_ms: dict[int, float] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)


def run_offline(method, frames: list[Decoded]) -> RunResult:
    """Every frame through ``method``'s pipeline; refusals counted by reason."""
    res = RunResult(method.label, fields=row_fields(method))
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


def node_settings(method: str, node_backend: str, offline: SrParams) -> SrParams:
    """The live node's settings: its defaults (``config/sr.yaml``) running ``method`` on ``node_backend``,
    with the settings the offline rows vary (``registration_mode``, ``depth_sampling``,
    ``temporal_enable``: :data:`~depth_refine_ros.eval.methods.ROW_SETTINGS`) taken from ``offline``."""
    return method_settings(method, SrParams(), backend=node_backend, **settings_fields(offline))


def live_overrides(settings: SrParams, node_params: tuple[str, ...] = ()) -> list[str]:
    """``sr_node`` parameter overrides (``name:=value``) that make the live node run ``settings``.

    ``backend`` and the method (``classical.method`` or ``model``) always; registration, sampling and
    the temporal filter where they differ from the node's defaults; ``node_params`` come last.
    """
    method = "classical_method" if settings.backend == "classical" else "model"
    return node_overrides(settings, ("backend", "registration_mode", "depth_sampling", method, "temporal_enable"),
                          always=("backend", method)) + list(node_params)


def _restamped(msg, stamp_ns: int):
    m = copy.deepcopy(msg)
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return m


def run_live(contents, frames: list[Decoded], settings: SrParams, node_params: tuple[str, ...], speed: float,
             clouds: bool, progress=None, paced: bool = False) -> RunResult:
    """Play the bag into a freshly started ``sr_node`` and record what comes back (see module doc).

    The node runs ``settings`` (:func:`live_overrides`), and ``node_params`` after them.

    ``paced``: after each frame, wait (up to 10 s) for its refined depth before the bag's clock goes
    on: every frame is scored whatever the machine's speed (latency is still measured per frame);
    without it the bag plays at its own pace and a node that cannot keep up drops frames, as live.
    """
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
    overrides = live_overrides(settings, node_params)
    main_names = ("backend", "model", "classical.method", "registration.mode")  # shown by value alone
    name = "sr_node live (" + ", ".join(o.split(":=")[-1] if o.split(":=")[0] in main_names else o
                                        for o in overrides if not o.startswith("depth.sampling:=")) + ")"
    # decimated or averaged: labelled as the offline methods told the same
    label = name + sampling_suffix(settings.depth_sampling)
    res = RunResult(label, fields={"method": label, "method_name": name, **settings_fields(settings)})
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
