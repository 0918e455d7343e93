"""Datasets: RGB-D frames on disk -> training samples made exactly as the runtime prepares input.

Layouts (``detect_layout``):
    ``rgbdd``    ``rgb/<ts>_RGB.jpg`` + ``depth/<ts>_HR_gt.png`` (uint16 mm); capture day = ts[:8]
    ``generic``  ``rgb/<id>.(png|jpg)`` + ``depth/<id>.(png: uint16 mm | npy: float32 m)``; the
                 capture group is the id's prefix before the first ``_`` (or the whole id)
Splits go by capture day/group, never by random frame, so no scene is on both sides.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from depth_refine_ros.core import netio
from depth_refine_ros.core.degrade import degrade


@dataclass
class Frame:
    """One decoded RGB-D frame: ``rgb (H, W, 3) uint8``, ``depth (H, W) float32`` metres (NaN invalid)."""

    name: str
    group: str
    rgb: np.ndarray
    depth: np.ndarray


def detect_layout(root: pathlib.Path) -> str:
    if (root / "rgb").is_dir() and any((root / "depth").glob("*_HR_gt.png")):
        return "rgbdd"
    if (root / "rgb").is_dir() and (root / "depth").is_dir():
        return "generic"
    raise ValueError(f"{root}: no known layout (expected rgb/ and depth/ folders)")


def _read_depth(path: pathlib.Path) -> np.ndarray:
    if path.suffix == ".npy":
        d = np.load(path).astype(np.float32)
    else:
        d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    return d


def load_frames(root: str | pathlib.Path, groups: set[str] | None = None, exclude: set[str] | None = None,
                limit: int | None = None) -> list[Frame]:
    """Decode the frames of a dataset folder, optionally only/without some capture groups."""
    root = pathlib.Path(root)
    layout = detect_layout(root)
    frames = []
    for rgb_path in sorted((root / "rgb").iterdir()):
        if layout == "rgbdd":
            ts = rgb_path.name.split("_")[0]
            dpath, group = root / "depth" / f"{ts}_HR_gt.png", ts[:8]
        else:
            stem = rgb_path.stem
            cands = [root / "depth" / f"{stem}{ext}" for ext in (".png", ".npy")]
            dpath = next((c for c in cands if c.exists()), None)
            group = stem.split("_")[0]
            if dpath is None:
                continue
        if (groups is not None and group not in groups) or (exclude and group in exclude):
            continue
        rgb = cv2.cvtColor(cv2.imread(str(rgb_path)), cv2.COLOR_BGR2RGB)
        frames.append(Frame(rgb_path.stem, group, rgb, _read_depth(dpath)))
        if limit and len(frames) >= limit:
            break
    if not frames:
        raise ValueError(f"{root}: no frames (groups={groups}, exclude={exclude})")
    return frames


def augment(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip, brightness +-0.2 and contrast x[0.8, 1.2] on the RGB (METHODS 2)."""
    if rng.random() < 0.5:
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
    x = rgb.astype(np.float32) / 255
    x = (x - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.uniform(-0.2, 0.2)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), np.ascontiguousarray(depth)


class SRPatches(torch.utils.data.Dataset):
    """Random crops -> (degraded, runtime-prepared input, normalised ground truth).

    Each item: ``depth (1, P, P)``, ``rgb (3, P, P)``, ``gt (1, P, P)`` (same per-frame scale as
    the input; NaN -> 0), ``mask (1, P, P)`` valid ground truth. The input goes through
    :func:`depth_refine_ros.core.netio.sr_inputs`, the function the runtime uses.
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
        feeds, scale, _ = netio.sr_inputs(lr, rgb, (p, p), 1, True)
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
