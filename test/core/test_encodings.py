"""Image byte layouts against the sensor_msgs definitions, round trips, and every refusal."""
import array

import numpy as np
import pytest

from depth_refine_ros.core.encodings import (
    ALL_ENCODINGS,
    ImageFormatError,
    array_to_buffer,
    buffer_to_array,
    color_to_rgb,
    depth_to_metres,
)

pytestmark = pytest.mark.unit
rng = np.random.default_rng(1)


def sample(encoding, h=5, w=7):
    info = ALL_ENCODINGS[encoding]
    shape = (h, w) if info.channels == 1 else (h, w, info.channels)
    if info.dtype == np.float32:
        return rng.random(shape, dtype=np.float32) * 5
    return rng.integers(0, np.iinfo(info.dtype).max, shape, dtype=info.dtype)


@pytest.mark.parametrize("encoding", sorted(ALL_ENCODINGS))
def test_round_trip_every_encoding(encoding):
    arr = sample(encoding)
    data, step = array_to_buffer(arr, encoding)
    assert step == arr.shape[1] * ALL_ENCODINGS[encoding].bytes_per_pixel
    back = buffer_to_array(array.array("B", data), arr.shape[0], arr.shape[1], step, encoding)
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("encoding", sorted(ALL_ENCODINGS))
def test_step_padding_is_skipped(encoding):
    arr = sample(encoding)
    data, step = array_to_buffer(arr, encoding)
    pad = 13
    rows = [data[i * step:(i + 1) * step] + b"\xab" * pad for i in range(arr.shape[0])]
    back = buffer_to_array(b"".join(rows), arr.shape[0], arr.shape[1], step + pad, encoding)
    np.testing.assert_array_equal(back, arr)


def test_byte_layout_matches_sensor_msgs():
    # 16UC1 little-endian: 0x1234 -> bytes 34 12; rgb8 is R, G, B per pixel, row-major.
    data, _ = array_to_buffer(np.array([[0x1234, 1]], np.uint16), "16UC1")
    assert data == b"\x34\x12\x01\x00"
    data, _ = array_to_buffer(np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8), "rgb8")
    assert data == bytes([1, 2, 3, 4, 5, 6])
    data, _ = array_to_buffer(np.array([[1.0]], np.float32), "32FC1")
    assert data == np.float32(1.0).tobytes()  # IEEE754 little-endian 00 00 80 3f
    assert data == b"\x00\x00\x80\x3f"


def test_big_endian_input_is_swapped():
    be = np.array([[1000, 2000]], dtype=">u2").tobytes()
    out = buffer_to_array(be, 1, 2, 4, "16UC1", is_bigendian=True)
    np.testing.assert_array_equal(out, [[1000, 2000]])
    assert out.dtype == np.uint16 and out.dtype.isnative


@pytest.mark.parametrize("kwargs,reason,text", [
    (dict(encoding="yuv422"), "encoding", "unsupported encoding 'yuv422'"),
    (dict(height=0), "empty", "empty image"),
    (dict(step=3), "size", "step 3 < width"),
    (dict(data=b"\x00" * 15), "size", "len(data) = 15 != height 2 x step 8 = 16"),
])
def test_refusals_name_the_problem(kwargs, reason, text):
    args = dict(data=b"\x00" * 16, height=2, width=4, step=8, encoding="16UC1")
    args.update(kwargs)
    with pytest.raises(ImageFormatError) as e:
        buffer_to_array(args.pop("data"), **args)
    assert e.value.reason == reason and text in str(e.value)


def test_depth_units_and_invalid_rules():
    mm = np.array([[0, 1000, 65535]], np.uint16)
    m = depth_to_metres(mm, "16UC1")
    assert np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(1.0) and m[0, 2] == pytest.approx(65.535)
    f = np.array([[0.0, np.nan, np.inf, -np.inf, -1.0, 2.5]], np.float32)
    out = depth_to_metres(f, "32FC1")
    assert np.isnan(out[0, :5]).all() and out[0, 5] == pytest.approx(2.5)
    with pytest.raises(ImageFormatError):
        depth_to_metres(mm, "rgb8")


def test_colour_conversions_to_rgb():
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    np.testing.assert_array_equal(color_to_rgb(rgb, "rgb8"), rgb)
    np.testing.assert_array_equal(color_to_rgb(rgb[:, :, ::-1], "bgr8"), rgb)
    np.testing.assert_array_equal(color_to_rgb(np.array([[[10, 20, 30, 255]]], np.uint8), "rgba8"), rgb)
    np.testing.assert_array_equal(color_to_rgb(np.array([[[30, 20, 10, 255]]], np.uint8), "bgra8"), rgb)
    np.testing.assert_array_equal(color_to_rgb(np.array([[7]], np.uint8), "mono8"), [[[7, 7, 7]]])
