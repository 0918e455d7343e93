"""Pinhole intrinsics and their scaling to another resolution.

Pixel convention (ROS / OpenCV): pixel ``(u, v)`` has its centre at integer coordinates, the image
covers ``[-0.5, W - 0.5]``. Resizing by ``s = W' / W`` maps a continuous coordinate ``x`` to
``(x + 0.5) * s - 0.5``, so ``cx' = (cx + 0.5) * s - 0.5`` and ``fx' = fx * s``. This is the same
alignment cv2.resize and our upsamplers use, so a scaled camera_info matches the scaled image
exactly (the common ``cx * s`` shortcut is off by ``(s - 1) / 2`` pixels).
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera model for an image of ``width x height`` pixels.

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (pixel-centre-at-integer convention).
        width, height: the image size these values belong to.
        tx, ty: the projection matrix's ``P[0,3]`` and ``P[1,3]`` (pixels x metres; stereo baseline
            terms), scaled like the focal lengths.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    tx: float = 0.0
    ty: float = 0.0

    def is_valid(self) -> bool:
        """True when the focal lengths are positive and the size is non-empty."""
        return self.fx > 0 and self.fy > 0 and self.width > 0 and self.height > 0

    def scaled_to(self, width: int, height: int, decimated: bool = False) -> Intrinsics:
        """Intrinsics of the same camera resampled to ``width x height``.

        Args:
            width, height: target size in pixels.
            decimated: these intrinsics are of a decimated image (pixel ``i`` is pixel ``i * s`` of
                the target, ``depth.sampling: decimated``): ``c' = c * s``. Default: half-pixel aligned
                (pixel ``i`` covers ``[i * s, (i + 1) * s)``, as cv2.resize and binning): ``c' =
                (c + 0.5) * s - 0.5``.

        Returns:
            New :class:`Intrinsics` for the target size.
        """
        sx = width / self.width
        sy = height / self.height
        cx, cy = (self.cx * sx, self.cy * sy) if decimated else ((self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=cx, cy=cy,
                       tx=self.tx * sx, ty=self.ty * sy, width=width, height=height)

    def k_matrix(self) -> list[float]:
        """Row-major 3x3 camera matrix ``K`` (9 floats)."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    def p_matrix(self) -> list[float]:
        """Row-major 3x4 projection matrix ``P`` (12 floats)."""
        return [self.fx, 0.0, self.cx, self.tx, 0.0, self.fy, self.cy, self.ty, 0.0, 0.0, 1.0, 0.0]
