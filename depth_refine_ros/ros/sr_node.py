"""sr_node: RGB + low-res depth (+ camera_info) -> refined depth, camera_info and point cloud.

Topics (relative names; remap them to your driver):
    in  ``rgb/image`` (rgb8/bgr8/rgba8/bgra8/mono8), ``rgb/camera_info`` (optional),
        ``depth_lr/image`` (16UC1/mono16 mm or 32FC1 m, registered to rgb),
        ``depth_lr/camera_info``
    out ``depth_refined/image`` (32FC1 m, NaN invalid, rgb resolution),
        ``depth_refined/camera_info``, ``depth_refined/points`` (organized PointCloud2),
        ``depth_refined/stats`` (depth_refine_ros/RefineStats per frame), ``/diagnostics``
    ``rgb_transport: compressed`` / ``depth_transport: compressedDepth`` take the image inputs as
    image_transport's CompressedImage topics instead (``<rgb/image>/compressed``,
    ``<depth_lr/image>/compressedDepth``; :mod:`depth_refine_ros.ros.transports`).

Any backend runs any SR model (``backend``, ``model``, ``device``, ``precision``). When
``rgb/image`` is silent for ``depth_only.rgb_timeout_s`` the node refines depth alone with the
depth-only model (or bicubic), says so in diagnostics (``mode``), and switches back when RGB
returns. Threading and the latest-frame policy: :mod:`depth_refine_ros.ros.node_base`.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from collections import deque

from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CameraInfo, Image

from depth_refine_ros.core.encodings import ImageFormatError
from depth_refine_ros.pipeline.factory import (
    SrPipelineSpec,
    build_sr_pipelines,
    build_temporal,
    close_pipelines,
    spec_from_settings,
)
from depth_refine_ros.pipeline.sr import InputError
from depth_refine_ros.ros import conversions as conv
from depth_refine_ros.ros.diagnostics import to_array
from depth_refine_ros.ros.node_base import RefineNode, run_node
from depth_refine_ros.ros.params import SrParams, coerce, declare_and_read
from depth_refine_ros.ros.sync import ApproximateTimeSync, ArrivalGap, ExactTimeSync

RGB, DEPTH = 0, 1
INFO_CACHE = 30  # camera_info messages kept per stream for stamp matching


def pipeline_spec(p: SrParams) -> SrPipelineSpec:
    """The node's parameters as the pipeline factory's spec (:func:`spec_from_settings`, live)."""
    return spec_from_settings(p, live=True)


#: the run-time parameters (ROS name -> SrParams field); every other parameter is read-only
TEMPORAL_PARAMS = {"temporal.enable": "temporal_enable", "temporal.alpha": "temporal_alpha",
                   "temporal.delta": "temporal_delta", "temporal.persistency": "temporal_persistency"}


class SrNode(RefineNode):
    """The depth super-resolution node (see the module docstring for topics)."""

    watched_inputs = ("rgb/image", "depth_lr/image", "depth_lr/camera_info")

    def __init__(self, **kwargs) -> None:
        super().__init__("sr_node", **kwargs)
        self.p: SrParams = declare_and_read(self, SrParams)
        self._build()
        self.add_on_set_parameters_callback(self._on_set_parameters)  # temporal.* at run time
        self._start_io()

    # ---------------------------------------------------------------- set-up (also the managed node's)
    def _build(self) -> None:
        """Build (and warm up) the pipelines and the synchroniser from ``self.p``.

        Raises:
            BackendError, ValueError: a bad model or parameter.
        """
        p = self.p
        self.pipeline, self.depth_only = build_sr_pipelines(pipeline_spec(p))
        self._mode = "guided"  # or "depth_only" while rgb/image is silent (rgb_timeout_s)
        self._rgb_hw: tuple[int, int] | None = None
        self._depth_alone_since: float | None = None  # first depth arrival after the last rgb
        self._last_depth_t = -1e9
        if p.sync_mode == "exact":
            self.sync = ExactTimeSync(2, p.sync_queue_size)
        else:
            lb = None if p.sync_lower_bound_s < 0 else int(p.sync_lower_bound_s * 1e9)
            self.sync = ApproximateTimeSync(2, p.sync_queue_size, int(p.sync_max_interval_s * 1e9), [lb, lb])
        self._infos: dict[str, deque] = {"rgb": deque(maxlen=INFO_CACHE), "depth": deque(maxlen=INFO_CACHE)}
        self._last_set_ns: int | None = None
        self._gaps = (ArrivalGap(), ArrivalGap())  # per image stream: a driver that restarted

    def _start_io(self) -> None:
        """Subscribe to the inputs, create the outputs and timers, start the worker."""
        p = self.p
        self._subscribe_image("rgb/image", p.rgb_transport, lambda m: self._on_image(RGB, "rgb/image", m))
        self._subscribe_image("depth_lr/image", p.depth_transport,
                              lambda m: self._on_image(DEPTH, "depth_lr/image", m))
        self._subscribe("rgb/camera_info", CameraInfo, lambda m: self._on_info("rgb", "rgb/camera_info", m))
        self._subscribe("depth_lr/camera_info", CameraInfo,
                        lambda m: self._on_info("depth", "depth_lr/camera_info", m))
        self._setup_outputs("depth_refined")
        self._start_worker()
        self.get_logger().info(
            f"sr_node ready: backend {self.pipeline.backend.describe()}, inputs {p.input_reliability} "
            f"({self._subs['rgb/image'].topic_name}, {self._subs['depth_lr/image'].topic_name}), "
            f"sync {p.sync_mode} (max interval {p.sync_max_interval_s} s), depth sampling {p.depth_sampling}, "
            f"cloud {p.cloud_type}, "
            f"without rgb: {self.depth_only.backend.describe()}")

    # ---------------------------------------------------------------- callbacks (executor thread)
    def _on_info(self, which: str, topic: str, msg: CameraInfo) -> None:
        self.stats.arrived(topic)
        self._infos[which].append((conv.stamp_ns(msg.header), msg))

    def _rgb_silent(self, now: float) -> bool:
        """Whether depth has kept arriving without any RGB for ``rgb_timeout_s`` (depth-only mode).

        Measured from the first depth frame after the last RGB frame, not from the last RGB frame:
        after an idle gap (no input at all) the first depth frame must not switch modes when its
        RGB partner is only milliseconds behind.
        """
        timeout = self.p.rgb_timeout_s
        if timeout <= 0:
            return False
        idle = now - self._last_depth_t > timeout  # a gap in the depth stream starts a new count
        self._last_depth_t = now
        if self._depth_alone_since is None or idle:
            self._depth_alone_since = now
        return now - self._depth_alone_since > timeout

    def _set_mode(self, mode: str) -> None:
        if mode == self._mode:
            return
        self._mode = mode
        self.stats.count("mode_switches")
        if mode == "depth_only":
            # the depth frames still queued for an RGB partner will not get one: dropped now, not as
            # "no partner" warnings when RGB returns
            stale = self.sync.restart(DEPTH)
            if stale:
                self.stats.drop("sync_unmatched", stale)
            self.get_logger().warning(
                f"no rgb/image for {self.p.rgb_timeout_s} s: depth-only mode "
                f"({self.depth_only.backend.describe()}) until RGB returns")
        else:
            self.get_logger().info("rgb/image is back: guided mode")

    def _resumed(self, stream: int, topic: str, gap_s: float, now: float) -> None:
        """``stream`` is back after a gap of ``gap_s`` (its driver restarted, a camera re-enumerated).

        Its queued messages and last stamps are forgotten (:meth:`ApproximateTimeSync.restart`), so
        new stamps behind the old ones pair at once instead of being rejected as out of order. When
        depth comes back and no RGB arrived during its gap (one driver restarting both), RGB's are
        forgotten too; RGB that arrived during the gap is kept, since it may be this depth frame's
        partner (a pause just under the gap threshold on RGB and just over it on depth). The temporal
        filter starts afresh. Logged once per gap, for depth (a gap of RGB alone is the depth-only
        fallback, logged as its mode switch).
        """
        self.sync.restart(stream)
        if stream != DEPTH:
            return
        self.stats.count("input_gaps")
        last_rgb = self._gaps[RGB].last
        if last_rgb is None or last_rgb < now - gap_s:
            self.sync.restart(RGB)
        self._last_set_ns = None
        if self.pipeline.temporal is not None:  # the worker reads it once per frame: swap, never reset
            self.pipeline.temporal = self.depth_only.temporal = build_temporal(pipeline_spec(self.p))
        self.get_logger().warning(
            f"{self._subs[topic].topic_name} is back after {gap_s:.1f} s without messages (a driver restart?): "
            "pairing restarted")

    def _on_image(self, stream: int, topic: str, msg: Image) -> None:
        now = time.monotonic()
        gap = self._gaps[stream].arrived(now)
        if gap is not None:
            self._resumed(stream, topic, gap, now)
        if stream == DEPTH and self._rgb_silent(now):
            self.stats.arrived(topic)
            self._set_mode("depth_only")
            self._last_set_ns = conv.stamp_ns(msg.header)
            return self._offer(None, msg)
        if stream == RGB:
            self._depth_alone_since = None
            self._set_mode("guided")
        self.stats.arrived(topic)
        stamp = conv.stamp_ns(msg.header)
        last = self._last_set_ns
        if last is not None and stamp < last - int(self.p.jump_back_reset_s * 1e9):
            self._warn("jump", f"time jumped back {(last - stamp) / 1e9:.2f} s on {topic} "
                               "(bag loop or clock reset): resetting synchronisation")
            self.sync.reset()
            self._last_set_ns = None
        res = self.sync.add(stream, stamp, msg)
        for d in res.dropped:
            name = ("rgb/image", "depth_lr/image")[d.stream]
            if d.reason == "late" and d.stream == DEPTH:
                # one frame-level rejection per late frame (its rgb half is counted as a drop)
                self._reject("out_of_order", d.stamp_ns, f"{name} stamp is older than the last "
                             "synchronised frame (late or out-of-order)")
            elif d.reason == "late":
                self.stats.drop("sync_late_rgb")
            else:
                self.stats.drop("sync_" + d.reason)
                if d.reason == "unmatched":
                    self._warn("unmatched", f"dropped {name} at {d.stamp_ns / 1e9:.3f}: no partner: "
                                            f"{d.detail} (sync.max_interval_s)")
        for s in res.sets:
            self._last_set_ns = s[DEPTH][0]
            self._offer(s[RGB][1], s[DEPTH][1])

    # ---------------------------------------------------------------- worker thread
    def _intrinsics(self, stamp: int, rgb_hw, depth_hw):
        """Intrinsics (any size) and the camera_info to copy distortion from, or (None, None)."""
        order = ("rgb", "depth") if self.p.use_rgb_camera_info else ("depth",)
        for which in order:
            cache = list(self._infos[which])
            if not cache:
                continue
            msg = next((m for s, m in reversed(cache) if s == stamp), cache[-1][1])
            intr, problem = conv.camera_info_intrinsics(msg, rgb_hw if which == "rgb" else depth_hw)
            if intr is None:
                self._warn("bad_info:" + which, f"ignoring {which} camera_info: {problem}")
                continue
            return intr, msg
        return None, None

    def _process(self, rgb_msg: Image, depth_msg: Image) -> None:
        stamp = conv.stamp_ns(depth_msg.header)
        t0 = time.perf_counter()
        try:
            depth = conv.depth_msg_to_metres(depth_msg)
        except ImageFormatError as e:
            return self._reject("depth_" + e.reason, stamp, f"{self._subs['depth_lr/image'].topic_name}: {e}")
        if rgb_msg is None:
            return self._process_depth_only(depth_msg, depth, stamp, t0)
        try:
            rgb = conv.rgb_msg_to_array(rgb_msg)
        except ImageFormatError as e:
            return self._reject("rgb_" + e.reason, stamp, f"{self._subs['rgb/image'].topic_name}: {e}")
        self._rgb_hw = rgb.shape[:2]
        if rgb_msg.header.frame_id != depth_msg.header.frame_id and "frame" not in self._warned_once:
            self._warned_once.add("frame")
            self.get_logger().warning(
                f"rgb frame '{rgb_msg.header.frame_id}' != depth frame "
                f"'{depth_msg.header.frame_id}': depth_lr must be registered to rgb; outputs use "
                "the depth header")
        t1 = time.perf_counter()
        intr, info_msg = self._intrinsics(stamp, rgb.shape[:2], depth.shape)
        try:
            res = self.pipeline.process(rgb, depth, intr)
        except InputError as e:
            return self._reject(e.reason, stamp, str(e))
        self._publish(res, depth_msg.header, rgb, t0, t1, info_msg, depth_lr=res.depth_lr)

    def _depth_only_size(self, depth_hw: tuple[int, int]) -> tuple[int, int]:
        """Output size without RGB: the last RGB size, else rgb/camera_info's, else depth x scale."""
        if self._rgb_hw is not None:
            return self._rgb_hw
        if self._infos["rgb"]:
            hw = conv.camera_info_image_hw(self._infos["rgb"][-1][1])  # its ROI over its binning
            if hw is not None and min(hw) > 0:
                return hw
        k = max(1, self.p.depth_only_scale)
        return depth_hw[0] * k, depth_hw[1] * k

    def _process_depth_only(self, depth_msg: Image, depth, stamp: int, t0: float) -> None:
        out_hw = self._depth_only_size(depth.shape)
        t1 = time.perf_counter()
        intr, info_msg = self._intrinsics(stamp, out_hw, depth.shape)
        try:
            res = self.depth_only.process(None, depth, intr, out_hw)
        except InputError as e:
            return self._reject(e.reason, stamp, str(e))
        self.stats.count("depth_only")
        self._publish(res, depth_msg.header, None, t0, t1, info_msg, depth_lr=res.depth_lr)

    # ---------------------------------------------------------------- run-time parameters
    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate and apply ``temporal.*`` changes (executor thread).

        rclpy refuses read-only parameters before calling this, so only the run-time ones get here.
        A change builds a new filter (librealsense also clears its memory when an option is set) and
        swaps it into both pipelines at once; the worker reads ``pipeline.temporal`` once per frame, so
        a frame in flight finishes with the old one. An invalid value is refused with the reason.
        """
        try:
            changes = {TEMPORAL_PARAMS[q.name]: coerce(SrParams, q.name, q.value)
                       for q in params if q.name in TEMPORAL_PARAMS}
        except ValueError as e:  # a float parameter set to a string or a bool
            return SetParametersResult(successful=False, reason=str(e))
        if not changes or getattr(self, "pipeline", None) is None:  # managed node, unconfigured: read at configure
            return SetParametersResult(successful=True)
        p = dataclasses.replace(self.p, **changes)
        try:
            temporal = build_temporal(pipeline_spec(p))
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.p = p
        self.pipeline.temporal = self.depth_only.temporal = temporal
        self.get_logger().info("temporal filter: " + (temporal.describe() if temporal else "off"))
        return SetParametersResult(successful=True)

    def stop(self) -> None:
        """Stop the worker, then the registration's background estimate and background compiles."""
        super().stop()
        close_pipelines(getattr(self, "pipeline", None), getattr(self, "depth_only", None))

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        status = self.stats.to_status(
            f"{self.get_name()}: depth refinement", self.get_fully_qualified_name(),
            self.pipeline.backend.describe(),
            ["rgb/image", "depth_lr/image", "rgb/camera_info", "depth_lr/camera_info"],
            self._stale_inputs(),
            {"mode": self._mode, "transports": f"rgb {self.p.rgb_transport}, depth {self.p.depth_transport}",
             "depth_only_backend": self.depth_only.backend.describe(),
             "refinement": self.pipeline.refiner.describe() if self.pipeline.refiner else "none",
             "registration": self.pipeline.registration.describe(),
             "temporal": self.pipeline.temporal.describe() if self.pipeline.temporal else "off"})
        self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), status))



def main(args: list[str] | None = None) -> int:
    """Console entry point: ``sr_node --ros-args --params-file config/sr.yaml``."""
    return run_node(SrNode, "sr_node", args)


if __name__ == "__main__":
    sys.exit(main())
