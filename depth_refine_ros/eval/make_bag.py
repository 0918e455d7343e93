"""``depth-refine make-bag``: an RGB-D folder or sequence -> a rosbag2 a driver could have recorded.

Per frame ``i`` (stamp ``t0 + i / rate``, the same stamp on all five topics, as an aligned-depth
driver stamps them): ``rgb/camera_info`` + ``rgb/image`` (rgb8), ``depth_lr/camera_info`` +
``depth_lr/image`` (the low-res depth: the dataset's real one with ``--degradation supplied``,
else made from the ground truth by a :mod:`~depth_refine_ros.core.degrade` model; ``16UC1`` mm,
0 = no data), and ``depth_gt/image`` (``32FC1`` m, NaN invalid; left out with ``with_gt=False``: a bag as
a user's robot records it, e.g. for ``depth-refine-train adapt``). The receive time written to the
bag is the stamp + 5 ms (a driver's typical publish delay). Datasets without intrinsics get
``fx = fy = 0.9 * width`` and a centred principal point (said on stderr: RGB-D-D publishes none).

``transport="compressed"`` records the inputs as image_transport's compressed transports would:
``rgb/image/compressed`` (``sensor_msgs/CompressedImage``, ``rgb_format`` jpeg (quality 95) or png)
and ``depth_lr/image/compressedDepth`` (ConfigHeader + PNG, ``"16UC1; compressedDepth png"`` or
``"32FC1; compressedDepth png"``: :mod:`depth_refine_ros.data.compressed`, with the C++ publisher's
defaults, so 16UC1 depth beyond 10 m is dropped as there). The ground truth stays raw ``32FC1``.
"""
from __future__ import annotations

import pathlib

import numpy as np

FX_REL = 0.9
DRIVER_DELAY_NS = 5_000_000


def build_bag(frames, out: pathlib.Path, storage: str = "sqlite3", rate: float = 15.0, scale: int = 4,
              degradation: str = "bicubic", t0: float = 1_700_000_000.0, frame_id: str = "camera_color_optical_frame",
              depth_encoding: str = "16UC1", topics=None, progress=None, transport: str = "raw",
              rgb_format: str = "jpeg", with_gt: bool = True) -> int:
    """Write ``frames`` (:class:`~depth_refine_ros.data.datasets.Frame`, metric) as a bag; returns frames written.

    Raises:
        BagError: the output exists, or a storage/encoding/transport is unknown.
        ValueError: a frame in non-metric units, or ``supplied`` without a supplied input.
    """
    from depth_refine_ros.core.depth import metres_to_mm_u16
    from depth_refine_ros.core.intrinsics import Intrinsics
    from depth_refine_ros.data.bags import BagError, BagWriter, Topics, image_topic
    from depth_refine_ros.data.compressed import RGB_FORMATS
    from depth_refine_ros.eval.eval_dataset import make_input
    from depth_refine_ros.ros import conversions as conv

    topics = topics or Topics()
    if depth_encoding not in ("16UC1", "32FC1"):
        raise BagError(f"depth encoding must be 16UC1 or 32FC1, got '{depth_encoding}'")
    if transport not in ("raw", "compressed") or rgb_format not in RGB_FORMATS:
        raise BagError(f"transport must be raw or compressed and the RGB format one of {RGB_FORMATS}, "
                       f"got '{transport}', '{rgb_format}'")
    compressed = transport == "compressed"
    rgb_topic = image_topic(topics.rgb, "rgb", "compressed" if compressed else "raw")
    depth_topic = image_topic(topics.depth, "depth", "compressedDepth" if compressed else "raw")
    n = 0
    with BagWriter(out, storage) as bag:
        for i, f in enumerate(frames):
            if f.unit != "m":
                raise ValueError(f"{f.dataset}/{f.name}: depth is in '{f.unit}', not metres; a bag needs metric depth")
            made = make_input(f, degradation, 0 if degradation == "supplied" and "native" in f.lr else scale)
            if made is None:
                raise ValueError(f"{f.dataset}/{f.name}: no supplied low-res depth for x{scale}")
            rgb, lr, gt, _ = made
            h, w = gt.shape
            intr = f.intrinsics or Intrinsics(FX_REL * w, FX_REL * w, w / 2 - 0.5, h / 2 - 0.5, w, h)
            if intr.width != w or intr.height != h:
                intr = intr.scaled_to(w, h)
            st_ns = int(round(t0 * 1e9)) + int(round(i * 1e9 / rate))
            hdr = conv.header_at(0.0, frame_id)
            hdr.stamp.sec, hdr.stamp.nanosec = divmod(st_ns, 1_000_000_000)
            t = st_ns + DRIVER_DELAY_NS
            lr_h, lr_w = lr.shape
            bag.write_cdr(topics.rgb_info, *conv.to_cdr(conv.intrinsics_to_camera_info(intr, hdr)), t)
            rgb_msg = (conv.rgb_to_compressed_msg(np.ascontiguousarray(rgb), hdr, rgb_format) if compressed
                       else conv.array_to_image_msg(rgb, "rgb8", hdr))
            bag.write_cdr(rgb_topic, *conv.to_cdr(rgb_msg), t)
            info_lr = conv.intrinsics_to_camera_info(intr.scaled_to(lr_w, lr_h), hdr)
            bag.write_cdr(topics.depth_info, *conv.to_cdr(info_lr), t)
            depth = metres_to_mm_u16(lr) if depth_encoding == "16UC1" else lr.astype(np.float32)
            depth_msg = (conv.depth_to_compressed_msg(depth, depth_encoding, hdr) if compressed
                         else conv.array_to_image_msg(depth, depth_encoding, hdr))
            bag.write_cdr(depth_topic, *conv.to_cdr(depth_msg), t)
            if with_gt:
                bag.write_cdr(topics.gt, *conv.to_cdr(conv.depth_to_msg(gt.astype(np.float32), hdr)), t)
            n += 1
            if progress:
                progress(i, len(frames))
    return n
