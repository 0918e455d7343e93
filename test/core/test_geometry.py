"""Intrinsics scaling and organized point clouds (PCL and packed layouts) against hand-computed values."""
import numpy as np
import pytest

from depth_refine_ros.core.cloud import CloudBuilder, fields_for, point_floats
from depth_refine_ros.core.depth import invalid_to_nan, metres_to_mm_u16
from depth_refine_ros.core.intrinsics import Intrinsics

pytestmark = pytest.mark.unit


def test_scaling_is_half_pixel_aligned():
    lr = Intrinsics(fx=100.0, fy=110.0, cx=79.5, cy=59.5, width=160, height=120)
    hr = lr.scaled_to(640, 480)
    assert (hr.fx, hr.fy) == (400.0, 440.0)
    # pixel-centre convention: the image centre stays the image centre
    assert hr.cx == pytest.approx(319.5) and hr.cy == pytest.approx(239.5)
    # a 3-D point projects to LR pixel x_lr and to HR pixel (x_lr + 0.5) * 4 - 0.5
    X, Y, Z = 0.3, -0.2, 2.0
    u_lr, v_lr = lr.fx * X / Z + lr.cx, lr.fy * Y / Z + lr.cy
    u_hr, v_hr = hr.fx * X / Z + hr.cx, hr.fy * Y / Z + hr.cy
    assert u_hr == pytest.approx((u_lr + 0.5) * 4 - 0.5)
    assert v_hr == pytest.approx((v_lr + 0.5) * 4 - 0.5)
    back = hr.scaled_to(160, 120)
    assert back.cx == pytest.approx(lr.cx) and back.fx == pytest.approx(lr.fx)


def test_non_integer_scale_and_matrices():
    k = Intrinsics(fx=200.0, fy=200.0, cx=95.5, cy=71.5, width=192, height=144, tx=-10.0)
    s = k.scaled_to(512, 384)
    assert s.fx == pytest.approx(200 * 512 / 192) and s.tx == pytest.approx(-10 * 512 / 192)
    assert s.k_matrix() == [s.fx, 0, s.cx, 0, s.fy, s.cy, 0, 0, 1]
    assert s.p_matrix()[3] == s.tx and len(s.p_matrix()) == 12


def test_cloud_geometry_layout_and_colour():
    intr = Intrinsics(fx=500.0, fy=400.0, cx=1.5, cy=0.5, width=4, height=2)
    depth = np.array([[1.0, 2.0, np.nan, 4.0], [0.5, 1.5, 2.5, 3.5]], np.float32)
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[0, 1] = (0x12, 0x34, 0x56)
    buf = CloudBuilder().build(depth, intr, rgb)
    fields, step = fields_for("xyzrgb")
    assert step == 32 and buf.shape == (2, 4, 8) and buf.strides[1] == 32
    assert [(f.name, f.offset) for f in fields] == [("x", 0), ("y", 4), ("z", 8), ("rgb", 16)]
    for v in range(2):
        for u in range(4):
            z = depth[v, u]
            if np.isnan(z):
                assert np.isnan(buf[v, u, :3]).all()
                continue
            np.testing.assert_allclose(buf[v, u, :3], [(u - 1.5) * z / 500, (v - 0.5) * z / 400, z], rtol=1e-6)
    raw = buf.tobytes()
    p = 1 * 32  # point (v=0, u=1)
    assert int.from_bytes(raw[p + 16:p + 20], "little") == 0x00123456
    xyz = CloudBuilder().build(depth, intr)
    assert xyz.shape == (2, 4, 4) and fields_for("xyz")[1] == 16


def test_cloud_size_mismatch_refused():
    with pytest.raises(ValueError, match="does not match"):
        CloudBuilder().build(np.ones((3, 3), np.float32), Intrinsics(1, 1, 0, 0, 4, 3))


def test_invalid_rules_and_mm():
    d = np.array([0.0, np.nan, np.inf, 0.01, 1.0, 30.0], np.float32)
    out = invalid_to_nan(d, min_m=0.05, max_m=20.0)
    assert np.isnan(out[[0, 1, 2, 3, 5]]).all() and out[4] == 1.0
    np.testing.assert_array_equal(metres_to_mm_u16(np.array([np.nan, 1.2344, 70.0])), [0, 1234, 0])


@pytest.mark.parametrize("kind", ["xyz", "xyzrgb"])
def test_packed_layout_is_the_pcl_points_without_padding(kind):
    """packed: the same x, y, z (and rgb bits) as pcl, without the padding floats; fields name it."""
    rng = np.random.default_rng(5)
    depth = (1 + rng.random((6, 8))).astype(np.float32)
    depth[2, 3] = np.nan
    rgb = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8) if kind == "xyzrgb" else None
    intr = Intrinsics(5.0, 6.0, 3.5, 2.5, 8, 6)
    pcl = CloudBuilder().build(depth, intr, rgb)
    packed = CloudBuilder().build(depth, intr, rgb, layout="packed")
    fields, step = fields_for(kind, "packed")
    assert packed.shape == (6, 8, step // 4) == (6, 8, point_floats(kind, "packed"))
    keep = [f.offset // 4 for f in fields]  # pcl index of each packed field
    pcl_index = [f.offset // 4 for f in fields_for(kind, "pcl")[0]]
    assert [f.name for f in fields] == [f.name for f in fields_for(kind, "pcl")[0]]
    np.testing.assert_array_equal(packed.view(np.uint32), pcl.view(np.uint32)[..., pcl_index])
    assert keep == list(range(len(fields)))  # packed has no gaps
    with pytest.raises(ValueError, match="cloud layout must be one of pcl, packed"):
        fields_for(kind, "dense")
