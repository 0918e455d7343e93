"""sensor_msgs <-> numpy through real message types (no DDS needed)."""
import array

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_refine_ros.core.cloud import CloudBuilder
from depth_refine_ros.core.encodings import ImageFormatError
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.ros import conversions as conv

pytestmark = pytest.mark.unit


def img(arr, enc):
    m = Image()
    m.height, m.width = arr.shape[:2]
    m.encoding, m.step = enc, arr.strides[0]
    m.data = array.array("B", arr.tobytes())
    return m


def test_depth_msg_round_trip_and_header():
    h = Header(frame_id="cam")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    d = np.array([[1.0, np.nan], [2.5, 0.25]], np.float32)
    out = conv.depth_to_msg(d, h)
    assert out.encoding == "32FC1" and out.step == 8 and out.header.frame_id == "cam"
    assert conv.stamp_ns(out.header) == 12_000_000_345
    back = conv.depth_msg_to_metres(out)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(d))
    mm = conv.depth_msg_to_metres(img(np.array([[1500, 0]], np.uint16), "16UC1"))
    assert mm[0, 0] == pytest.approx(1.5) and np.isnan(mm[0, 1])


def test_rgb_msgs_and_refusal():
    bgr = np.array([[[1, 2, 3]]], np.uint8)
    np.testing.assert_array_equal(conv.rgb_msg_to_array(img(bgr, "bgr8")), [[[3, 2, 1]]])
    with pytest.raises(ImageFormatError):
        conv.rgb_msg_to_array(img(np.zeros((2, 2), np.uint16), "16UC1"))


def test_camera_info_round_trip_and_bad_k():
    intr = Intrinsics(500.0, 510.0, 319.5, 239.5, 640, 480, tx=-5.0)
    template = CameraInfo(distortion_model="rational_polynomial", d=[0.1] * 8)
    msg = conv.intrinsics_to_camera_info(intr, Header(frame_id="cam"), template)
    assert msg.d.tolist() == [0.1] * 8 and msg.distortion_model == "rational_polynomial"
    assert conv.camera_info_to_intrinsics(msg, (480, 640)) == intr
    assert conv.camera_info_to_intrinsics(CameraInfo(), (480, 640)) is None  # K all zero


def test_cloud_msg_layout():
    intr = Intrinsics(100.0, 100.0, 1.0, 1.0, 3, 2)
    pts = CloudBuilder().build(np.ones((2, 3), np.float32), intr, np.zeros((2, 3, 3), np.uint8))
    msg = conv.cloud_to_msg(pts, Header(frame_id="cam"), "xyzrgb")
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (2, 3, 32, 96)
    assert len(msg.data) == 2 * 96 and msg.is_dense is False
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 16, 7, 1)]
