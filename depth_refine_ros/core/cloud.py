"""Organized point clouds from depth and intrinsics, in the PCL or the packed memory layout.

Layouts (``x, y, z`` float32 at offsets 0, 4, 8 in both; ``rgb`` is a float32 whose bits are the
uint32 ``0x00RRGGBB``):

- ``pcl``: what ``pcl::PointXYZ`` / ``pcl::PointXYZRGB`` and sensor_msgs' ``PointCloud2Modifier``
  produce: ``xyz`` points are 16 bytes (4 bytes padding), ``xyzrgb`` points 32 bytes with ``rgb``
  at offset 16. A PCL consumer's ``fromROSMsg`` copies it in one block.
- ``packed``: no padding: ``xyz`` points are 12 bytes, ``xyzrgb`` 16 bytes with ``rgb`` at offset
  12 (the layout the ZED wrapper publishes). Half the bytes of ``pcl`` for ``xyzrgb``, so half the
  building and publishing time (docs/results.md); every consumer that reads fields by name (rviz2,
  ``PointCloud2Iterator``, PCL's ``fromROSMsg`` field by field) reads it.

Organized: one point per pixel, row-major, NaN xyz for invalid depth. Points are in the optical
frame of the depth image (x right, y down, z forward), metres.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics

# PointField datatype constant for FLOAT32 (sensor_msgs/PointField.msg).
FLOAT32 = 7


@dataclass(frozen=True)
class Field:
    """One PointField: name, byte offset, datatype (7 = FLOAT32), count."""

    name: str
    offset: int
    datatype: int = FLOAT32
    count: int = 1


XYZ_FIELDS = (Field("x", 0), Field("y", 4), Field("z", 8))
XYZRGB_FIELDS = XYZ_FIELDS + (Field("rgb", 16),)
LAYOUTS = ("pcl", "packed")
# (kind, layout) -> (fields, point_step in bytes)
_FORMATS = {("xyz", "pcl"): (XYZ_FIELDS, 16), ("xyzrgb", "pcl"): (XYZRGB_FIELDS, 32),
            ("xyz", "packed"): (XYZ_FIELDS, 12), ("xyzrgb", "packed"): (XYZ_FIELDS + (Field("rgb", 12),), 16)}


class CloudBuilder:
    """Builds organized cloud buffers; caches the per-pixel rays of the last intrinsics.

    The ray cache is why this is a class: for a fixed camera the per-frame work is three
    multiplications and one strided copy per field.
    """

    def __init__(self) -> None:
        self._key: Intrinsics | None = None
        self._rx: np.ndarray | None = None
        self._ry: np.ndarray | None = None

    def _rays(self, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        if self._key != intr:
            u = (np.arange(intr.width, dtype=np.float32) - np.float32(intr.cx)) / np.float32(intr.fx)
            v = (np.arange(intr.height, dtype=np.float32) - np.float32(intr.cy)) / np.float32(intr.fy)
            # full contiguous planes (not broadcast views): cv2.multiply in _merge needs them
            self._rx = np.ascontiguousarray(np.broadcast_to(u[None, :], (intr.height, intr.width)))
            self._ry = np.ascontiguousarray(np.broadcast_to(v[:, None], (intr.height, intr.width)))
            self._key = intr
        return self._rx, self._ry

    def build(self, depth_m: np.ndarray, intr: Intrinsics, rgb: np.ndarray | None = None,
              out: np.ndarray | None = None, stride: int = 1, layout: str = "pcl") -> np.ndarray:
        """Make the cloud's point buffer.

        Args:
            depth_m: ``(H, W) float32`` metres, NaN invalid; must match ``intr`` size.
            intr: intrinsics of ``depth_m``.
            rgb: optional ``(H, W, 3) uint8`` RGB registered to ``depth_m``; gives ``xyzrgb``.
            out: optional writable ``(h, w, n) float32`` buffer to fill in place (e.g. a view of
                a reused message buffer; ``n`` from :func:`point_floats`); its padding must
                already be zero.
            stride: keep every ``stride``-th row and column (pixels ``[::stride, ::stride]``), so
                ``h, w = ceil(H / stride), ceil(W / stride)``. The kept pixels are back-projected
                with the full-resolution rays, so the points are exactly the full cloud's points
                ``[::stride, ::stride]`` (equivalently: the decimated grid's intrinsics are
                ``fx / stride``, ``cx / stride``, since its pixel ``j`` is full pixel
                ``j * stride``; not :meth:`Intrinsics.scaled_to`, which describes resampling).
            layout: ``pcl`` or ``packed`` (module docstring).

        Returns:
            ``pcl``: ``(h, w, 4)`` float32 (xyz: x, y, z, pad) or ``(h, w, 8)`` (xyzrgb: x, y, z,
            pad, rgb, pad, pad, pad); ``packed``: ``(h, w, 3)`` (x, y, z) or ``(h, w, 4)`` (x, y,
            z, rgb). ``.tobytes()`` is the PointCloud2 ``data``. Padding is 0.

        Raises:
            ValueError: sizes disagree, ``stride < 1`` or an unknown layout.
        """
        h, w = depth_m.shape
        if (w, h) != (intr.width, intr.height):
            raise ValueError(f"depth {w}x{h} does not match intrinsics {intr.width}x{intr.height}")
        if rgb is not None and rgb.shape[:2] != (h, w):
            raise ValueError(f"rgb {rgb.shape[1]}x{rgb.shape[0]} does not match depth {w}x{h}")
        if stride < 1:
            raise ValueError(f"cloud stride must be >= 1, got {stride}")
        rx, ry = self._rays(intr)
        if stride > 1:
            sl = (slice(None, None, stride), slice(None, None, stride))
            depth_m, rx, ry = depth_m[sl], rx[sl], ry[sl]
            rgb = rgb[sl] if rgb is not None else None
            h, w = depth_m.shape
        nfloat = point_floats("xyz" if rgb is None else "xyzrgb", layout)
        if out is None:
            out = np.zeros((h, w, nfloat), dtype=np.float32)
        elif out.shape != (h, w, nfloat) or out.dtype != np.float32:
            raise ValueError(f"out buffer {out.shape} {out.dtype} != {(h, w, nfloat)} float32")
        z = depth_m.astype(np.float32, copy=False)
        if layout == "packed" and stride == 1 and self._merge(z, intr, rgb, out):
            return out
        np.multiply(rx, z, out=out[:, :, 0])  # NaN depth -> NaN x, y, z
        np.multiply(ry, z, out=out[:, :, 1])
        out[:, :, 2] = z
        if rgb is not None:
            _pack_rgb(rgb, out.view(np.uint32)[:, :, 4 if layout == "pcl" else 3])  # the rgb float's index
        return out

    def _merge(self, z: np.ndarray, intr: Intrinsics, rgb: np.ndarray | None, out: np.ndarray) -> bool:
        """The packed full-resolution cloud by one interleaving pass (cv2.merge into ``out``).

        Why: three strided stores into the point buffer touch its memory three times; computing
        x and y as contiguous planes and interleaving x, y, z (, rgb) once is about 1.6x faster
        (0.33 against 0.53 ms at VGA xyzrgb in isolation). Same float32 products, same bits.

        Returns:
            False (nothing written) where the fast path does not apply: non-contiguous depth or
            ``out``.
        """
        if not (z.flags.c_contiguous and out.flags.c_contiguous):
            return False
        import cv2

        rx, ry = self._rays(intr)
        planes = [cv2.multiply(rx, z), cv2.multiply(ry, z), z]
        if rgb is not None:
            bits = np.empty(z.shape, np.uint32)
            _pack_rgb(rgb, bits)
            planes.append(bits.view(np.float32))
        merged = cv2.merge(planes, dst=out)
        if merged is not out and not np.shares_memory(merged, out):  # an OpenCV that allocated anyway
            out[...] = merged
        return True


def _pack_rgb(rgb: np.ndarray, bits: np.ndarray) -> None:
    """Write ``(H, W, 3)`` RGB into ``bits`` (``(H, W) uint32``, any strides) as ``0x00RRGGBB``."""
    if sys.byteorder == "little" and rgb.dtype == np.uint8:
        # uint32 0x00RRGGBB little-endian is the bytes B, G, R, 0: cv2 makes BGRA (alpha 255) in one
        # SIMD pass and a masked uint32 store clears the alpha, 0.2 ms at VGA against 1.0 ms for a
        # strided 3-byte copy (the cloud is on every frame's path).
        import cv2

        bgra = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)
        np.bitwise_and(bgra.view(np.uint32)[:, :, 0], np.uint32(0x00FFFFFF), out=bits)
    else:
        bits[...] = (rgb[:, :, 0].astype(np.uint32) << 16 | rgb[:, :, 1].astype(np.uint32) << 8 | rgb[:, :, 2])


def fields_for(kind: str, layout: str = "pcl") -> tuple[tuple[Field, ...], int]:
    """Fields and point_step (bytes) for ``'xyz'`` or ``'xyzrgb'`` in ``layout`` (``pcl`` or ``packed``)."""
    if kind not in ("xyz", "xyzrgb"):
        raise ValueError(f"cloud type must be 'xyz' or 'xyzrgb', got '{kind}'")
    if layout not in LAYOUTS:
        raise ValueError(f"cloud layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    return _FORMATS[(kind, layout)]


def point_floats(kind: str, layout: str = "pcl") -> int:
    """float32 slots per point (point_step / 4) for ``kind`` in ``layout``."""
    return fields_for(kind, layout)[1] // 4
