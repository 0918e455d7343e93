"""Datasets: RGB-D frames on disk or in a rosbag -> training samples made exactly as the runtime
prepares input.

Folders of every layout :mod:`depth_refine_ros.data.datasets` reads (RGB-D-D, Middlebury, the
DCTNet sets, 7-Scenes, the generic ``rgb/`` + ``depth/`` [+ ``depth_lr/``, ``intrinsics.txt``]),
and rosbag2 directories (sqlite3 or MCAP: RGB on ``rgb/image``, the training target on
``depth_gt/image``, else ``depth_lr/image`` when it has the RGB's size; see :func:`bag_frames`).
Splits go by capture day/group, never by random frame, so no scene is on both sides; a bag is one
group named after its directory.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from depth_refine_ros.core import net_input
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.upsample import fill_invalid


@dataclass
class Frame:
    """One decoded RGB-D frame: ``rgb (H, W, 3) uint8``, ``depth (H, W) float32`` metres (NaN invalid)."""

    name: str
    group: str
    rgb: np.ndarray
    depth: np.ndarray


def is_bag(root: pathlib.Path) -> bool:
    """A rosbag2 directory (``metadata.yaml`` beside a ``.db3``/``.mcap``)."""
    return (root / "metadata.yaml").is_file()


def bag_frames(root: pathlib.Path) -> list[Frame]:
    """Frames of a bag: RGB + the ground-truth depth (``depth_gt/image``), else the depth topic
    when it is full-size (a robot's own aligned depth, degraded synthetically in training).

    Raises:
        ValueError: no usable depth target (the message says which topics were found).
    """
    from depth_refine_ros.data.bags import decode, read_bag

    frames = []
    decoded, _ = decode(read_bag(root))
    for f in decoded:
        target = f.gt if f.gt is not None else f.depth_lr
        if target.shape != f.rgb.shape[:2]:
            raise ValueError(f"{root}: no depth_gt/image and depth_lr/image is {target.shape[1]}x{target.shape[0]}, "
                             f"not the RGB's {f.rgb.shape[1]}x{f.rgb.shape[0]}: nothing full-size to train towards")
        frames.append(Frame(str(f.stamp_ns), root.name, f.rgb, target))
    return frames


def load_frames(root: str | pathlib.Path, groups: set[str] | None = None, exclude: set[str] | None = None,
                limit: int | None = None) -> list[Frame]:
    """Decode the frames of a dataset folder or bag, optionally only/without some capture groups.

    Depth in disparity levels (the 8-bit benchmark sets) is brought to the pipeline's pseudo-metres.
    """
    from depth_refine_ros.data.datasets import load_dataset

    root = pathlib.Path(root)
    if is_bag(root):
        frames = [f for f in bag_frames(root)
                  if (groups is None or f.group in groups) and not (exclude and f.group in exclude)]
        frames = frames[:limit] if limit else frames
    else:
        frames = [Frame(f.name, f.group, f.rgb, f.depth * np.float32(f.to_metres))
                  for f in load_dataset(root, groups, exclude, limit)]
    if not frames:
        raise ValueError(f"{root}: no frames (groups={groups}, exclude={exclude})")
    return frames


def shrink(frame: Frame, factor: int) -> Frame:
    """``frame`` at 1/``factor`` of its size: RGB by area averaging, depth by the mean of each block's
    valid pixels (a block with none stays NaN). Large references (Middlebury 2005, 1376 px wide) then
    show edges at the scale of a VGA sensor's."""
    if factor <= 1:
        return frame
    h, w = (frame.depth.shape[0] // factor) * factor, (frame.depth.shape[1] // factor) * factor
    rgb = cv2.resize(frame.rgb[:h, :w], (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    blocks = frame.depth[:h, :w].reshape(h // factor, factor, w // factor, factor)
    valid = np.isfinite(blocks)
    n = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0).sum(axis=(1, 3))
    depth = np.where(n > 0, total / np.maximum(n, 1), np.nan).astype(np.float32)
    return Frame(frame.name, frame.group, rgb, depth)


def load_sources(data: str, exclude: set[str], extra: list[dict], data_weight: float = 1.0
                 ) -> tuple[list[Frame], np.ndarray | None]:
    """Training frames of the main set (without the held-out ``exclude`` groups) and of extra sources.

    Args:
        data: the main dataset (any layout :func:`load_frames` reads).
        exclude: its held-out groups.
        extra: one mapping per extra source: ``path`` (required), ``weight`` (share of the samples,
            relative to ``data_weight``; default 1), ``downscale`` (integer shrink, default 1),
            ``max_depth_m`` (reference depth beyond this is treated as a hole, e.g. a sensor's far
            outliers; default none).
        data_weight: the main set's share.

    Returns:
        The frames, and per-frame sampling probabilities (each source's share split evenly over its
        frames); None when there is no extra source, so a recipe without one draws exactly as before.

    Raises:
        ValueError: an extra source without ``path``, with unknown keys, or a weight <= 0.
    """
    frames = load_frames(data, exclude=exclude)
    if not extra:
        return frames, None
    shares = [np.full(len(frames), data_weight / len(frames))]
    for src in extra:
        unknown = set(src) - {"path", "weight", "downscale", "max_depth_m"}
        if "path" not in src or unknown:
            raise ValueError(f"extra_data entry {src}: needs 'path'; allowed keys path, weight, downscale, "
                             f"max_depth_m (unknown: {sorted(unknown)})")
        weight = float(src.get("weight", 1.0))
        if weight <= 0:
            raise ValueError(f"extra_data {src['path']}: weight must be > 0, not {weight}")
        got = [shrink(f, int(src.get("downscale", 1))) for f in load_frames(src["path"])]
        if src.get("max_depth_m"):
            limit = float(src["max_depth_m"])
            got = [Frame(f.name, f.group, f.rgb, np.where(f.depth <= limit, f.depth, np.nan).astype(np.float32))
                   for f in got]
        frames += got
        shares.append(np.full(len(got), weight / len(got)))
    p = np.concatenate(shares)
    return frames, p / p.sum()


def augment(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip, brightness +-0.2 and contrast x[0.8, 1.2] on the RGB (docs/architecture.md, METHODS 2)."""
    if rng.random() < 0.5:
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
    x = rgb.astype(np.float32) / 255
    x = (x - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.uniform(-0.2, 0.2)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), np.ascontiguousarray(depth)


class SRPatches(torch.utils.data.Dataset):
    """Random crops -> (degraded, runtime-prepared input, normalised ground truth).

    ``weights`` (optional, per frame, summing to 1) sets how often each frame is drawn
    (:func:`load_sources`). Each item: ``depth (1, P, P)``, ``rgb (3, P, P)``, ``gt (1, P, P)`` (same per-frame scale as
    the input; NaN -> 0), ``mask (1, P, P)`` valid ground truth. The input goes through
    :func:`depth_refine_ros.core.net_input.sr_inputs`, the function the runtime uses. With ``with_lr``
    (a net with a projection gate), also the low-res depth in the input's units, holes filled,
    zero-padded to ``(1, P // min(scales), same)``, where it is a sample, and its ``(h, w)``.
    """

    def __init__(self, frames: list[Frame], patch: int, scales: list[int], degradations: list[str],
                 length: int, seed: int = 0, weights: np.ndarray | None = None, with_lr: bool = False) -> None:
        self.frames, self.patch, self.scales, self.degs = frames, patch, scales, degradations
        self.length, self.seed, self.weights, self.with_lr = length, seed, weights, with_lr

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        # without weights, one integer draw: the item stream of every recipe before extra sources
        f = self.frames[rng.integers(len(self.frames)) if self.weights is None
                        else rng.choice(len(self.frames), p=self.weights)]
        p = self.patch
        y = rng.integers(0, f.depth.shape[0] - p + 1)
        x = rng.integers(0, f.depth.shape[1] - p + 1)
        rgb, gt = augment(f.rgb[y:y + p, x:x + p], f.depth[y:y + p, x:x + p], rng)
        s = int(rng.choice(self.scales))
        lr = degrade(str(rng.choice(self.degs)), gt, s, seed=int(rng.integers(1 << 31)), rgb=rgb)
        if not np.isfinite(lr).any():
            lr = degrade("bicubic", gt, s)
        feeds, scale, _ = net_input.sr_inputs(lr, rgb, (p, p), 1, True)
        mask = np.isfinite(gt)
        item = (torch.from_numpy(feeds["depth"][0]), torch.from_numpy(feeds["rgb"][0]),
                torch.from_numpy(np.where(mask, gt / scale, 0).astype(np.float32)[None]),
                torch.from_numpy(mask[None]))
        if not self.with_lr:
            return item
        n = p // min(self.scales)
        filled, valid = fill_invalid(lr)
        lr_pad, valid_pad = np.zeros((1, n, n), np.float32), np.zeros((1, n, n), bool)
        lr_pad[0, :lr.shape[0], :lr.shape[1]] = filled / scale
        valid_pad[0, :lr.shape[0], :lr.shape[1]] = valid
        return (*item, torch.from_numpy(lr_pad), torch.from_numpy(valid_pad), torch.tensor(lr.shape))


class MonoCrops(torch.utils.data.Dataset):
    """Random crops resized to the monocular net's input: ``rgb (3, h, w)``, ``gt (1, h/2, w/2)`` m, mask."""

    def __init__(self, frames: list[Frame], input_hw: tuple[int, int], length: int, seed: int = 0) -> None:
        self.frames, self.hw, self.length, self.seed = frames, input_hw, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        f = self.frames[rng.integers(len(self.frames))]
        H, W = f.depth.shape
        c = rng.uniform(0.7, 1.0)
        ch, cw = int(H * c), int(W * c)
        y, x = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
        rgb, gt = augment(f.rgb[y:y + ch, x:x + cw], f.depth[y:y + ch, x:x + cw], rng)
        h, w = self.hw
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        gt = cv2.resize(np.nan_to_num(gt), (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
        return (torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255),
                torch.from_numpy(gt[None].astype(np.float32)), torch.from_numpy(gt[None] > 0))
