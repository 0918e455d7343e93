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


def augment(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip, brightness +-0.2 and contrast x[0.8, 1.2] on the RGB (docs/architecture.md, METHODS 2)."""
    if rng.random() < 0.5:
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
    x = rgb.astype(np.float32) / 255
    x = (x - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.uniform(-0.2, 0.2)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), np.ascontiguousarray(depth)


class SRPatches(torch.utils.data.Dataset):
    """Random crops -> (degraded, runtime-prepared input, normalised ground truth).

    Each item: ``depth (1, P, P)``, ``rgb (3, P, P)``, ``gt (1, P, P)`` (same per-frame scale as
    the input; NaN -> 0), ``mask (1, P, P)`` valid ground truth. The input goes through
    :func:`depth_refine_ros.core.net_input.sr_inputs`, the function the runtime uses.
    """

    def __init__(self, frames: list[Frame], patch: int, scales: list[int], degradations: list[str],
                 length: int, seed: int = 0) -> None:
        self.frames, self.patch, self.scales, self.degs = frames, patch, scales, degradations
        self.length, self.seed = length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        f = self.frames[rng.integers(len(self.frames))]
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
        return (torch.from_numpy(feeds["depth"][0]), torch.from_numpy(feeds["rgb"][0]),
                torch.from_numpy(np.where(mask, gt / scale, 0).astype(np.float32)[None]),
                torch.from_numpy(mask[None]))


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
