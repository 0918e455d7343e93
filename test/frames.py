"""Real RGB-D test frames from ../shared/data/rgbdd (read in place through the package's data module)."""
from __future__ import annotations

import pathlib

from depth_refine_ros.data.paths import downsample_mm, rgbdd_frames


def load_rgbdd(root: pathlib.Path, n: int, scale: int = 4):
    """First ``n`` RGB-D-D frames as (rgb uint8 HxWx3, depth_lr uint16 mm, gt float32 m).

    ``root`` comes from ``conftest.require_data`` (which skips when ../shared is absent); the
    low-res depth is the literature's protocol: bicubic downsampling, rounded to millimetres.
    """
    assert root.is_dir(), root
    return [(rgb, downsample_mm(gt, scale), gt) for _, rgb, gt in rgbdd_frames(n)]
