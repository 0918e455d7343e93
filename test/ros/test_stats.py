"""RefineStats (the package's own message): msg/RefineStats.msg vs what the nodes fill, the low-res
residual, the generated type, and what a node does without it."""
from __future__ import annotations

import pathlib
import re
from types import SimpleNamespace

import numpy as np
import pytest

from depth_refine_ros.core.metrics import lowres_residual
from depth_refine_ros.core.upsample import upsample

ROOT = pathlib.Path(__file__).resolve().parents[2]
MSG = ROOT / "msg" / "RefineStats.msg"


def msg_fields() -> dict[str, str]:
    """Field name -> type of msg/RefineStats.msg, read as rosidl reads it (comments and blanks skipped)."""
    out = {}
    for line in MSG.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            typ, name = line.split()[:2]
            out[name] = typ
    return out


@pytest.mark.unit
def test_msg_file_fields_are_the_ones_the_node_fills():
    from depth_refine_ros.ros import stats  # imports without the generated type too

    fields = msg_fields()
    assert tuple(fields) == stats.FIELDS
    assert fields["header"] == "std_msgs/Header"
    assert fields["stage_names"] == "string[]" and fields["stage_ms"] == "float32[]"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", f) for f in fields)  # rosidl's field-name rule
    # the node fills every field: build() assigns each of them (the generated type is checked below)
    src = (ROOT / "depth_refine_ros" / "ros" / "stats.py").read_text()
    body = src[src.index("def build("):]
    for f in fields:
        assert re.search(rf"msg\.{f}\b", body), f"build() never sets {f}"


@pytest.mark.unit
def test_lowres_residual():
    yy, xx = np.mgrid[0:60, 0:80]
    lr = (1.0 + 0.01 * yy + 0.005 * xx).astype(np.float32)
    hr = upsample("bicubic", lr, None, (240, 320))
    assert lowres_residual(hr, lr) < 2e-4  # bicubic keeps a smooth surface's low-res values
    assert lowres_residual(hr + np.float32(0.03), lr) == pytest.approx(0.03, abs=1e-4)  # an offset is its RMSE
    # holes: an invalid low-res pixel is not scored; an all-NaN output footprint is not either
    lr_holes, hr_holes = lr.copy(), hr.copy()
    lr_holes[5:10, 5:10] = np.nan
    hr_holes[100:140, 100:140] = np.nan
    assert lowres_residual(hr_holes, lr_holes) < 2e-4
    # a footprint less than half valid is not scored; one at least half valid is, over its valid part
    hr_part = hr.copy()
    hr_part[0:4, 0:4] = np.nan
    hr_part[0:4, 4:8] = np.nan
    hr_part[0:1, 4:8] = 9.0  # 1 of 4 rows valid, wrong: not scored
    hr_part[0:1, 8:12] = np.nan  # 3 of 4 rows valid, right: scored
    assert lowres_residual(hr_part, lr) < 2e-4
    # a non-integer scale takes the area-matrix path and agrees
    hr3 = upsample("bicubic", lr, None, (150, 200))
    assert lowres_residual(hr3, lr) < 1e-3
    assert lowres_residual(hr3 + np.float32(0.02), lr) == pytest.approx(0.02, abs=1e-3)
    assert np.isnan(lowres_residual(hr, lr[:, :40]))  # different aspect ratio
    assert np.isnan(lowres_residual(np.full_like(hr, np.nan), lr))


@pytest.mark.unit
def test_describe_pipeline():
    from depth_refine_ros.backends import create_backend
    from depth_refine_ros.pipeline.sr import Pipeline
    from depth_refine_ros.ros.stats import coverage, describe_pipeline

    assert describe_pipeline(Pipeline(create_backend("classical"))) == ("bicubic", "", "classical", "fp32")
    net = SimpleNamespace(name="openvino", model=SimpleNamespace(kind="sr", name="sr_lite"),
                          engine=SimpleNamespace(precision="bf16"))
    assert describe_pipeline(SimpleNamespace(backend=net, refiner=object())) == \
        ("sr+sddr", "sr_lite", "openvino", "bf16")
    mono = SimpleNamespace(name="onnxruntime", model=SimpleNamespace(kind="mono", name="mono_small"),
                           engine=SimpleNamespace())
    assert describe_pipeline(SimpleNamespace(mono=mono, refiner=None)) == ("mono", "mono_small", "onnxruntime",
                                                                           "fp32")
    d = np.ones((4, 5), np.float32)
    d[0, :2] = np.nan
    assert coverage(d) == pytest.approx(18 / 20)


@pytest.mark.ros
def test_generated_type_matches_the_msg_file():
    """The generated type (make setup / colcon) is the .msg file's, and build() fills every field."""
    from builtin_interfaces.msg import Time
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header

    from depth_refine_ros.msg import RefineStats
    from depth_refine_ros.ros import stats

    types = RefineStats.get_fields_and_field_types()
    assert tuple(types) == stats.FIELDS
    assert types["stage_names"] == "sequence<string>" and types["stage_ms"] == "sequence<float>"
    lr = np.full((12, 16), 2.0, np.float32)
    depth = np.full((48, 64), 2.0, np.float32)
    depth[0, :8] = np.nan
    header = Header(stamp=Time(sec=5, nanosec=7), frame_id="cam")
    msg = stats.build(header, ("bicubic", "", "classical", "fp32"), "rgb", depth, lr.shape, lr, (1, -2),
                      {"decode": 0.5, "total": 3.0}, (7, 2, 1))
    back = deserialize_message(serialize_message(msg), RefineStats)
    assert back.header == header and back.mode == "rgb" and back.method == "bicubic" and back.model == ""
    assert (back.input_height, back.input_width, back.output_height, back.output_width) == (12, 16, 48, 64)
    assert back.scale == 4.0 and list(back.stage_names) == ["decode", "total"]
    np.testing.assert_allclose(back.stage_ms, [0.5, 3.0])
    assert back.coverage == pytest.approx(1 - 8 / (48 * 64))
    assert back.lowres_residual_m == pytest.approx(0.0, abs=1e-6)
    assert (back.shift_dy_px, back.shift_dx_px) == (1, -2)
    assert (back.frames_published, back.frames_dropped, back.frames_rejected) == (7, 2, 1)
    nan = stats.build(header, ("mono", "m", "onnxruntime", "fp32"), "rgb", depth, depth.shape, None, (0, 0),
                      {}, (0, 0, 0))
    assert np.isnan(nan.lowres_residual_m) and nan.scale == 1.0


class _BrokenTypeSupport(type):
    # as rosidl generates it: _TYPE_SUPPORT and a classmethod on the metaclass (Jazzy's rclpy reads both there)
    _TYPE_SUPPORT = None

    @classmethod
    def __import_type_support__(cls):
        raise ImportError("libdepth_refine_ros__rosidl_typesupport_c.so: cannot open shared object file")


class _Unloadable(metaclass=_BrokenTypeSupport):
    """A generated message whose type support does not load (built for another venv)."""

    _TYPE_SUPPORT = None


@pytest.mark.ros
@pytest.mark.parametrize("broken", ["not_generated", "type_support"])
def test_node_starts_without_the_generated_message(broken, monkeypatch, capfd):
    """A checkout where the message was never generated, or its type support does not load: one clear
    warning, no stats topic, the node's other outputs as usual."""
    import rclpy

    from depth_refine_ros.ros import stats
    from depth_refine_ros.ros.sr_node import SrNode

    if broken == "not_generated":
        monkeypatch.setattr(stats, "RefineStats", None)
        monkeypatch.setattr(stats, "IMPORT_ERROR", "ModuleNotFoundError: No module named 'depth_refine_ros.msg'")
    else:
        monkeypatch.setattr(stats, "RefineStats", _Unloadable)
    if not rclpy.ok():
        rclpy.init()
    node = SrNode()
    try:
        assert node.pub_stats is None
        topics = [t for t, _ in node.get_publisher_names_and_types_by_node(node.get_name(), node.get_namespace())]
        assert "/depth_refined/image" in topics and "/depth_refined/stats" not in topics
    finally:
        node.stop()
        node.destroy_node()
    err = capfd.readouterr().err
    assert "no per-frame statistics on depth_refined/stats" in err and "make setup" in err
    assert ("No module named" if broken == "not_generated" else "cannot open shared object") in err
