"""Clouds for real consumers: the decimated cloud (output.cloud_stride) is exactly the full cloud at
the kept pixels, its message is organized with the right sizes, and output.cloud_rate_hz thins
clouds by the frames' stamps."""

from types import SimpleNamespace

import numpy as np
import pytest

from depth_refine_ros.core.cloud import CloudBuilder
from depth_refine_ros.core.intrinsics import Intrinsics

pytestmark = pytest.mark.unit


def frame(h, w, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 4.0, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.1] = np.nan
    rgb = rng.integers(0, 255, (h, w, 3), np.uint8)
    intr = Intrinsics(0.9 * w, 0.92 * w, w / 2 - 0.3, h / 2 + 0.7, w, h)
    return depth, rgb, intr


@pytest.mark.parametrize("h,w", [(48, 64), (37, 50)])  # divisible and not
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("colour", [False, True])
def test_decimated_cloud_is_the_full_cloud_at_the_kept_pixels(h, w, stride, colour):
    depth, rgb, intr = frame(h, w)
    rgb = rgb if colour else None
    full = CloudBuilder().build(depth, intr, rgb)
    builder = CloudBuilder()
    dec = builder.build(depth, intr, rgb, stride=stride)
    assert dec.shape == (-(-h // stride), -(-w // stride), 8 if colour else 4)
    np.testing.assert_array_equal(dec, full[::stride, ::stride])  # bit for bit, NaN where invalid
    # the same builder (ray cache) then gives the full cloud again
    np.testing.assert_array_equal(builder.build(depth, intr, rgb), full)


def test_decimated_grid_intrinsics_are_fx_over_stride():
    """What 'consistent geometry' means: back-projecting the decimated depth with fx/s, cx/s (pixel j
    of the grid is full pixel j*s) gives the same points, up to float rounding."""
    depth, _, intr = frame(40, 60, 1)
    s = 4
    dec = CloudBuilder().build(depth, intr, stride=s)
    d = depth[::s, ::s]
    u, v = np.meshgrid(np.arange(d.shape[1]), np.arange(d.shape[0]))
    x = (u - intr.cx / s) / (intr.fx / s) * d
    y = (v - intr.cy / s) / (intr.fy / s) * d
    np.testing.assert_allclose(dec[..., 0], x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dec[..., 1], y, rtol=1e-5, atol=1e-6)


def test_stride_checks():
    depth, rgb, intr = frame(10, 12)
    with pytest.raises(ValueError, match="stride"):
        CloudBuilder().build(depth, intr, stride=0)
    with pytest.raises(ValueError, match="out buffer"):
        CloudBuilder().build(depth, intr, out=np.zeros((10, 12, 4), np.float32), stride=2)


def test_decimated_cloud_message_sizes():
    from depth_refine_ros.ros import conversions as conv

    depth, rgb, intr = frame(37, 50)
    buf = conv.CloudBuffer()
    for stride, (h, w) in ((2, (19, 25)), (3, (13, 17)), (1, (37, 50))):
        CloudBuilder().build(depth, intr, rgb, out=buf.view(h, w, 8), stride=stride)
        msg = conv.cloud_to_msg(buf, conv.header_at(1.0, "cam"), "xyzrgb")
        assert (msg.height, msg.width, msg.point_step, msg.row_step) == (h, w, 32, 32 * w)
        assert len(msg.data) == msg.row_step * msg.height and msg.is_dense is False
        pts = np.frombuffer(msg.data, np.float32).reshape(h, w, 8)
        np.testing.assert_array_equal(pts, CloudBuilder().build(depth, intr, rgb)[::stride, ::stride])


def due_pattern(rate_hz, stamps_s):
    """Which frames output.cloud_rate_hz lets a cloud out for (RefineNode._cloud_due, no ROS)."""
    from depth_refine_ros.ros import conversions as conv
    from depth_refine_ros.ros.node_base import RefineNode

    counts = []
    fake = SimpleNamespace(p=SimpleNamespace(cloud_rate_hz=rate_hz), _last_cloud_ns=None,
                           stats=SimpleNamespace(count=counts.append))
    out = [RefineNode._cloud_due(fake, conv.header_at(t, "cam")) for t in stamps_s]
    assert counts.count("clouds_skipped_rate") == out.count(False)
    return out


def test_cloud_rate_by_stamps():
    t30 = [100 + i / 30 for i in range(12)]
    assert due_pattern(0.0, t30) == [True] * 12  # 0: every frame
    assert due_pattern(15.0, t30) == [True, False] * 6  # 30 -> 15 Hz: every second frame, not every third
    assert due_pattern(10.0, t30) == [True, False, False] * 4
    rng = np.random.default_rng(0)
    jitter = [t + rng.uniform(-0.002, 0.002) for t in t30]  # driver stamps a few ms off
    assert due_pattern(15.0, jitter) == [True, False] * 6
    t15 = [100 + i / 15 for i in range(15)]
    got = due_pattern(5.0, t15)
    assert got == [True, False, False] * 5 and sum(got) < len(t15)
    assert due_pattern(100.0, t30) == [True] * 12  # a rate above the input rate: every frame
    # a stamp behind the last cloud's (bag loop) starts over at once
    assert due_pattern(2.0, [100.0, 100.1, 50.0, 50.1, 50.6]) == [True, False, True, False, True]


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_packed_layout_with_stride_is_the_pcl_points_without_padding(stride):
    """The default layout (packed) through the strided path (stride > 1) and the merged one (1)."""
    depth, rgb, intr = frame(37, 50)
    pcl = CloudBuilder().build(depth, intr, rgb, stride=stride)
    packed = CloudBuilder().build(depth, intr, rgb, stride=stride, layout="packed")
    np.testing.assert_array_equal(packed.view(np.uint32), pcl.view(np.uint32)[..., [0, 1, 2, 4]])
    xyz = CloudBuilder().build(depth, intr, stride=stride, layout="packed")
    np.testing.assert_array_equal(xyz.view(np.uint32), pcl.view(np.uint32)[..., :3])


def test_wrapping_a_buffer_in_the_other_layout_is_refused():
    from depth_refine_ros.ros import conversions as conv

    depth, rgb, intr = frame(37, 50)
    packed = CloudBuilder().build(depth, intr, rgb, layout="packed")
    with pytest.raises(ValueError, match="32-byte points"):
        conv.cloud_to_msg(packed, conv.header_at(1.0, "cam"), "xyzrgb", "pcl")
    assert conv.cloud_to_msg(packed, conv.header_at(1.0, "cam"), "xyzrgb", "packed").point_step == 16
