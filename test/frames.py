"""Real RGB-D test frames from ../shared/data/rgbdd (read in place, never copied)."""
from __future__ import annotations

import pathlib

import cv2
import numpy as np


def load_rgbdd(root: pathlib.Path, n: int, scale: int = 4):
    """First ``n`` RGB-D-D frames as (rgb uint8 HxWx3, depth_lr uint16 mm, gt float32 m).

    The low-res depth is the ground truth downsampled by ``scale`` with cv2 INTER_CUBIC (the
    literature's protocol), rounded to millimetres.
    """
    out = []
    for f in sorted((root / "rgb").glob("*_RGB.jpg"))[:n]:
        ts = f.name.split("_")[0]
        gt = cv2.imread(str(root / "depth" / f"{ts}_HR_gt.png"), cv2.IMREAD_UNCHANGED)
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        h, w = gt.shape
        lr = cv2.resize(gt.astype(np.float32), (w // scale, h // scale), interpolation=cv2.INTER_CUBIC)
        out.append((rgb, np.round(lr).astype(np.uint16), gt.astype(np.float32) / 1000.0))
    return out
