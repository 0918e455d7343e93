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

import math

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


def camera_info_roi(msg, image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region of the calibrated sensor a CameraInfo's image shows, ``(x0, y0, w, h)`` pixels.

    REP 104: ``K``, ``width`` and ``height`` describe the full, unbinned sensor; a driver or
    image_proc's ``crop_decimate`` that crops sets ``roi`` (offsets and size in full-sensor pixels)
    and one that bins or decimates sets ``binning_x/y``. An ``roi`` of width or height 0 means the
    whole sensor.

    Args:
        msg: the CameraInfo.
        image_hw: ``(H, W)`` pixels of the image it accompanies, used when the message leaves
            width/height 0.

    Returns:
        ``(x0, y0, w, h)`` in full-sensor pixels; ``(0, 0, W, H)`` without an ROI.

    Raises:
        ValueError: the ROI does not lie inside the ``width x height`` the message gives.
    """
    full_w = int(msg.width or image_hw[1])
    full_h = int(msg.height or image_hw[0])
    roi = getattr(msg, "roi", None)
    if roi is None or roi.width == 0 or roi.height == 0:
        return 0, 0, full_w, full_h
    x0, y0, w, h = int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)
    if (msg.width and x0 + w > full_w) or (msg.height and y0 + h > full_h):
        raise ValueError(f"roi {w}x{h}+{x0}+{y0} lies outside the {full_w}x{full_h} sensor")
    return x0, y0, w, h


def camera_info_binning(msg) -> tuple[int, int]:
    """``(binning_x, binning_y)`` of a CameraInfo; 0 (unset) reads as 1, no binning (REP 104)."""
    return max(1, int(msg.binning_x)), max(1, int(msg.binning_y))


def camera_info_image_hw(msg) -> tuple[int, int] | None:
    """``(H, W)`` of the image a CameraInfo describes (its ROI, divided by its binning), or None if unknown."""
    if msg.width <= 0 or msg.height <= 0:
        return None
    try:
        _, _, w, h = camera_info_roi(msg, (msg.height, msg.width))
    except ValueError:
        return None
    bx, by = camera_info_binning(msg)
    return h // by, w // bx


def camera_info_intrinsics(msg, image_hw: tuple[int, int]) -> tuple[Intrinsics | None, str | None]:
    """Intrinsics of the region of the sensor a ``sensor_msgs/CameraInfo``'s image shows, at the
    sensor's resolution, or the reason the message cannot give them (for the log).

    REP 104: K, ``width`` and ``height`` are the full sensor's. The ROI (:func:`camera_info_roi`)
    moves the principal point by its offset and gives the size; binning ``b`` trims that size to a
    multiple of ``b`` (binning and image_proc's ``crop_decimate`` drop the remainder) but is not
    applied here: callers scale the result to the image they have with :meth:`Intrinsics.scaled_to`
    (focal lengths exactly ``f / b``), with the convention they choose. With the pixel-centre default
    that is exact for binning that averages and for any output at the sensor's resolution (a
    ``depth_lr`` stream binned from the RGB-sized sensor); image_geometry's ``cx' = (cx - x0) / b``
    (every b-th pixel, ``crop_decimate``'s default) differs from it by ``(b - 1) / (2 b)`` image pixels.

    Args:
        msg: the CameraInfo.
        image_hw: ``(H, W)`` pixels of the image it accompanies, used when the message leaves
            width/height 0 (then K is taken as the image's own, without ROI or binning).

    Returns:
        ``(intrinsics, None)``, or ``(None, reason)`` for an unusable K or an ROI outside the sensor.
    """
    fx, fy, cx, cy = (float(msg.k[i]) for i in (0, 4, 2, 5))
    if not (all(math.isfinite(v) for v in (fx, fy, cx, cy)) and fx > 0 and fy > 0):
        return None, f"unusable K (fx={fx}, fy={fy}, cx={cx}, cy={cy})"
    try:
        x0, y0, w, h = camera_info_roi(msg, image_hw)
    except ValueError as e:
        return None, str(e)
    if msg.width and msg.height:
        bx, by = camera_info_binning(msg)
        w, h = w - w % bx, h - h % by
    if w <= 0 or h <= 0:
        return None, "no width/height in the message or the image"
    return Intrinsics(fx=fx, fy=fy, cx=cx - x0, cy=cy - y0, width=w, height=h,
                      tx=float(msg.p[3]), ty=float(msg.p[7])), None


def camera_info_to_intrinsics(msg, image_hw: tuple[int, int]) -> Intrinsics | None:
    """:func:`camera_info_intrinsics` without the reason: the intrinsics, or None."""
    return camera_info_intrinsics(msg, image_hw)[0]


def first_intrinsics(candidates) -> Intrinsics | None:
    """The intrinsics of the first usable CameraInfo of ``candidates``, ``(msg or None, image_hw)``
    pairs in order of preference (the RGB's, then the depth's, as sr_node chooses), or None."""
    for msg, hw in candidates:
        if msg is not None and (intr := camera_info_to_intrinsics(msg, hw)) is not None:
            return intr
    return None
