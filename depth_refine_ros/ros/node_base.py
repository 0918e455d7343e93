"""What ``sr_node`` and ``mono_node`` share: throttled logs, rejection counting, the one-frame
slot + worker thread (latest-frame policy), output publishing, input watchdog and clean shutdown.

Threading: DDS callbacks only pair messages and :meth:`RefineNode._offer` the newest complete
frame to a one-frame slot; the worker thread calls the subclass's ``_process``. A frame still
waiting when a newer one arrives is dropped and counted (bounded memory, bounded latency).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
import traceback

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble: the same class in rclpy.qos_event (docs/nodes.md#ros-2-distributions)
    from rclpy.qos_event import SubscriptionEventCallbacks

from depth_refine_ros.backends import BackendError
from depth_refine_ros.ros import conversions as conv
from depth_refine_ros.ros import stats as refine_stats
from depth_refine_ros.ros import transports
from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
from depth_refine_ros.ros.diagnostics import InputWatch, NodeStats
from depth_refine_ros.ros.frame_out import FrameOutput, Publishers
from depth_refine_ros.ros.qos import INCOMPATIBLE_HINT, make_qos


class RefineNode(Node):
    """Base node. Subclasses set ``self.p`` (params with log_throttle_s, input_reliability, ...)
    before calling :meth:`_setup_io`, and implement ``_process(*frame)``.

    Args:
        name: node name.
    """

    #: inputs the watchdog warns about when silent (optional ones are left out)
    watched_inputs: tuple[str, ...] = ()
    #: what RefineStats' input size and scale refer to: the low-res depth (sr_node) or the RGB (mono_node)
    stats_input: str = "depth_lr"

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.stats = NodeStats()
        self.output = FrameOutput()  # depth, camera_info and cloud out (shared with depth-refine bench)
        self._last_cloud_ns: int | None = None  # stamp of the last cloud published (output.cloud_rate_hz)
        self._last_log: dict[str, float] = {}
        self._warned_once: set[str] = set()
        self._subs: dict[str, object] = {}
        self._slot = None
        self._cond = threading.Condition()
        self._running = True
        self._worker: threading.Thread | None = None
        self._t_start = time.monotonic()
        self._watch = InputWatch(self._t_start)

    # ---------------------------------------------------------------- set-up
    def _subscribe(self, key: str, mtype, callback, topic: str | None = None) -> None:
        """Subscribe to ``topic`` (default ``key``, a relative topic) with the input QoS and a
        QoS-mismatch warning; ``key`` names the input in diagnostics and logs."""
        p = self.p
        events = SubscriptionEventCallbacks(incompatible_qos=lambda info, t=key: self._on_incompatible(t, info))
        self._subs[key] = self.create_subscription(mtype, topic or key, callback,
                                                   make_qos(p.input_reliability, p.input_depth),
                                                   event_callbacks=events)

    def _subscribe_image(self, key: str, transport: str, callback) -> None:
        """Subscribe to image input ``key`` through an image_transport ``transport`` (``raw``,
        ``compressed``, ``compressedDepth``: topic and type from :mod:`depth_refine_ros.ros.transports`)."""
        mtype, topic = transports.subscription(self, key, transport)
        self._subscribe(key, mtype, callback, topic)

    def _setup_outputs(self, prefix: str) -> None:
        """Publishers ``<prefix>/image``, ``/camera_info``, ``/points`` (unless cloud none), /diagnostics."""
        p = self.p
        qout = make_qos(p.output_reliability, p.output_depth)
        self.pub_depth = self.create_publisher(Image, f"{prefix}/image", qout)
        self.pub_info = self.create_publisher(CameraInfo, f"{prefix}/camera_info", qout)
        self.pub_points = None if p.cloud_type == "none" else self.create_publisher(PointCloud2, f"{prefix}/points",
                                                                                    qout)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # per-frame RefineStats (reliable, depth 10); none where the message was never generated, or
        # its type support does not load (generated for another Python or venv): the node runs on
        self.pub_stats, error = None, refine_stats.IMPORT_ERROR
        if refine_stats.RefineStats is not None:
            try:
                self.pub_stats = self.create_publisher(refine_stats.RefineStats, f"{prefix}/stats", 10)
            except Exception as e:  # rclpy raises several kinds for a type support it cannot load
                error = f"{type(e).__name__}: {e}"
        if self.pub_stats is None:
            self.get_logger().warning(refine_stats.MISSING.format(topic=f"{prefix}/stats", error=error))
        self._stats_ids: dict[int, tuple[str, str, str, str]] = {}
        self._timers = [self.create_timer(p.diagnostics_period_s, self._publish_diagnostics),
                        self.create_timer(1.0, self._watch_inputs)]

    def _start_worker(self) -> None:
        with self._cond:  # (re)start: the managed node stops the worker on deactivate
            self._running, self._slot = True, None
        self._t_start = time.monotonic()
        self._watch = InputWatch(self._t_start)
        self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}_worker", daemon=True)
        self._worker.start()

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

    def _on_incompatible(self, topic: str, info) -> None:
        self.stats.count("qos_incompatible_events")
        self._warn("qos:" + topic, INCOMPATIBLE_HINT.format(
            topic=topic, policy=getattr(info, "last_policy_kind", "?"), mine=self.p.input_reliability))

    # ---------------------------------------------------------------- worker
    def _offer(self, *frame) -> None:
        """Put a frame in the one-frame slot (latest-frame policy: a waiting one is dropped)."""
        with self._cond:
            if self._slot is not None:
                self.stats.drop("superseded")
            self._slot = frame
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and self._running:
                    self._cond.wait(0.5)
                if not self._running:
                    return
                frame, self._slot = self._slot, None
            try:
                self._process(*frame)
            except Exception as e:  # never let one frame kill the node
                header = getattr(frame[-1], "header", None)
                self._reject("internal_error", conv.stamp_ns(header) if header else None,
                             f"{type(e).__name__}: {e}")
                self.get_logger().debug(traceback.format_exc())

    def _process(self, *frame) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- outputs
    def _publish(self, res, header, rgb, t0: float, t1: float, info_msg, depth_lr=None) -> None:
        """Publish depth, camera_info and (when subscribed) the cloud and RefineStats of one refined frame.

        Args:
            res: :class:`depth_refine_ros.pipeline.Result` (depth, intrinsics, timings).
            header: the input header every output copies (stamp and frame_id).
            rgb: ``(H, W, 3) uint8`` for xyzrgb clouds, or None (the cloud is then xyz).
            t0, t1: perf_counter at the start and after decoding (for stage timings).
            info_msg: camera_info to copy distortion from, or None.
            depth_lr: ``(h, w)`` metres the frame was refined from (or fitted to), for RefineStats'
                low-res residual; None: no residual.
        """
        t2 = time.perf_counter()
        p = self.p

        def cloud_due() -> bool:
            # Lazy: a 640x480 xyzrgb cloud is ~10 MB; building and publishing it costs more than
            # the rest of the frame, so it is only made when someone subscribes (and, with
            # output.cloud_rate_hz, when it is due; output.cloud_stride thins it).
            return self.pub_points.get_subscription_count() > 0 and self._cloud_due(header)

        out = self.output.publish(Publishers(self.pub_depth, self.pub_info, self.pub_points), res.depth,
                                  res.intrinsics, header, rgb, info_msg, cloud_due=cloud_due,
                                  stride=p.cloud_stride, cloud_type=p.cloud_type, layout=p.cloud_layout)
        # RefineStats lists the stages in this order: decode, pipeline, encode, publish_depth, the
        # pipeline's own, then cloud and publish_cloud when a cloud went out
        timings = {"decode": (t1 - t0) * 1e3, "pipeline": (t2 - t1) * 1e3,
                   "encode": out.pop("encode"), "publish_depth": out.pop("publish_depth")}
        timings.update(res.timings_ms)  # the pipeline's stages (and a network's own)
        timings.update(out)
        if res.intrinsics is None:
            self.stats.count("without_camera_info")
            self._warn("no_info", "no usable camera_info: publishing depth only (no camera_info, no cloud)")
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self.stats.record(timings)
        self.stats.count("published")
        # Lazy too (~2-3 ms for 640x480 on a loaded CPU, mostly the residual): only while subscribed.
        if self.pub_stats is not None and self.pub_stats.get_subscription_count() > 0:
            self.pub_stats.publish(self._stats_msg(res, header, rgb, depth_lr, timings))

    def _stats_msg(self, res, header, rgb, depth_lr, timings: dict[str, float]):
        """The RefineStats of a frame that :meth:`_publish` has just published."""
        # sr_node refines a frame without RGB with its depth-only pipeline
        pipeline = self.depth_only if rgb is None else self.pipeline
        ident = self._stats_ids.get(id(pipeline))
        if ident is None:
            ident = self._stats_ids[id(pipeline)] = refine_stats.describe_pipeline(pipeline)
        source = depth_lr if self.stats_input == "depth_lr" else rgb
        return refine_stats.build(header, ident, "depth_only" if rgb is None else "rgb", res.depth,
                                  source.shape[:2] if source is not None else res.depth.shape, depth_lr,
                                  res.shift_px, timings, self.stats.totals())

    def _cloud_due(self, header) -> bool:
        """Whether this frame's cloud goes out under ``output.cloud_rate_hz`` (0: every frame).

        Decided on the frames' stamps, not the wall clock, so a bag replays the same way: a cloud is
        due once ``1 / rate`` has passed since the last one's stamp, less a tolerance of 10 % of the
        period (at most 5 ms) for stamp jitter, so 30 Hz input at 15 Hz gives every second frame,
        not every third. A stamp behind the last cloud's (bag loop, clock reset) starts over.
        """
        rate = self.p.cloud_rate_hz
        if rate <= 0:
            return True
        stamp = conv.stamp_ns(header)
        period = 1e9 / rate
        last = self._last_cloud_ns
        if last is not None and 0 <= stamp - last < period - min(0.1 * period, 5e6):
            self.stats.count("clouds_skipped_rate")
            return False
        self._last_cloud_ns = stamp
        return True

    # ---------------------------------------------------------------- timers
    def _stale_inputs(self) -> list[str]:
        now = time.monotonic()
        last = self.stats.last_arrival
        return [t for t in self.watched_inputs
                if last.get(t) is None or now - last[t] > self.p.silent_input_warn_s]

    def _watch_inputs(self) -> None:
        """The 1 s watchdog: warn about inputs without a publisher or without messages
        (:class:`~depth_refine_ros.ros.diagnostics.InputWatch`: once per change, at most once a minute)."""
        inputs = {}
        for topic in self.watched_inputs:
            sub = self._subs.get(topic)
            if sub is not None:
                inputs[sub.topic_name] = (self.count_publishers(sub.topic_name) > 0,
                                          self.stats.last_arrival.get(topic))
        for line in self._watch.check(time.monotonic(), self.p.silent_input_warn_s, inputs):
            self.get_logger().warning(line)

    def _publish_diagnostics(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the worker thread (call before destroy_node)."""
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._worker is not None:
            self._worker.join(timeout=5.0)


def spin_until_finished(node, grace_s: float = 0.5) -> None:
    """Spin ``node`` until its ``finished`` is set (a managed node's shutdown transition), then a little
    longer so the reply to that transition's service call goes out before the process exits."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while rclpy.ok() and not node.finished:
        executor.spin_once(timeout_sec=0.2)
    end = time.monotonic() + grace_s
    while rclpy.ok() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    executor.remove_node(node)


def run_node(factory, prog: str, args: list[str] | None = None) -> int:
    """Console entry point body: init, spin until Ctrl-C, clean shutdown; start errors -> exit 1."""
    use_packaged_fastdds_profile()
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        try:
            node = factory()
        except (BackendError, ValueError) as e:
            print(f"{prog}: cannot start: {e}", file=sys.stderr)
            code = 1
        else:
            try:
                if hasattr(node, "finished"):  # a managed node: until its shutdown transition
                    spin_until_finished(node)
                else:
                    rclpy.spin(node)
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
            except Exception:
                # rclpy race (seen in CI on a loaded machine): a SIGINT whose handler shuts the
                # context down between two executor iterations surfaces as RCLError "the given
                # context is not valid" instead of ExternalShutdownException. That is a clean stop;
                # anything raised while the context is still valid is a real error.
                if rclpy.ok():
                    raise
    except KeyboardInterrupt:  # Ctrl-C while the node was still being built
        pass
    finally:
        # A second Ctrl-C (ros2 launch signals the process and its group) must not interrupt
        # the clean-up and print a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
