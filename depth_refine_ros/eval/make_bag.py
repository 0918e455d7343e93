"""``depth-refine make-bag``: an RGB-D folder or sequence -> a rosbag2 a driver could have recorded.

Per frame ``i`` (stamp ``t0 + i / rate``, the same stamp on all five topics, as an aligned-depth
driver stamps them): ``rgb/camera_info`` + ``rgb/image`` (rgb8), ``depth_lr/camera_info`` +
``depth_lr/image`` (the low-res depth: the dataset's real one with ``--degradation supplied``,
else made from the ground truth by a :mod:`~depth_refine_ros.core.degrade` model; ``16UC1`` mm,
0 = no data), and ``depth_gt/image`` (``32FC1`` m, NaN invalid). The receive time written to the
bag is the stamp + 5 ms (a driver's typical publish delay). Datasets without intrinsics get
``fx = fy = 0.9 * width`` and a centred principal point (said on stderr: RGB-D-D publishes none).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

FX_REL = 0.9
DRIVER_DELAY_NS = 5_000_000


def build_bag(frames, out: pathlib.Path, storage: str = "sqlite3", rate: float = 15.0, scale: int = 4,
              degradation: str = "bicubic", t0: float = 1_700_000_000.0, frame_id: str = "camera_color_optical_frame",
              depth_encoding: str = "16UC1", topics=None, progress=None) -> int:
    """Write ``frames`` (:class:`~depth_refine_ros.data.datasets.Frame`, metric) as a bag; returns frames written.

    Raises:
        BagError: the output exists, or a storage/encoding is unknown.
        ValueError: a frame in non-metric units, or ``supplied`` without a supplied input.
    """
    from depth_refine_ros.core.intrinsics import Intrinsics
    from depth_refine_ros.data.bags import BagError, BagWriter, Topics
    from depth_refine_ros.eval.eval_dataset import make_input
    from depth_refine_ros.ros import conversions as conv

    topics = topics or Topics()
    if depth_encoding not in ("16UC1", "32FC1"):
        raise BagError(f"depth encoding must be 16UC1 or 32FC1, got '{depth_encoding}'")
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
            bag.write(topics.rgb_info, conv.intrinsics_to_camera_info(intr, hdr), t)
            bag.write(topics.rgb, conv.array_to_image_msg(rgb, "rgb8", hdr), t)
            bag.write(topics.depth_info, conv.intrinsics_to_camera_info(intr.scaled_to(lr_w, lr_h), hdr), t)
            if depth_encoding == "16UC1":
                mm = np.where(np.isfinite(lr), np.clip(np.round(lr * 1000), 0, 65535), 0).astype(np.uint16)
                bag.write(topics.depth, conv.array_to_image_msg(mm, "16UC1", hdr), t)
            else:
                bag.write(topics.depth, conv.depth_to_msg(lr.astype(np.float32), hdr), t)
            bag.write(topics.gt, conv.depth_to_msg(gt.astype(np.float32), hdr), t)
            n += 1
            if progress:
                progress(i, len(frames))
    return n


def run(args: argparse.Namespace) -> int:
    from depth_refine_ros.data.bags import BagError
    from depth_refine_ros.data.datasets import DatasetError, load_dataset

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
                      args.start_time, args.frame_id, args.depth_encoding, progress=progress)
    except (DatasetError, BagError, ValueError, KeyError) as e:
        print(f"\nmake-bag: {e}", file=sys.stderr)
        return 2
    lowres = ("the dataset's own low-res depth" if args.degradation == "supplied"
              else f"{args.degradation} x{args.scale}")  # supplied depth has its own size; --scale unused
    print(f"\nmake-bag: wrote {n} frames to {args.out} ({args.storage}, {args.rate:g} Hz, {lowres})")
    return 0


def add_parser(sub) -> None:
    from depth_refine_ros.core.degrade import DEGRADATIONS

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
    p.set_defaults(func=run)
