"""sensor_msgs <-> numpy for Image, CameraInfo and PointCloud2, and rclpy messages <-> CDR bytes.

Decoding is :mod:`depth_refine_ros.data.messages` (one decoder for live messages and bag
contents); this module re-exports it and adds what needs rclpy: building outgoing messages and
(de)serialising them for rosbag2 files.

Incoming ``msg.data`` is an ``array.array``: ``np.frombuffer`` reads it without a copy. Outgoing
``data`` is built with ``array('B').frombytes(...)`` because assigning ``bytes`` makes rclpy check
every element (slow for megabytes).
"""
from __future__ import annotations

from array import array

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_refine_ros.core.cloud import fields_for
from depth_refine_ros.core.encodings import array_to_buffer
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.data import compressed
from depth_refine_ros.data.bags import typestore
from depth_refine_ros.data.messages import (  # noqa: F401  (re-exported: the one decoder)
    camera_info_image_hw,
    camera_info_intrinsics,
    camera_info_to_intrinsics,
    depth_msg_to_metres,
    first_intrinsics,
    rgb_msg_to_array,
    stamp_ns,
)

_TYPES = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CameraInfo": CameraInfo,
          "sensor_msgs/msg/PointCloud2": PointCloud2, "sensor_msgs/msg/CompressedImage": CompressedImage}


def msgtype_of(msg) -> str:
    """The ROS type name of an rclpy message, e.g. ``sensor_msgs/msg/Image``."""
    return type(msg).__module__.split(".")[0] + "/msg/" + type(msg).__name__


def to_cdr(msg) -> tuple[str, bytes]:
    """An rclpy message as ``(type name, CDR bytes)`` (what the wire and rosbag2 carry)."""
    return msgtype_of(msg), serialize_message(msg)


def to_rclpy(msg):
    """A message read from a bag (a ``rosbags`` object) as the rclpy message a node would receive.

    rclpy messages pass through unchanged.
    """
    if not hasattr(msg, "__msgtype__"):
        return msg
    raw = typestore().serialize_cdr(msg, msg.__msgtype__)
    return deserialize_message(bytes(raw), _TYPES[msg.__msgtype__])


def header_from_ns(stamp_ns_: int, frame_id: str) -> Header:
    """A Header for an integer-nanosecond stamp."""
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns_), 1_000_000_000)
    return h


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


def compressed_msg(fmt: str, data: bytes, header: Header) -> CompressedImage:
    """A ``sensor_msgs/CompressedImage`` with ``format``, ``data`` and ``header``."""
    msg = CompressedImage()
    msg.header = header
    msg.format = fmt
    msg.data = array("B", data)
    return msg


def rgb_to_compressed_msg(rgb: np.ndarray, header: Header, method: str = "jpeg") -> CompressedImage:
    """``(H, W, 3) uint8`` RGB as image_transport's ``compressed`` publisher sends it (jpeg or png)."""
    return compressed_msg(*compressed.encode_rgb(rgb, method), header)


def depth_to_compressed_msg(depth: np.ndarray, encoding: str, header: Header) -> CompressedImage:
    """A depth image (``16UC1`` uint16 mm or ``32FC1`` float32 m) as the ``compressedDepth`` publisher sends it."""
    return compressed_msg(*compressed.encode_depth(depth, encoding), header)




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


def cloud_to_msg(points: np.ndarray | CloudBuffer, header: Header, kind: str, layout: str = "pcl") -> PointCloud2:
    """Wrap a point buffer from :class:`~depth_refine_ros.core.cloud.CloudBuilder` as a PointCloud2.

    Args:
        points: ``(H, W, n) float32`` point buffer, or a :class:`CloudBuffer` holding one.
        header: stamp and optical frame of the depth.
        kind: ``'xyz'`` or ``'xyzrgb'``.
        layout: ``'pcl'`` or ``'packed'`` (:mod:`depth_refine_ros.core.cloud`).

    Raises:
        ValueError: an unknown kind or layout, or a buffer whose points are not that layout's size.
    """
    fields, point_step = fields_for(kind, layout)
    msg = PointCloud2()
    msg.header = header
    if isinstance(points, CloudBuffer):
        data, points = points.data, points.points
    else:
        data = _bytes_of(points)
    if points.ndim != 3 or points.shape[2] * 4 != point_step:
        raise ValueError(f"{kind} cloud in the {layout} layout has {point_step}-byte points; the buffer's "
                         f"shape {points.shape} does not (build and wrap it with the same layout)")
    msg.height, msg.width = points.shape[:2]
    msg.fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                  for f in fields]
    msg.is_bigendian = False
    msg.point_step = point_step
    msg.row_step = point_step * msg.width
    msg.is_dense = False
    msg.data = data
    return msg
