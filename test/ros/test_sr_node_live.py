"""sr_node over real DDS: started as its own process, fed RGB-D-D frames at 15 Hz (512x384, x4)."""

import re
import time

import numpy as np
import pytest
from conftest import require_data
from frames import load_rgbdd

from depth_refine_ros.core.register import shift_image
from depth_refine_ros.data.paths import downsample_mm
from depth_refine_ros.eval.methods import build_method
from depth_refine_ros.ros.rig import FRAME, info_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 384, 512, 4
FX = FY = 0.9 * W
CX, CY = W / 2 - 0.5, H / 2 - 0.5


def infos(stamp, rgb=True):
    lr = info_msg(H // S, W // S, FX / S, FY / S, (CX + 0.5) / S - 0.5, (CY + 0.5) / S - 0.5, stamp)
    return (info_msg(H, W, FX, FY, CX, CY, stamp) if rgb else None, lr)


def cloud_points(msg, n_floats):
    return np.frombuffer(msg.data, np.float32).reshape(msg.height, msg.width, n_floats)


@pytest.fixture(scope="module")
def frames():
    return load_rgbdd(require_data("rgbdd"), 20, S)


def run_stream(rig, frames, use_rgb_info=True, hole_frame=3):
    """Stream ``frames`` at 15 Hz; returns depth stamp (ns) -> (index, low-res input, ground truth).

    Paced (each frame after the previous one's answer, up to 5 s): on a normal machine the node keeps
    up and this is a steady 15 Hz stream; on a loaded one the test still checks every output rather
    than the machine's speed (the latest-frame policy rightly thins a stream it cannot keep up with).
    """
    period = 1 / 15
    # warm the node (first-use imports and buffers) so the stream below measures steady state
    run_stream.primed = rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0,
                                  infos(1_600_000_000.0, use_rgb_info))
    inputs = [lr.copy() for _, lr, _ in frames]
    if 0 <= hole_frame < len(inputs):
        inputs[hole_frame][10:20, 30:50] = 0  # invalid input block
    stamps = [1_700_000_000 + i * period for i in range(len(frames))]
    sent = rig.play([(rgb, "rgb8", inputs[i], "16UC1", stamps[i], infos(stamps[i], use_rgb_info))
                     for i, (rgb, _, _) in enumerate(frames)], 15.0, pace_s=5.0)
    rig.wait_for(lambda: set(sent) <= set(rig.images) and set(sent) <= set(rig.clouds), 5)
    times = sorted(t for _, t in sent.values())
    run_stream.achieved_hz = (len(times) - 1) / max(times[-1] - times[0], 1e-3)  # what the node was sent
    return {k: (i, inputs[i], frames[i][2]) for k, (i, _) in sent.items()}


def test_outputs_formats_stamps_geometry_and_diagnostics(frames, live_node):
    node, rig = live_node.start()
    sent = run_stream(rig, frames)
    rig.spin(1.5)  # one more diagnostics period
    assert set(rig.images) == set(sent), f"refined {len(rig.images)}/{len(sent)}\n{node.log()[-2000:]}"
    assert set(rig.infos) == set(sent) and set(rig.clouds) == set(sent)
    rmse = []
    for k, (i, lr, gt) in sent.items():
        m = rig.images[k][1]
        assert (m.encoding, m.height, m.width, m.step) == ("32FC1", H, W, W * 4)
        assert m.header.frame_id == FRAME
        d = np.frombuffer(m.data, np.float32).reshape(H, W)
        invalid_hr = np.kron(lr == 0, np.ones((S, S), bool))
        assert np.isnan(d[invalid_hr]).all() and np.isfinite(d[~invalid_hr]).all()
        if i != 3:
            ok = (gt > 0) & ~invalid_hr  # a few ground-truth pixels are 0 (no data)
            rmse.append(np.sqrt(np.mean((d[ok] - gt[ok]) ** 2)))
        info = rig.infos[k]
        assert (info.height, info.width) == (H, W) and info.header.frame_id == FRAME
        np.testing.assert_allclose(info.k, [FX, 0, CX, 0, FY, CY, 0, 0, 1])
        c = rig.clouds[k]
        # the default layout, packed: x, y, z, rgb in 16 bytes
        assert (c.height, c.width, c.point_step, c.is_dense) == (H, W, 16, False)
        assert c.header.frame_id == FRAME and [f.name for f in c.fields] == ["x", "y", "z", "rgb"]
        assert [f.offset for f in c.fields] == [0, 4, 8, 12]
        pts = cloud_points(c, 4)
        np.testing.assert_array_equal(pts[..., 2], d)
        u = np.arange(W)[None, :]
        v = np.arange(H)[:, None]
        np.testing.assert_allclose(pts[..., 0], (u - CX) * d / FX, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pts[..., 1], (v - CY) * d / FY, rtol=1e-5, atol=1e-6)
        rgb = frames[i][0]
        packed = pts[..., 3].view(np.uint32)
        r, g, b = (int(c) for c in rgb[100, 200])
        assert packed[100, 200] == (r << 16 | g << 8 | b)
    # classical bicubic: same accuracy as bicubic of the input (sanity of units and alignment)
    assert np.mean(rmse) < 0.05
    diag = rig.diag_values()
    assert diag["backend"] == "classical/bicubic"
    # the reported input rate counts the frames over (at most) the 5 s window up to the latest one:
    # at least the stream's frames over 5 s, and never more than the rate they were sent at (paced by
    # the machine's speed); the priming frame's idle gap before the stream lowers it, never raises it
    rate = float(diag["rate_hz depth_lr/image"])
    assert 0.8 * len(sent) / 5.0 <= rate <= 1.35 * run_stream.achieved_hz, (rate, len(sent), run_stream.achieved_hz)
    assert "latency_ms total (median/p95)" in diag
    # + the priming frames: at least the one that came back, at most all sent (slow discovery can take
    # several, and an early one the node received but whose output we had not matched yet still counts)
    assert len(sent) + 1 <= int(diag["frames published"]) <= len(sent) + run_stream.primed, (diag, run_stream.primed)
    assert diag["frames dropped"] == "0" and diag["frames rejected"] == "0"
    live_node.stop()


def test_xyz_cloud_and_intrinsics_scaled_from_depth_camera_info(frames, live_node):
    """Also a calibrated registration offset (fixed): the classical result moved by exactly that."""
    node, rig = live_node.start(
        "output.cloud_type:=xyz", "registration.mode:=fixed", "registration.shift_dx_px:=3",
        "registration.shift_dy_px:=-1", name="rig_xyz")
    sent = run_stream(rig, frames[:6], use_rgb_info=False, hole_frame=-1)
    assert set(rig.images) == set(sent) and set(rig.clouds) == set(sent), node.log()[-2000:]
    rig.spin(1.2)
    assert rig.diag_values()["registration"] == "fixed (dy, dx) = (-1, 3) px"
    bicubic = build_method("bicubic")
    for k, (i, lr, _) in sent.items():
        ref, _ = bicubic.run(frames[i][0], lr.astype(np.float32) / 1000)
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        np.testing.assert_allclose(d, shift_image(ref, -1, 3), rtol=1e-6)
    for k in sent:
        info = rig.infos[k]
        # LR intrinsics scaled x4 with half-pixel alignment give back the HR ones
        np.testing.assert_allclose(info.k, [FX, 0, CX, 0, FY, CY, 0, 0, 1], rtol=1e-6)
        c = rig.clouds[k]
        assert c.point_step == 12 and [f.name for f in c.fields] == ["x", "y", "z"]
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        np.testing.assert_array_equal(cloud_points(c, 3)[..., 2], d)
    live_node.stop()


def test_decimated_sampling_puts_a_decimating_driver_s_depth_back_on_the_rgb_grid(frames, live_node):
    """A driver keeping every 4th pixel (``depth[::4, ::4]``): with ``depth.sampling:=decimated`` the
    node's output is the offline pipeline's with that setting, and closer to the truth than the
    same upsampler taking the input as centred (1.5 px off the RGB)."""
    node, rig = live_node.start("output.cloud_type:=none", "depth.sampling:=decimated", name="rig_dec",
                                clouds=False)
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    dec = [(rgb, np.round(gt[::S, ::S] * 1000).astype(np.uint16), gt) for rgb, _, gt in frames[:6]]
    stamps = [1_700_000_000 + i / 5 for i in range(len(dec))]
    sent = rig.play([(rgb, "rgb8", lr, "16UC1", stamps[i], infos(stamps[i]))
                     for i, (rgb, lr, _) in enumerate(dec)], 5.0, pace_s=5.0)
    rig.spin(0.5)
    live_node.stop()
    assert set(rig.images) == set(sent)
    told, plain = build_method("bicubic", depth_sampling="decimated"), build_method("bicubic")
    for k, (i, _) in sent.items():
        rgb, lr, gt = dec[i]
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        offline, _ = told.run(rgb, lr.astype(np.float32) / 1000)
        np.testing.assert_allclose(d, offline, atol=1e-6, equal_nan=True)
        centred, _ = plain.run(rgb, lr.astype(np.float32) / 1000)
        ok = (gt > 0) & np.isfinite(d) & np.isfinite(centred)
        rmse = [float(np.sqrt(np.mean((x[ok] - gt[ok]) ** 2))) for x in (d, centred)]
        assert rmse[0] < 0.85 * rmse[1], rmse


def test_auto_registration_finds_and_undoes_a_misregistered_depth_stream(frames, live_node):
    """A driver whose depth sits 6 px right of its RGB: the node's tracked shift (background
    estimates) finds it, diagnostics report it, and later outputs come out moved back."""
    node, rig = live_node.start(
        "output.cloud_type:=none", "registration.mode:=auto", "registration.every_n:=1", "registration.window:=5",
        name="rig_reg", clouds=False)
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    off = [(rgb, downsample_mm(shift_image(gt, 0, 6), S), gt) for rgb, _, gt in frames[:12]]
    stamps = [1_700_000_000 + i / 5 for i in range(len(off))]
    sent = rig.play([(rgb, "rgb8", lr, "16UC1", stamps[i], infos(stamps[i]))
                     for i, (rgb, lr, _) in enumerate(off)], 5.0, pace_s=5.0)
    rig.spin(1.2)
    diag = rig.diag_values()
    live_node.stop()
    assert set(rig.images) == set(sent)
    m = re.match(r"auto \(dy, dx\) = \((-?\d+), (-?\d+)\) px", diag["registration"])
    assert m, diag["registration"]
    dy, dx = int(m.group(1)), int(m.group(2))
    # truth (0, -6); an estimate is good to 1-2 px (here (-1, -7): RGB-D-D frames pull it by ~1 px)
    assert abs(dy) <= 2 and abs(dx + 6) <= 2, diag["registration"]
    bicubic = build_method("bicubic")
    k, (i, _) = max(sent.items())  # the last frame: the tracker has settled
    _, lr, gt = off[i]
    d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
    plain, _ = bicubic.run(frames[i][0], lr.astype(np.float32) / 1000)
    ok = (gt > 0) & np.isfinite(d) & np.isfinite(plain)
    rmse = [float(np.sqrt(np.mean((x[ok] - gt[ok]) ** 2))) for x in (d, plain)]
    assert rmse[0] < 0.8 * rmse[1], rmse  # moved back onto the RGB grid: closer to the truth


def test_cropped_and_binned_camera_info_gives_the_output_intrinsics(frames, live_node):
    """camera_info as image_proc's ``crop_decimate`` (REP 104) sends it: the full sensor's K, width
    and height, the crop in ``roi``, the decimation in ``binning``. The output camera_info describes
    the output image itself (no ROI, no binning), first from the depth's camera_info alone, then from
    the RGB's (told apart by its distortion, which the output copies), and the cloud uses it."""
    ox, oy = 48, 24  # the crop's offset on a (W + 96) x (H + 48) sensor

    def sensor_info(stamp, binning, d0=0.0):
        msg = info_msg(H + 2 * oy, W + 2 * ox, FX, FY, CX + ox, CY + oy, stamp)
        msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = ox, oy, W, H
        msg.binning_x = msg.binning_y = binning
        msg.d = [d0, 0.0, 0.0, 0.0, 0.0]
        return msg

    node, rig = live_node.start("output.cloud_type:=xyz", name="rig_roi")
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, (None, sensor_info(1_600_000_000.0, S)))
    # three frames with the depth's camera_info alone
    stamps = [1_700_000_000 + i / 5 for i in range(3)]
    sent = rig.play([(frames[i][0], "rgb8", frames[i][1], "16UC1", t, (None, sensor_info(t, S)))
                     for i, t in enumerate(stamps)], 5.0, pace_s=5.0)
    # then frames with the RGB's too, until one comes back with it: the node's rgb/camera_info reader
    # may match the rig's writer only after a few of them (Fast DDS discovers each direction on its
    # own, and a volatile reader never gets what came before it matched; failed in CI with three)
    # paced at 5 Hz for up to 30 s (a discovery message resent), so the bound is time, not frames
    end, j = time.monotonic() + 30.0, 3
    while time.monotonic() < end:
        t0, t = time.monotonic(), 1_700_000_000 + j / 5
        i = j % len(frames)
        k = rig.send(frames[i][0], "rgb8", frames[i][1], "16UC1", t, (sensor_info(t, 1, d0=0.01), sensor_info(t, S)))
        sent[k] = (j, t0)
        rig.wait_for(lambda k=k: k in rig.infos and k in rig.clouds, 5.0)
        if k in rig.infos and rig.infos[k].d[0] == 0.01:
            break
        rig.spin(max(0.0, t0 + 0.2 - time.monotonic()))
        j += 1
    rig.wait_for(lambda: set(sent) <= set(rig.infos) and set(sent) <= set(rig.clouds), 5)
    live_node.stop()
    assert set(rig.infos) == set(sent) and set(rig.clouds) == set(sent), node.log()[-2000:]
    assert "ignoring" not in node.log()
    for k, (j, _) in sent.items():
        info = rig.infos[k]
        assert (info.height, info.width, info.binning_x, info.binning_y) == (H, W, 0, 0)
        assert (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) == (0, 0, 0, 0)
        np.testing.assert_allclose(info.k, [FX, 0, CX, 0, FY, CY, 0, 0, 1], rtol=1e-6)
        if j < 3:
            assert info.d[0] == 0.0  # no RGB camera_info yet: the depth's
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        pts = cloud_points(rig.clouds[k], 3)
        u = np.arange(W)[None, :]
        np.testing.assert_allclose(pts[..., 0], (u - CX) * d / FX, rtol=1e-5, atol=1e-6)
    assert rig.infos[max(sent)].d[0] == 0.01, f"no camera_info from the RGB's in {len(sent) - 3} frames (30 s)"
