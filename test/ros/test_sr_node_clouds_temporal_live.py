"""sr_node over real DDS: decimated, rate-limited clouds (output.cloud_stride, output.cloud_rate_hz)
and the temporal filter's run-time parameters (temporal.*). Synthetic frames: 64x48 depth -> 256x192."""

import numpy as np
import pytest

from depth_refine_ros.core.cloud import CloudBuilder
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.ros.rig import FRAME, info_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 192, 256, 4
FX = FY = 0.9 * W
CX, CY = W / 2 - 0.5, H / 2 - 0.5


def infos(stamp):
    lr = info_msg(H // S, W // S, FX / S, FY / S, (CX + 0.5) / S - 0.5, (CY + 0.5) / S - 0.5, stamp)
    return info_msg(H, W, FX, FY, CX, CY, stamp), lr


def scene(i: int, rng):
    """A plane at 2 m with a 1 m box that moves 1 low-res pixel per frame, a hole, RGB noise."""
    d = np.full((H // S, W // S), 2.0, np.float32)
    d[10:30, 10 + i:30 + i] = 1.0
    d[40:44, 5:9] = np.nan
    return rng.integers(0, 255, (H, W, 3), np.uint8), d


def prime(rig, rgb, depth, stamp_s, timeout=30.0):
    """Rig.prime with stamps 1 s apart: with output.cloud_rate_hz a cloud 1 ms after the last is not due."""
    keys = []

    def complete():
        return any(k in rig.images and k in rig.infos and (not rig.record_clouds or k in rig.clouds) for k in keys)

    for j in range(int(timeout)):
        keys.append(rig.send(rgb, "rgb8", depth, "32FC1", stamp_s + j, infos(stamp_s + j)))
        if rig.wait_for(complete, 1.0):
            break
    assert complete(), "the node produced no complete output"
    rig.spin(0.3)
    rig.images.clear()
    rig.infos.clear()
    rig.clouds.clear()


def test_decimated_rate_limited_clouds(live_node):
    """cloud_stride 2, cloud_rate_hz 5 and the pcl layout under a 15 Hz stream: depth for every frame, a cloud for
    every third (by stamps), each cloud's stamp a depth stamp, its points the full cloud's [::2, ::2]."""
    # the PCL layout here (the default, packed, is checked in test_sr_node_live.py)
    node, rig = live_node.start("output.cloud_stride:=2", "output.cloud_rate_hz:=5.0", "output.cloud_layout:=pcl")
    rng = np.random.default_rng(0)
    prime(rig, *scene(0, rng), 1_600_000_000.0)
    frames = [scene(i, rng) for i in range(15)]
    stamps = [1_700_000_000 + i / 15 for i in range(15)]
    sent = rig.play([(rgb, "rgb8", d, "32FC1", stamps[i], infos(stamps[i])) for i, (rgb, d) in enumerate(frames)],
                    15.0, pace_s=5.0)
    rig.wait_for(lambda: set(sent) <= set(rig.images), 5)
    rig.spin(1.5)  # one more diagnostics period
    assert set(rig.images) == set(sent), f"refined {len(rig.images)}/{len(sent)}\n{node.log()[-2000:]}"
    assert set(rig.clouds) <= set(rig.images)  # each cloud's stamp is a depth stamp
    order = sorted(sent)
    assert sorted(rig.clouds) == order[::3], (len(rig.clouds), len(order))  # 200 ms apart: every third frame
    assert rig.diag_values().get("frames clouds_skipped_rate") == "10", rig.diag_values()
    builder = CloudBuilder()
    for k, c in rig.clouds.items():
        i = sent[k][0]
        assert (c.height, c.width, c.point_step, c.row_step) == (H // 2, W // 2, 32, 32 * (W // 2))
        assert c.header.frame_id == FRAME and not c.is_dense
        m = rig.images[k][1]
        depth = np.frombuffer(m.data, np.float32).reshape(H, W)
        info = rig.infos[k]
        intr = Intrinsics(info.k[0], info.k[4], info.k[2], info.k[5], info.width, info.height)
        full = builder.build(depth, intr, frames[i][0])
        pts = np.frombuffer(c.data, np.float32).reshape(c.height, c.width, 8)
        np.testing.assert_array_equal(pts, full[::2, ::2])


def set_params(rig, client, **values):
    from rclpy.parameter import Parameter

    fut = client.set_parameters([Parameter(k.replace("__", "."), value=v) for k, v in values.items()])
    assert rig.wait_for(fut.done, 10), "set_parameters timed out"
    return fut.result().results


def test_temporal_filter_parameters_at_run_time(live_node):
    """Off by default; temporal.* change at run time (validated), other parameters stay read-only; with
    the filter on the node's output is the offline pipeline's with the same filter, frame for frame."""
    from rclpy.parameter_client import AsyncParameterClient

    from depth_refine_ros.eval.methods import build_method
    from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipeline

    node, rig = live_node.start(clouds=False)
    rng = np.random.default_rng(1)
    rgb, a = scene(0, rng)
    b = a * np.float32(1.004)  # a change far below delta: smoothed
    rig.prime(rgb, a, "32FC1", 1_600_000_000.0, infos(1_600_000_000.0))
    client = AsyncParameterClient(rig.node, "sr_node")
    assert client.wait_for_services(10.0)

    def refine(depth, t):
        k = rig.send(rgb, "rgb8", depth, "32FC1", t, infos(t))
        assert rig.wait_for(lambda: k in rig.images, 10), node.log()[-2000:]
        m = rig.images[k][1]
        return np.frombuffer(m.data, np.float32).reshape(H, W)

    plain = build_method("bicubic")
    np.testing.assert_array_equal(refine(b, 1_700_000_000.0), plain.run(rgb, b)[0])  # off by default

    bad = set_params(rig, client, temporal__alpha=1.5)
    assert not bad[0].successful and "alpha" in bad[0].reason
    bad = set_params(rig, client, temporal__persistency="sometimes")
    assert not bad[0].successful and "persistency" in bad[0].reason
    bad = set_params(rig, client, temporal__alpha="high")  # floats are declared dynamically typed
    assert not bad[0].successful and "temporal.alpha" in bad[0].reason and "not a number" in bad[0].reason
    assert set_params(rig, client, temporal__alpha=1)[0].successful  # an integer is a number
    ro = set_params(rig, client, backend="torch")
    assert not ro[0].successful and "read-only" in ro[0].reason
    ok = set_params(rig, client, temporal__enable=True, temporal__persistency=7)  # a mode by number
    assert all(r.successful for r in ok)
    ok = set_params(rig, client, temporal__persistency="valid_in_2_of_last_4", temporal__alpha=0.3)
    assert all(r.successful for r in ok)  # each change starts a fresh filter, as in librealsense

    filt = build_sr_pipeline(SrPipelineSpec(temporal=True, temporal_alpha=0.3), warmup=False)
    out_a, out_b = refine(a, 1_700_000_001.0), refine(b, 1_700_000_002.0)
    np.testing.assert_array_equal(out_a, filt.process(rgb, a).depth)
    want_b = filt.process(rgb, b).depth
    np.testing.assert_array_equal(out_b, want_b)
    valid = np.isfinite(want_b)
    assert np.all(out_b[valid] < plain.run(rgb, b)[0][valid])  # smoothed toward the first frame
    rig.spin(1.5)
    assert "alpha 0.3" in rig.diag_values().get("temporal", ""), rig.diag_values()

    assert set_params(rig, client, temporal__enable=False)[0].successful
    np.testing.assert_array_equal(refine(b, 1_700_000_003.0), plain.run(rgb, b)[0])


@pytest.mark.parametrize("override,says", [("temporal.persistency:=sometimes", "persistency"),
                                           ("temporal.alpha:=1.5", "alpha"),
                                           ("output.cloud_stride:=0", "output.cloud_stride"),
                                           ("depth.max_m:=far", "depth.max_m")])
def test_bad_settings_refused_at_start(override, says):
    """A bad temporal.* or cloud setting stops the start with one line naming it (exit 1), even with
    the filter off."""
    import time

    from depth_refine_ros.ros.rig import NodeProcess

    with NodeProcess(override) as node:
        end = time.monotonic() + 60
        while node.alive() and time.monotonic() < end:
            time.sleep(0.1)
        code = node.stop()
        log = node.log()
    assert code == 1 and "cannot start" in log and says in log and "Traceback" not in log, log[-2000:]


def test_an_integer_for_a_float_parameter_is_taken_as_a_number():
    """``-p depth.max_m:=4`` (and ``max_m: 4`` in a params file) reaches the node as an integer; a
    double parameter declared the plain way would refuse it and the node would not start."""
    import time

    from depth_refine_ros.ros.rig import NodeProcess

    with NodeProcess("depth.max_m:=4", "temporal.alpha:=1") as node:
        end = time.monotonic() + 60
        while node.alive() and "sr_node ready" not in node.log() and time.monotonic() < end:
            time.sleep(0.1)
        ready = "sr_node ready" in node.log()
        code = node.stop()
        log = node.log()
    assert ready and code == 0 and "Traceback" not in log, log[-2000:]
