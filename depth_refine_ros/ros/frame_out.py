"""The output path of one refined frame: encode the depth, publish depth and camera_info, then build
and publish the cloud, each stage timed.

One code path for the nodes (:meth:`depth_refine_ros.ros.node_base.RefineNode._publish`) and for
``depth-refine bench`` (:func:`depth_refine_ros.cli.bench.bench_stages`), so the benchmark measures
what the node runs. The callers keep their own decisions around it: the node asks for a cloud only
when one is subscribed and due (``output.cloud_rate_hz``), counts stats and sends RefineStats; the
benchmark always asks for one.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from depth_refine_ros.core.cloud import CloudBuilder, point_floats
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.ros import conversions as conv


class Publishers(NamedTuple):
    """The three output publishers: ``Image`` depth, ``CameraInfo``, ``PointCloud2`` (None: no cloud)."""

    depth: object
    info: object
    points: object | None


class FrameOutput:
    """Publishes refined frames; owns the cloud builder and the reused cloud buffer (one per output stream).

    Not thread-safe: one caller (the node's worker thread) at a time.
    """

    def __init__(self) -> None:
        self.clouds = CloudBuilder()
        self.cloud_buf = conv.CloudBuffer()

    def publish(self, pubs: Publishers, depth: np.ndarray, intrinsics: Intrinsics | None, header, rgb,
                info_msg=None, *, cloud_due: Callable[[], bool] = lambda: True, stride: int = 1,
                cloud_type: str = "xyzrgb", layout: str = "packed") -> dict[str, float]:
        """Encode and publish one frame: depth, then camera_info, then (when due) the cloud.

        Args:
            pubs: where the frame goes.
            depth: ``(H, W) float32`` metres, NaN invalid.
            intrinsics: of ``depth`` (output size); None: depth only (no camera_info, no cloud).
            header: the input header every output copies (stamp and frame_id).
            rgb: ``(H, W, 3) uint8`` for xyzrgb clouds, or None (the cloud is then xyz).
            info_msg: camera_info to copy distortion and R from, or None.
            cloud_due: asked once camera_info is out (and only with a points publisher): whether this
                frame's cloud is built. The node's laziness (subscribed, due under cloud_rate_hz);
                may count (the node's ``clouds_skipped_rate``), so it is asked at most once.
            stride: keep every ``stride``-th pixel in both directions for the cloud.
            cloud_type: ``xyzrgb`` or ``xyz`` (``xyzrgb`` without ``rgb`` gives ``xyz``).
            layout: the cloud's point layout, ``pcl`` or ``packed`` (:mod:`depth_refine_ros.core.cloud`).

        Returns:
            Stage -> milliseconds, in this order: ``encode``, ``publish_depth`` (the depth alone;
            camera_info goes out after it, untimed), then ``cloud`` (buffer + PointCloud2) and
            ``publish_cloud`` when a cloud went out.
        """
        t0 = time.perf_counter()
        out = conv.depth_to_msg(depth, header)
        t1 = time.perf_counter()
        pubs.depth.publish(out)
        t2 = time.perf_counter()
        timings = {"encode": (t1 - t0) * 1e3, "publish_depth": (t2 - t1) * 1e3}
        if intrinsics is None:
            return timings
        pubs.info.publish(conv.intrinsics_to_camera_info(intrinsics, header, info_msg))
        if pubs.points is None or not cloud_due():
            return timings
        t3 = time.perf_counter()
        h, w = -(-depth.shape[0] // stride), -(-depth.shape[1] // stride)
        colour = rgb if cloud_type == "xyzrgb" else None
        # without RGB (depth-only mode) the cloud is xyz: no colour to give it
        kind = "xyz" if colour is None else "xyzrgb"
        self.clouds.build(depth, intrinsics, colour, stride=stride, layout=layout,
                          out=self.cloud_buf.view(h, w, point_floats(kind, layout)))
        cloud = conv.cloud_to_msg(self.cloud_buf, header, kind, layout)
        t4 = time.perf_counter()
        pubs.points.publish(cloud)
        timings["cloud"] = (t4 - t3) * 1e3
        timings["publish_cloud"] = (time.perf_counter() - t4) * 1e3
        return timings
