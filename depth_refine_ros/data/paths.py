"""Where the handed-out data lives and how to read the few frames the CLI needs.

The data is read in place from ``../shared/data`` (beside the checkout) or ``$DEPTH_REFINE_DATA``;
it is never copied into the repository.
"""
from __future__ import annotations

import os
import pathlib

import cv2
import numpy as np

from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.depth import metres_to_mm_u16


class DataMissing(RuntimeError):
    """The shared data folder is not where we look; the message says where to put it."""


def data_root() -> pathlib.Path:
    """``$DEPTH_REFINE_DATA``, else ``../shared/data`` next to the checkout or the cwd."""
    env = os.environ.get("DEPTH_REFINE_DATA")
    cands = [pathlib.Path(env)] if env else []
    cands += [pathlib.Path(__file__).resolve().parents[3] / "shared" / "data",
              pathlib.Path.cwd().parent / "shared" / "data"]
    for c in cands:
        if c.is_dir():
            return c
    raise DataMissing("no data folder found: put the shared data at ../shared/data beside the "
                      "checkout or set DEPTH_REFINE_DATA=/path/to/data")


def rgbdd_frames(n: int, start: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """RGB-D-D pairs as ``(timestamp, rgb (384, 512, 3) uint8, depth (384, 512) float32 m)``."""
    root = data_root() / "rgbdd"
    out = []
    for f in sorted((root / "rgb").glob("*_RGB.jpg"))[start:start + n]:
        ts = f.name.split("_")[0]
        gt = cv2.imread(str(root / "depth" / f"{ts}_HR_gt.png"), cv2.IMREAD_UNCHANGED)
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        out.append((ts, rgb, gt.astype(np.float32) / 1000.0))
    return out


def realsense_frames(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real RealSense frames: ``(rgb (480, 640, 3) uint8, depth (480, 640) uint16 mm, 0 = none)``."""
    root = data_root() / "realsense_seq"
    out = []
    for f in sorted((root / "rgb").glob("rgb*.png"))[:n]:
        d = root / "depth" / f.name.replace("rgb", "depth")
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        out.append((rgb, cv2.imread(str(d), cv2.IMREAD_UNCHANGED)))
    return out


def downsample_mm(depth_m: np.ndarray, scale: int) -> np.ndarray:
    """A low-res ``16UC1`` input by the literature's protocol, as a driver would send it.

    The protocol is :func:`depth_refine_ros.core.degrade.bicubic` (antialiased bicubic
    downsampling, the one eval and training use), rounded to millimetres.

    Args:
        depth_m: ``(H, W) float32`` metres, NaN/0 invalid.
        scale: integer factor.

    Returns:
        ``(H // scale, W // scale) uint16`` millimetres, 0 = invalid.
    """
    d = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, np.nan).astype(np.float32)
    return metres_to_mm_u16(degrade("bicubic", d, scale))
