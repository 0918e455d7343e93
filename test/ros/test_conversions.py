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


def crop_decimate_info(roi=(100, 60, 320, 240), binning=2) -> CameraInfo:
    """As image_proc's crop_decimate publishes it (REP 104): the full sensor's K, width and height,
    the crop in ``roi`` (full-sensor pixels) and the decimation in ``binning_x/y``."""
    msg = conv.intrinsics_to_camera_info(Intrinsics(500.0, 510.0, 319.5, 239.5, 640, 480), Header())
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = roi
    msg.binning_x = msg.binning_y = binning
    return msg


def test_camera_info_roi_and_binning_give_the_intrinsics_of_the_image_they_came_with():
    """A scene point at full-sensor pixel (300, 200) is at (200, 140) in the crop; in the crop binned
    2x2 (averaging: pixel i covers crop pixels 2i, 2i+1) at (99.75, 69.75), and in crop_decimate's
    every-2nd-pixel image of it at (100, 70)."""
    msg = crop_decimate_info()
    assert conv.camera_info_image_hw(msg) == (120, 160)
    intr = conv.camera_info_to_intrinsics(msg, (120, 160))
    # the ROI at the sensor's resolution: the principal point moves by the crop's offset
    assert intr == Intrinsics(500.0, 510.0, 219.5, 179.5, 320, 240)
    x, y = (300.0 - 319.5) / 500.0, (200.0 - 239.5) / 510.0  # the point's normalised coordinates
    assert intr.fx * x + intr.cx == pytest.approx(200.0) and intr.fy * y + intr.cy == pytest.approx(140.0)
    binned = intr.scaled_to(160, 120)
    assert binned.fx * x + binned.cx == pytest.approx(99.75) and binned.fy * y + binned.cy == pytest.approx(69.75)
    decimated = intr.scaled_to(160, 120, decimated=True)
    assert decimated.fx * x + decimated.cx == pytest.approx(100.0)
    assert decimated.fy * y + decimated.cy == pytest.approx(70.0)
    # binning that does not divide the ROI: the remainder is dropped, so the focal length is exactly f / b
    odd = conv.camera_info_to_intrinsics(crop_decimate_info(roi=(100, 60, 319, 241)), (120, 159))
    assert (odd.width, odd.height) == (318, 240) and odd.scaled_to(159, 120).fx == 250.0
    # no ROI (all zero): the whole sensor; binning 0 or 1: none
    plain = crop_decimate_info(roi=(0, 0, 0, 0), binning=0)
    assert conv.camera_info_image_hw(plain) == (480, 640)
    assert conv.camera_info_to_intrinsics(plain, (480, 640)) == Intrinsics(500.0, 510.0, 319.5, 239.5, 640, 480)


def test_camera_info_with_an_roi_outside_its_sensor_is_refused_with_the_reason():
    msg = crop_decimate_info(roi=(400, 0, 320, 240))
    assert conv.camera_info_to_intrinsics(msg, (120, 160)) is None
    assert conv.camera_info_image_hw(msg) is None
    assert "roi 320x240+400+0 lies outside the 640x480 sensor" in conv.camera_info_intrinsics(msg, (120, 160))[1]
    assert "unusable K" in conv.camera_info_intrinsics(CameraInfo(), (480, 640))[1]
    assert conv.camera_info_intrinsics(crop_decimate_info(), (120, 160))[1] is None


def test_cloud_msg_layout():
    intr = Intrinsics(100.0, 100.0, 1.0, 1.0, 3, 2)
    pts = CloudBuilder().build(np.ones((2, 3), np.float32), intr, np.zeros((2, 3, 3), np.uint8))
    msg = conv.cloud_to_msg(pts, Header(frame_id="cam"), "xyzrgb")
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (2, 3, 32, 96)
    assert len(msg.data) == 2 * 96 and msg.is_dense is False
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 16, 7, 1)]
