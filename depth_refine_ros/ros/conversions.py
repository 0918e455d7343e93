"""sensor_msgs <-> numpy for Image, CameraInfo and PointCloud2 (thin wrappers over ``core``).

Incoming ``msg.data`` is an ``array.array``: ``np.frombuffer`` reads it without a copy. Outgoing
``data`` is built with ``array('B').frombytes(...)`` because assigning ``bytes`` makes rclpy check
every element (slow for megabytes).
"""
from __future__ import annotations

from array import array

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_refine_ros.core.cloud import fields_for
from depth_refine_ros.core.encodings import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    array_to_buffer,
    buffer_to_array,
    color_to_rgb,
    depth_to_metres,
)
from depth_refine_ros.core.intrinsics import Intrinsics


def stamp_ns(header: Header) -> int:
    """A header's stamp as integer nanoseconds."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def header_at(stamp_s: float, frame_id: str) -> Header:
    """A Header for a stamp given in seconds (nanosecond-rounded)."""
    h = Header(frame_id=frame_id)
    h.stamp.sec = int(stamp_s)
    h.stamp.nanosec = int(round((stamp_s - int(stamp_s)) * 1e9))
    return h


def _bytes_of(arr: np.ndarray) -> array:
    out = array("B")
    if arr.size:  # memoryview.cast refuses zero-sized shapes; an empty image has no bytes anyway
        out.frombytes(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return out


def depth_msg_to_metres(msg: Image) -> np.ndarray:
    """Decode a depth Image (``16UC1``/``mono16`` mm or ``32FC1`` m) to ``(H, W) float32`` metres.

    Raises:
        ImageFormatError: bad encoding or inconsistent sizes.
    """
    arr = buffer_to_array(msg.data, msg.height, msg.width, msg.step, msg.encoding,
                          bool(msg.is_bigendian), DEPTH_ENCODINGS)
    return depth_to_metres(arr, msg.encoding)


def rgb_msg_to_array(msg: Image) -> np.ndarray:
    """Decode a colour Image (rgb8/bgr8/rgba8/bgra8/mono8) to ``(H, W, 3) uint8`` RGB.

    Raises:
        ImageFormatError: bad encoding or inconsistent sizes.
    """
    arr = buffer_to_array(msg.data, msg.height, msg.width, msg.step, msg.encoding,
                          bool(msg.is_bigendian), COLOR_ENCODINGS)
    return color_to_rgb(arr, msg.encoding)


def array_to_image_msg(arr: np.ndarray, encoding: str, header: Header) -> Image:
    """Encode an array as an unpadded little-endian Image with ``header``.

    Args:
        arr: ``(H, W)`` or ``(H, W, C)`` array matching ``encoding`` (dtype and channels).

    Raises:
        ImageFormatError: the array does not match the encoding.
    """
    _, step = array_to_buffer(arr[:0], encoding)  # validates dtype/channels without a copy
    msg = Image()
    msg.header = header
    msg.height, msg.width = arr.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = step
    msg.data = _bytes_of(arr)
    return msg


def depth_to_msg(depth_m: np.ndarray, header: Header) -> Image:
    """Encode ``(H, W) float32`` metres (NaN invalid) as a ``32FC1`` Image with ``header``."""
    return array_to_image_msg(depth_m.astype(np.float32, copy=False), "32FC1", header)


def camera_info_to_intrinsics(msg: CameraInfo, image_hw: tuple[int, int]) -> Intrinsics | None:
    """Intrinsics from a CameraInfo, or None when its K is unusable (fx or fy <= 0, non-finite).

    Args:
        msg: the CameraInfo.
        image_hw: size of the image it accompanies, used when the message leaves width/height 0.
    """
    k = list(msg.k)
    p = list(msg.p)
    w = msg.width or image_hw[1]
    h = msg.height or image_hw[0]
    intr = Intrinsics(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]),
                      width=int(w), height=int(h), tx=float(p[3]), ty=float(p[7]))
    if not (np.isfinite([intr.fx, intr.fy, intr.cx, intr.cy]).all() and intr.is_valid()):
        return None
    return intr


def intrinsics_to_camera_info(intr: Intrinsics, header: Header,
                              template: CameraInfo | None = None) -> CameraInfo:
    """CameraInfo for ``intr`` with ``header``; distortion and R copied from ``template``.

    Binning and ROI are reset (the output is a full, unbinned image).
    """
    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = intr.width, intr.height
    if template is not None:
        msg.distortion_model = template.distortion_model
        msg.d = list(template.d)
        msg.r = list(template.r)
    else:
        msg.distortion_model = "plumb_bob"
        msg.d = [0.0] * 5
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.k = intr.k_matrix()
    msg.p = intr.p_matrix()
    return msg


class CloudBuffer:
    """A reused ``array('B')`` with a float32 point view, so clouds are built in place.

    Safe to reuse after ``publish()`` returns: rclpy serialises the message synchronously.
    Saves a 5..10 MB allocation and one copy per frame.
    """

    def __init__(self) -> None:
        self.data = array("B")
        self._shape: tuple[int, int, int] | None = None
        self.points: np.ndarray | None = None

    def view(self, h: int, w: int, nfloat: int) -> np.ndarray:
        """The ``(h, w, nfloat) float32`` view, (re)allocated zeroed when the size changes."""
        if self._shape != (h, w, nfloat):
            self.data = array("B", bytes(h * w * nfloat * 4))
            self.points = np.frombuffer(self.data, dtype=np.float32).reshape(h, w, nfloat)
            self._shape = (h, w, nfloat)
        return self.points


def cloud_to_msg(points: np.ndarray | CloudBuffer, header: Header, kind: str) -> PointCloud2:
    """Wrap a point buffer from :class:`~depth_refine_ros.core.cloud.CloudBuilder` as a PointCloud2.

    Args:
        points: ``(H, W, 4 or 8) float32`` point buffer, or a :class:`CloudBuffer` holding one.
        header: stamp and optical frame of the depth.
        kind: ``'xyz'`` or ``'xyzrgb'``.
    """
    fields, point_step = fields_for(kind)
    msg = PointCloud2()
    msg.header = header
    if isinstance(points, CloudBuffer):
        data, points = points.data, points.points
    else:
        data = _bytes_of(points)
    msg.height, msg.width = points.shape[:2]
    msg.fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                  for f in fields]
    msg.is_bigendian = False
    msg.point_step = point_step
    msg.row_step = point_step * msg.width
    msg.is_dense = False
    msg.data = data
    return msg
