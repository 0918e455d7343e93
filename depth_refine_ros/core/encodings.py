"""numpy <-> ROS ``sensor_msgs/Image`` byte layouts, without any message type.

Functions take the raw fields of an Image (``data``, ``height``, ``width``, ``step``, ``encoding``,
``is_bigendian``) so they are testable without rclpy and reusable for bag files. Every check that
protects a node from a malformed message lives here and raises :class:`ImageFormatError` with a
message that names the field and the expected vs. actual value.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_refine_ros.core.depth import MM_PER_M, invalid_to_nan


class ImageFormatError(ValueError):
    """An image's fields are inconsistent or its encoding is not supported.

    Attributes:
        reason: short machine-readable key (used for diagnostics counters).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EncodingInfo:
    """Per-pixel layout of one ROS image encoding (sensor_msgs/image_encodings.hpp)."""

    dtype: np.dtype
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels


DEPTH_ENCODINGS: dict[str, EncodingInfo] = {
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1),  # millimetres, 0 = invalid (REP 118)
    "mono16": EncodingInfo(np.dtype(np.uint16), 1),  # same as 16UC1, as some drivers label it
    "32FC1": EncodingInfo(np.dtype(np.float32), 1),  # metres, NaN/Inf/0 = invalid (REP 117/118)
}
COLOR_ENCODINGS: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4),
    "mono8": EncodingInfo(np.dtype(np.uint8), 1),
}
ALL_ENCODINGS = {**DEPTH_ENCODINGS, **COLOR_ENCODINGS}


def buffer_to_array(data, height: int, width: int, step: int, encoding: str,
                    is_bigendian: bool = False, allowed: dict[str, EncodingInfo] | None = None
                    ) -> np.ndarray:
    """View an image buffer as a numpy array, honouring ``step`` padding and byte order.

    Args:
        data: the message's ``data`` (``array.array('B')``, bytes, memoryview); read without a copy
            when no byte swap is needed.
        height, width: pixels.
        step: bytes per row, >= ``width * bytes_per_pixel`` (rows may be padded).
        encoding: ROS encoding string.
        is_bigendian: byte order of multi-byte pixels.
        allowed: encodings accepted here (default: all known).

    Returns:
        ``(H, W)`` or ``(H, W, C)`` array of the encoding's dtype in native byte order. A view into
        ``data`` where possible (read-only), otherwise a copy.

    Raises:
        ImageFormatError: unknown/unsupported encoding, empty image, ``step`` too small, or
            ``len(data) != height * step``.
    """
    allowed = ALL_ENCODINGS if allowed is None else allowed
    info = allowed.get(encoding)
    if info is None:
        raise ImageFormatError(
            "encoding", f"unsupported encoding '{encoding}' (expected one of {sorted(allowed)})")
    if height <= 0 or width <= 0:
        raise ImageFormatError("empty", f"empty image: {height}x{width}")
    row_bytes = width * info.bytes_per_pixel
    if step < row_bytes:
        raise ImageFormatError(
            "size", f"step {step} < width {width} x {info.bytes_per_pixel} bytes/pixel = {row_bytes}")
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if n != height * step:
        raise ImageFormatError(
            "size", f"len(data) = {n} != height {height} x step {step} = {height * step}")
    raw = np.frombuffer(data, dtype=np.uint8)
    rows = raw.reshape(height, step)[:, :row_bytes]
    dt = info.dtype.newbyteorder(">" if is_bigendian else "<")
    if info.dtype.itemsize > 1 and dt != info.dtype.newbyteorder("="):
        # Foreign byte order (rare: big-endian senders): one copy to native order.
        arr = np.ascontiguousarray(rows).view(dt).astype(info.dtype)
    elif step == row_bytes:
        arr = raw.view(info.dtype) if info.dtype.itemsize > 1 else raw
    else:
        arr = np.ascontiguousarray(rows).view(info.dtype)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    return arr.reshape(shape)


def array_to_buffer(arr: np.ndarray, encoding: str) -> tuple[bytes, int]:
    """Serialise an array into an unpadded, little-endian image buffer.

    Args:
        arr: ``(H, W)`` or ``(H, W, C)`` array whose dtype/channels match ``encoding``.
        encoding: ROS encoding string.

    Returns:
        ``(data, step)`` with ``step = W * bytes_per_pixel``.

    Raises:
        ImageFormatError: the array does not match the encoding.
    """
    info = ALL_ENCODINGS.get(encoding)
    if info is None:
        raise ImageFormatError("encoding", f"unsupported encoding '{encoding}'")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if arr.dtype != info.dtype or channels != info.channels:
        raise ImageFormatError(
            "encoding", f"array {arr.dtype} x{channels} does not match {encoding} "
                        f"({info.dtype} x{info.channels})")
    arr = np.ascontiguousarray(arr, dtype=info.dtype.newbyteorder("<"))
    return arr.tobytes(), arr.shape[1] * info.bytes_per_pixel


def depth_to_metres(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded depth image to metres with NaN for invalid pixels.

    Args:
        arr: ``(H, W)`` uint16 millimetres (``16UC1``/``mono16``) or float32 metres (``32FC1``).
        encoding: the image's encoding.

    Returns:
        ``(H, W) float32`` metres; 0, NaN, +-Inf become NaN (REP 117/118).
    """
    if encoding in ("16UC1", "mono16"):
        out = arr.astype(np.float32) * np.float32(1.0 / MM_PER_M)
        out[arr == 0] = np.nan
        return out
    if encoding == "32FC1":
        return invalid_to_nan(arr)
    raise ImageFormatError("encoding", f"'{encoding}' is not a depth encoding "
                                       f"(expected one of {sorted(DEPTH_ENCODINGS)})")


def color_to_rgb(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded colour image to RGB.

    Args:
        arr: ``(H, W, C)`` or ``(H, W)`` uint8 in ``encoding``.
        encoding: one of :data:`COLOR_ENCODINGS`.

    Returns:
        ``(H, W, 3) uint8`` RGB (a view for ``rgb8``, otherwise a new array).
    """
    if encoding == "rgb8":
        return arr
    if encoding == "bgr8":
        return arr[:, :, ::-1]
    if encoding == "rgba8":
        return arr[:, :, :3]
    if encoding == "bgra8":
        return arr[:, :, 2::-1]
    if encoding == "mono8":
        return np.repeat(arr[:, :, None], 3, axis=2)
    raise ImageFormatError("encoding", f"'{encoding}' is not a colour encoding "
                                       f"(expected one of {sorted(COLOR_ENCODINGS)})")
