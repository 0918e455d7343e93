"""sr_node: RGB + low-res depth (+ camera_info) -> refined depth, camera_info and point cloud.

Topics (relative names; remap them to your driver):
    in  ``rgb/image`` (rgb8/bgr8/rgba8/bgra8/mono8), ``rgb/camera_info`` (optional),
        ``depth_lr/image`` (16UC1/mono16 mm or 32FC1 m, registered to rgb),
        ``depth_lr/camera_info``
    out ``depth_refined/image`` (32FC1 m, NaN invalid, rgb resolution),
        ``depth_refined/camera_info``, ``depth_refined/points`` (organized PointCloud2),
        ``/diagnostics``

Threading: DDS callbacks only pair messages (cheap) and put the newest complete set in a
one-frame slot; a worker thread decodes, refines and publishes. A set still waiting when a newer
one arrives is dropped and counted (latest-frame policy: bounded memory, bounded latency).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections import deque

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_refine_ros.backends import BackendError, create_backend
from depth_refine_ros.core.cloud import CloudBuilder
from depth_refine_ros.core.encodings import ImageFormatError
from depth_refine_ros.pipeline import InputError, Pipeline, PipelineConfig
from depth_refine_ros.ros import conversions as conv
from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
from depth_refine_ros.ros.diagnostics import NodeStats, to_array
from depth_refine_ros.ros.params import SrParams, declare_and_read
from depth_refine_ros.ros.qos import INCOMPATIBLE_HINT, SILENT_HINT, make_qos
from depth_refine_ros.ros.sync import ApproximateTimeSync, ExactTimeSync

RGB, DEPTH = 0, 1
INFO_CACHE = 30  # camera_info messages kept per stream for stamp matching


class SrNode(Node):
    """The depth super-resolution node (see the module docstring for topics)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sr_node", **kwargs)
        self.p: SrParams = declare_and_read(self)
        p = self.p
        options = {"method": p.classical_method} if p.backend == "classical" else {}
        backend = create_backend(p.backend, **options)
        self.pipeline = Pipeline(backend, PipelineConfig(min_depth_m=p.min_depth_m,
                                                         max_depth_m=p.max_depth_m))
        backend.warmup()
        self.stats = NodeStats()
        self.clouds = CloudBuilder()
        self.cloud_buf = conv.CloudBuffer()
        self._last_log: dict[str, float] = {}
        self._warned_once: set[str] = set()

        if p.sync_mode == "exact":
            self.sync = ExactTimeSync(2, p.sync_queue_size)
        else:
            lb = None if p.sync_lower_bound_s < 0 else int(p.sync_lower_bound_s * 1e9)
            self.sync = ApproximateTimeSync(2, p.sync_queue_size, int(p.sync_max_interval_s * 1e9),
                                            [lb, lb])
        self._infos: dict[str, deque] = {"rgb": deque(maxlen=INFO_CACHE),
                                         "depth": deque(maxlen=INFO_CACHE)}
        self._last_set_ns: int | None = None

        qin = make_qos(p.input_reliability, p.input_depth)
        qout = make_qos(p.output_reliability, p.output_depth)
        self._subs = {}
        for key, mtype, topic, cb in (
                ("rgb/image", Image, "rgb/image", lambda m: self._on_image(RGB, "rgb/image", m)),
                ("depth_lr/image", Image, "depth_lr/image",
                 lambda m: self._on_image(DEPTH, "depth_lr/image", m)),
                ("rgb/camera_info", CameraInfo, "rgb/camera_info",
                 lambda m: self._on_info("rgb", "rgb/camera_info", m)),
                ("depth_lr/camera_info", CameraInfo, "depth_lr/camera_info",
                 lambda m: self._on_info("depth", "depth_lr/camera_info", m))):
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda info, t=topic: self._on_incompatible(t, info))
            self._subs[key] = self.create_subscription(mtype, topic, cb, qin,
                                                       event_callbacks=events)
        self.pub_depth = self.create_publisher(Image, "depth_refined/image", qout)
        self.pub_info = self.create_publisher(CameraInfo, "depth_refined/camera_info", qout)
        self.pub_points = (None if p.cloud_type == "none"
                           else self.create_publisher(PointCloud2, "depth_refined/points", qout))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(p.diagnostics_period_s, self._publish_diagnostics)
        self.create_timer(1.0, self._watch_inputs)
        self._t_start = time.monotonic()

        self._slot = None
        self._cond = threading.Condition()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="sr_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"sr_node ready: backend {backend.describe()}, inputs {p.input_reliability}, "
            f"sync {p.sync_mode} (max interval {p.sync_max_interval_s} s), cloud {p.cloud_type}")

    # ---------------------------------------------------------------- logging helpers
    def _warn(self, key: str, text: str) -> None:
        """Log ``text`` at most once per ``log_throttle_s`` for each ``key``."""
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= self.p.log_throttle_s:
            self._last_log[key] = now
            self.get_logger().warning(text)

    def _reject(self, reason: str, stamp_ns: int | None, text: str) -> None:
        self.stats.reject(reason)
        when = f" (stamp {stamp_ns / 1e9:.3f})" if stamp_ns is not None else ""
        self._warn("reject:" + reason, f"rejected frame{when}: {reason}: {text}")

    # ---------------------------------------------------------------- callbacks (executor thread)
    def _on_info(self, which: str, topic: str, msg: CameraInfo) -> None:
        self.stats.arrived(topic)
        self._infos[which].append((conv.stamp_ns(msg.header), msg))

    def _on_incompatible(self, topic: str, info) -> None:
        self.stats.count("qos_incompatible_events")
        self._warn("qos:" + topic, INCOMPATIBLE_HINT.format(
            topic=topic, policy=getattr(info, "last_policy_kind", "?"),
            mine=self.p.input_reliability))

    def _on_image(self, stream: int, topic: str, msg: Image) -> None:
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
            with self._cond:
                if self._slot is not None:
                    self.stats.drop("superseded")  # latest-frame policy
                self._slot = (s[RGB][1], s[DEPTH][1])
                self._cond.notify()

    # ---------------------------------------------------------------- worker thread
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and self._running:
                    self._cond.wait(0.5)
                if not self._running:
                    return
                rgb_msg, depth_msg = self._slot
                self._slot = None
            try:
                self._process(rgb_msg, depth_msg)
            except Exception as e:  # never let one frame kill the node
                self._reject("internal_error", conv.stamp_ns(depth_msg.header),
                             f"{type(e).__name__}: {e}")
                self.get_logger().debug(traceback.format_exc())

    def _intrinsics(self, stamp: int, rgb_hw, depth_hw):
        """Intrinsics (any size) and the camera_info to copy distortion from, or (None, None)."""
        order = ("rgb", "depth") if self.p.use_rgb_camera_info else ("depth",)
        for which in order:
            cache = list(self._infos[which])
            if not cache:
                continue
            msg = next((m for s, m in reversed(cache) if s == stamp), cache[-1][1])
            intr = conv.camera_info_to_intrinsics(msg, rgb_hw if which == "rgb" else depth_hw)
            if intr is None:
                self._warn("bad_info:" + which, f"ignoring {which} camera_info with unusable K "
                                                f"(fx={msg.k[0]}, fy={msg.k[4]})")
                continue
            return intr, msg
        return None, None

    def _process(self, rgb_msg: Image, depth_msg: Image) -> None:
        stamp = conv.stamp_ns(depth_msg.header)
        t0 = time.perf_counter()
        try:
            depth = conv.depth_msg_to_metres(depth_msg)
        except ImageFormatError as e:
            return self._reject("depth_" + e.reason, stamp, f"depth_lr/image: {e}")
        try:
            rgb = conv.rgb_msg_to_array(rgb_msg)
        except ImageFormatError as e:
            return self._reject("rgb_" + e.reason, stamp, f"rgb/image: {e}")
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
        t2 = time.perf_counter()
        header = depth_msg.header
        out = conv.depth_to_msg(res.depth, header)
        t3 = time.perf_counter()
        self.pub_depth.publish(out)
        t4 = time.perf_counter()
        timings = {"decode": (t1 - t0) * 1e3, "refine": (t2 - t1) * 1e3,
                   "encode": (t3 - t2) * 1e3, "publish_depth": (t4 - t3) * 1e3}
        if res.intrinsics is None:
            self.stats.count("without_camera_info")
            self._warn("no_info", "no usable camera_info on depth_lr/camera_info or "
                                  "rgb/camera_info: publishing depth only (no camera_info, no cloud)")
        else:
            self.pub_info.publish(conv.intrinsics_to_camera_info(res.intrinsics, header, info_msg))
            # Lazy: a 640x480 xyzrgb cloud is ~10 MB; building and publishing it costs more than
            # the rest of the frame, so it is only made when someone subscribes.
            if self.pub_points is not None and self.pub_points.get_subscription_count() > 0:
                t5 = time.perf_counter()
                h, w = res.depth.shape
                colour = rgb if self.p.cloud_type == "xyzrgb" else None
                self.clouds.build(res.depth, res.intrinsics, colour,
                                  out=self.cloud_buf.view(h, w, 4 if colour is None else 8))
                cloud = conv.cloud_to_msg(self.cloud_buf, header, self.p.cloud_type)
                t6 = time.perf_counter()
                self.pub_points.publish(cloud)
                timings["cloud"] = (t6 - t5) * 1e3
                timings["publish_cloud"] = (time.perf_counter() - t6) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self.stats.record(timings)
        self.stats.count("published")

    # ---------------------------------------------------------------- timers
    def _stale_inputs(self) -> list[str]:
        now = time.monotonic()
        stale = []
        for topic in ("rgb/image", "depth_lr/image"):
            last = self.stats.last_arrival.get(topic)
            if last is None or now - last > self.p.silent_input_warn_s:
                stale.append(topic)
        return stale

    def _watch_inputs(self) -> None:
        now = time.monotonic()
        if now - self._t_start < self.p.silent_input_warn_s:
            return
        for topic, sub in self._subs.items():
            if topic == "rgb/camera_info":
                continue  # optional input
            last = self.stats.last_arrival.get(topic)
            silent = now - (last if last is not None else self._t_start)
            if silent < self.p.silent_input_warn_s:
                continue
            if self.count_publishers(sub.topic_name) > 0:
                self._warn("silent:" + topic, SILENT_HINT.format(topic=sub.topic_name, secs=silent))
            else:
                self._warn("nopub:" + topic, f"no publisher on {sub.topic_name} for {silent:.0f} s: "
                                             "check the remappings to your driver's topics")

    def _publish_diagnostics(self) -> None:
        status = self.stats.to_status(
            f"{self.get_name()}: depth refinement", self.get_fully_qualified_name(),
            self.pipeline.backend.describe(),
            ["rgb/image", "depth_lr/image", "rgb/camera_info", "depth_lr/camera_info"],
            self._stale_inputs())
        self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), status))

    def stop(self) -> None:
        """Stop the worker thread (call before destroy_node)."""
        with self._cond:
            self._running = False
            self._cond.notify()
        self._worker.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``sr_node --ros-args --params-file config/sr.yaml``."""
    use_packaged_fastdds_profile()
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = SrNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (BackendError, ValueError) as e:
        print(f"sr_node: cannot start: {e}", file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C (ros2 launch signals the process and its group) must not interrupt
        # the clean-up and print a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
