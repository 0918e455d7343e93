"""mono_node: RGB -> depth from the monocular estimator, relative or metric.

Topics (relative names; remap them to your driver):
    in  ``rgb/image``, ``rgb/camera_info`` (for the cloud and the output camera_info),
        ``depth_lr/image`` (only with ``metric.mode: fit``: low-res or sparse depth registered
        to rgb, 16UC1 mm or 32FC1 m; zeros/NaN are simply not used)
    out ``depth_mono/image`` (32FC1; metres with ``fit``, relative units with ``relative``),
        ``depth_mono/camera_info``, ``depth_mono/points``, ``depth_mono/stats`` (RefineStats per
        frame), ``/diagnostics`` (fit residual, scale and shift per frame)
    ``rgb_transport: compressed`` / ``depth_transport: compressedDepth``: the image inputs as
    image_transport's CompressedImage topics (``<rgb/image>/compressed``, ``<depth_lr/image>/compressedDepth``).

With ``fit``, each frame's prediction is robustly fitted (Huber-reweighted least squares,
:class:`depth_refine_ros.pipeline.mono.MonoPipeline`) to the depth pixels, at the depth's own
resolution; frames without a depth message within ``metric.max_interval_s`` or with too few
valid pixels are rejected (counted, logged), never published in the wrong units.
"""
from __future__ import annotations

import sys
import time
from collections import deque

from sensor_msgs.msg import CameraInfo, Image

from depth_refine_ros.core.encodings import ImageFormatError
from depth_refine_ros.pipeline.factory import build_mono_pipeline, mono_spec_from_settings
from depth_refine_ros.pipeline.sr import InputError
from depth_refine_ros.ros import conversions as conv
from depth_refine_ros.ros.diagnostics import to_array
from depth_refine_ros.ros.node_base import RefineNode, run_node
from depth_refine_ros.ros.params import MonoParams, declare_and_read

CACHE = 30  # depth / camera_info messages kept for stamp matching


class MonoNode(RefineNode):
    """The monocular depth node (see the module docstring)."""

    stats_input = "rgb"  # RefineStats' input size: the RGB the network sees

    def __init__(self, **kwargs) -> None:
        super().__init__("mono_node", **kwargs)
        self.p: MonoParams = declare_and_read(self, MonoParams)
        p = self.p
        self.pipeline = build_mono_pipeline(mono_spec_from_settings(p, live=True))
        self.mono, self.refiner = self.pipeline.mono, self.pipeline.refiner
        self.fit = p.metric_mode == "fit"
        self._max_ns = int(p.metric_max_interval_s * 1e9)
        self.watched_inputs = ("rgb/image",) + (("depth_lr/image",) if self.fit else ())
        self._depths: deque = deque(maxlen=CACHE)
        self._infos: deque = deque(maxlen=CACHE)
        self._last_fit: dict[str, float] = {}
        self._pending = None  # rgb waiting for its depth partner (fit mode; at most one)
        self._subscribe_image("rgb/image", p.rgb_transport, self._on_rgb)
        self._subscribe("rgb/camera_info", CameraInfo, self._on_info)
        if self.fit:
            self._subscribe_image("depth_lr/image", p.depth_transport, self._on_depth)
        self._setup_outputs("depth_mono")
        self._start_worker()
        self.get_logger().info(f"mono_node ready: {self.mono.describe()}, output {p.metric_mode}, "
                               f"input {self._subs['rgb/image'].topic_name}, "
                               f"refinement {self.refiner.describe() if self.refiner else 'none'}")

    # ---------------------------------------------------------------- callbacks
    def _on_info(self, msg: CameraInfo) -> None:
        self.stats.arrived("rgb/camera_info")
        self._infos.append((conv.stamp_ns(msg.header), msg))

    def _on_depth(self, msg: Image) -> None:
        self.stats.arrived("depth_lr/image")
        stamp = conv.stamp_ns(msg.header)
        self._depths.append((stamp, msg))
        pend = self._pending
        if pend is not None and abs(conv.stamp_ns(pend.header) - stamp) <= self._max_ns:
            self._pending = None
            self._offer(pend)

    def _on_rgb(self, msg: Image) -> None:
        self.stats.arrived("rgb/image")
        if self.fit and self._nearest(self._depths, conv.stamp_ns(msg.header), self._max_ns) is None:
            # its depth may still be on the way: wait for it (one rgb at most; an older one goes to
            # the worker, which rejects it if its depth never came)
            if self._pending is not None:
                self._offer(self._pending)
            self._pending = msg
            return
        self._offer(msg)

    def _nearest(self, cache: deque, stamp: int, max_ns: int | None):
        best = min(list(cache), key=lambda sm: abs(sm[0] - stamp), default=None)
        if best is None or (max_ns is not None and abs(best[0] - stamp) > max_ns):
            return None
        return best[1]

    # ---------------------------------------------------------------- worker
    def _process(self, rgb_msg: Image) -> None:
        stamp = conv.stamp_ns(rgb_msg.header)
        t0 = time.perf_counter()
        try:
            rgb = conv.rgb_msg_to_array(rgb_msg)
        except ImageFormatError as e:
            return self._reject("rgb_" + e.reason, stamp, f"{self._subs['rgb/image'].topic_name}: {e}")
        depth_lr = None
        if self.fit:
            dmsg = self._nearest(self._depths, stamp, int(self.p.metric_max_interval_s * 1e9))
            if dmsg is None:
                return self._reject("no_depth_for_fit", stamp, "no depth_lr/image within "
                                    f"{self.p.metric_max_interval_s} s of the rgb stamp (metric.max_interval_s)")
            try:
                depth_lr = conv.depth_msg_to_metres(dmsg)
            except ImageFormatError as e:
                return self._reject("depth_" + e.reason, stamp, f"{self._subs['depth_lr/image'].topic_name}: {e}")
        t1 = time.perf_counter()
        info = self._nearest(self._infos, stamp, None)
        intr, problem = conv.camera_info_intrinsics(info, rgb.shape[:2]) if info is not None else (None, None)
        if problem:
            self._warn("bad_info", f"ignoring rgb camera_info: {problem}")
        try:
            res = self.pipeline.process(rgb, depth_lr, intr)
        except InputError as e:
            return self._reject(e.reason, stamp, str(e))
        if res.fit:
            self._last_fit = res.fit
            self.stats.record({"fit_residual_cm": res.fit["residual_m"] * 100})
        self._publish(res, rgb_msg.header, rgb, t0, t1, info, depth_lr=depth_lr)

    def _publish_diagnostics(self) -> None:
        extra = {"output": self.p.metric_mode,
                 "refinement": self.refiner.describe() if self.refiner else "none"}
        extra.update({f"fit {k}": f"{v:.4g}" for k, v in self._last_fit.items()})
        status = self.stats.to_status(
            f"{self.get_name()}: monocular depth", self.get_fully_qualified_name(), self.mono.describe(),
            ["rgb/image", "rgb/camera_info", "depth_lr/image"], self._stale_inputs(), extra)
        self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), status))


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``mono_node --ros-args --params-file config/mono.yaml -p model:=NAME``."""
    return run_node(MonoNode, "mono_node", args)


if __name__ == "__main__":
    sys.exit(main())
