"""The one decoder of sensor_msgs content: Image / CameraInfo fields -> numpy, for any message object.

The functions read fields by name (``encoding``, ``height``, ``width``, ``step``, ``data``, ``k``,
...), so they decode rclpy messages on the wire (``data`` an ``array.array``) and the messages
:mod:`depth_refine_ros.data.bags` reads from a rosbag2 file (``rosbags`` objects, ``data`` a numpy
array) alike: the live node, bag evaluation and training decode with the same code. No rclpy here.
A ``sensor_msgs/CompressedImage`` (image_transport's ``compressed`` / ``compressedDepth``
transports: fields ``format`` and ``data``) decodes through :mod:`depth_refine_ros.data.compressed`
to the same arrays.
"""
from __future__ import annotations

import numpy as np

from depth_refine_ros.core.encodings import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    buffer_to_array,
    color_to_rgb,
    depth_to_metres,
)
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.data.compressed import decode_depth, decode_rgb, is_compressed


def stamp_ns(header) -> int:
    """A ``std_msgs/Header``'s stamp as integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def depth_msg_to_metres(msg) -> np.ndarray:
    """Decode a depth ``sensor_msgs/Image`` (``16UC1``/``mono16`` mm or ``32FC1`` m), or a
    ``CompressedImage`` of the ``compressedDepth`` transport.

    Returns:
        ``(H, W) float32`` metres, NaN invalid (0, NaN and Inf in the message are invalid).

    Raises:
        ImageFormatError: bad encoding or inconsistent sizes; for compressed payloads also
            ``format`` and ``decode`` (:func:`depth_refine_ros.data.compressed.decode_depth`).
    """
    if is_compressed(msg):
        return decode_depth(msg.format, msg.data)
    arr = buffer_to_array(msg.data, msg.height, msg.width, msg.step, msg.encoding,
                          bool(msg.is_bigendian), DEPTH_ENCODINGS)
    return depth_to_metres(arr, msg.encoding)


def rgb_msg_to_array(msg) -> np.ndarray:
    """Decode a colour ``sensor_msgs/Image`` (rgb8/bgr8/rgba8/bgra8/mono8), or a ``CompressedImage``
    of the ``compressed`` transport (jpeg/png).

    Returns:
        ``(H, W, 3) uint8`` RGB.

    Raises:
        ImageFormatError: bad encoding or inconsistent sizes; for compressed payloads also
            ``format`` and ``decode`` (:func:`depth_refine_ros.data.compressed.decode_rgb`).
    """
    if is_compressed(msg):
        return decode_rgb(msg.format, msg.data)
    arr = buffer_to_array(msg.data, msg.height, msg.width, msg.step, msg.encoding,
                          bool(msg.is_bigendian), COLOR_ENCODINGS)
    return color_to_rgb(arr, msg.encoding)


def camera_info_to_intrinsics(msg, image_hw: tuple[int, int]) -> Intrinsics | None:
    """Intrinsics from a ``sensor_msgs/CameraInfo``, or None when its K is unusable (fx or fy <= 0, non-finite).

    Args:
        msg: the CameraInfo.
        image_hw: ``(H, W)`` pixels of the image it accompanies, used when the message leaves
            width/height 0.
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
