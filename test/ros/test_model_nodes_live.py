"""The nodes with networks, over real DDS: sr_node through both CPU backends, the depth-only switch
when RGB stops, a corrupt model refused at start-up, and mono_node's metric fit."""
import shutil

import numpy as np
import pytest
from conftest import require_data
from frames import load_rgbdd
from modelkit import make_model_dir, make_overfit_mono

from depth_refine_ros.ros.params import SrParams
from depth_refine_ros.ros.rig import FRAME, NodeProcess, info_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 384, 512, 4
FX = 0.9 * W


def infos(stamp):
    lr = info_msg(H // S, W // S, FX / S, FX / S, (W / 2) / S - 0.5, (H / 2) / S - 0.5, stamp)
    return (info_msg(H, W, FX, FX, W / 2 - 0.5, H / 2 - 0.5, stamp), lr)


@pytest.fixture(scope="module")
def frames():
    return load_rgbdd(require_data("rgbdd"), 10, S)


@pytest.fixture(scope="module")
def models(tmp_path_factory, frames):
    root = tmp_path_factory.mktemp("node_models")
    out = {k: make_model_dir(root, k, p) for k, p in (("sr", "lite"), ("depth_sr", "lite"))}
    out["mono"] = make_overfit_mono(root, frames)
    return out


def stream(rig, frames, t0, rgb=True, rate=15.0, pace_s=10.0):
    """Publish ``frames`` at ``rate`` at most, each after the previous one's answer (up to ``pace_s``).

    Paced, so that "every frame is answered" holds on a slow or loaded machine too: a fixed-rate
    stream that outruns the model is (rightly) thinned by the latest-frame policy.
    """
    out = []
    for i, (im, lr, _) in enumerate(frames):
        stamp = t0 + i / rate
        out.append((im if rgb else None, "rgb8", lr, "16UC1", stamp, infos(stamp)))
    return rig.play(out, rate, pace_s=pace_s)


def test_sr_node_defaults_run_the_shipped_model_and_beat_bicubic(frames, live_node):
    """config/sr.yaml as shipped: backend auto picks a CPU engine for the shipped default model
    (`SrParams().model`; OpenVINO where installed), and its output is more accurate than bicubic on
    these frames."""
    from depth_refine_ros.eval.methods import build_method

    node, rig = live_node.start(match_s=60, shipped_default=True, clouds=False)
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    sent = stream(rig, frames[1:7], 1_700_000_000.0, rate=5.0)
    rig.spin(1.2)
    assert set(rig.images) == set(sent), node.log()[-3000:]
    backend = rig.diag_values()["backend"]
    assert backend.split("/")[0] in ("openvino", "onnxruntime") and f"/{SrParams().model} " in backend, backend
    bicubic = build_method("bicubic")
    err, err_bicubic = [], []
    for k, (i, _) in sent.items():
        rgb, lr, gt = frames[1 + i]
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        ref, _ = bicubic.run(rgb, lr.astype(np.float32) / 1000)
        ok = (gt > 0) & np.isfinite(d) & np.isfinite(ref)
        err.append(np.sqrt(np.mean((d[ok] - gt[ok]) ** 2)))
        err_bicubic.append(np.sqrt(np.mean((ref[ok] - gt[ok]) ** 2)))
    assert np.mean(err) < np.mean(err_bicubic), (err, err_bicubic)
    live_node.stop()


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_sr_node_runs_a_model_through_each_cpu_backend(frames, models, backend, live_node):
    node, rig = live_node.start(f"backend:={backend}", f"model:={models['sr']}", match_s=60)
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    lrs = [lr.copy() for _, lr, _ in frames]
    lrs[2][10:20, 30:50] = 0
    sent = stream(rig, [(im, lrs[i], gt) for i, (im, _, gt) in enumerate(frames)], 1_700_000_000.0, rate=5.0)
    rig.wait_for(lambda: set(sent) <= set(rig.images) and set(sent) <= set(rig.clouds), 10)
    rig.spin(1.2)
    assert set(rig.images) == set(sent), node.log()[-3000:]
    assert set(rig.clouds) == set(sent), node.log()[-3000:]
    for k, (i, _) in sent.items():
        m = rig.images[k][1]
        assert (m.encoding, m.height, m.width, m.header.frame_id) == ("32FC1", H, W, FRAME)
        d = np.frombuffer(m.data, np.float32).reshape(H, W)
        hole = np.kron(lrs[i] == 0, np.ones((S, S), bool))
        assert np.isnan(d[hole]).all() and np.isfinite(d[~hole]).mean() > 0.99
        c = rig.clouds[k]
        assert (c.height, c.width, c.point_step) == (H, W, 16)  # xyzrgb, packed (the default)
    diag = rig.diag_values()
    assert diag["backend"].startswith(f"{backend}/sr_lite") and diag["mode"] == "guided"
    live_node.stop()


@pytest.mark.parametrize("backend, named", [("onnxruntime", True), ("torch", True), ("auto", False)])
def test_sr_node_switches_to_depth_only_and_back(frames, models, backend, named, live_node):
    """RGB stops: the node refines depth alone with ``depth_only.model`` (a named model, or the
    default ``auto``: the shipped depth_sr_distilled on the node's backend) and switches back."""
    from depth_refine_ros.pipeline.factory import DEFAULT_DEPTH_ONLY_MODEL

    only_model = (f"depth_only.model:={models['depth_sr']}",) if named else ()
    node, rig = live_node.start(
        f"backend:={backend}", f"model:={models['sr']}", *only_model,
        "depth_only.rgb_timeout_s:=1.5", match_s=60)
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    guided = stream(rig, frames[:4], 1_700_000_000.0, rate=5.0)
    rig.spin(2.0)  # an idle gap (longer than rgb_timeout_s) alone switches nothing
    # RGB stops while depth goes on: the depth-only frames of the first rgb_timeout_s wait in
    # the sync queue (unanswered: the pacing gives up on each after 1.2 s, so 2 frames); after
    # that the node refines depth alone. The pace stays under rgb_timeout_s: a longer gap in
    # the depth stream would (by design) restart the count.
    sent_only = stream(rig, (frames[4:] * 4)[:22], 1_700_000_010.0, rgb=False, rate=5.0, pace_s=1.2)
    only = dict(list(sent_only.items())[12:])
    rig.wait_for(lambda: set(only) <= set(rig.images), 10)
    rig.spin(1.2)
    d_mode = rig.diag_values()
    back = stream(rig, frames[:3], 1_700_000_020.0, rate=5.0)
    rig.wait_for(lambda: set(back) <= set(rig.images), 10)
    rig.spin(1.2)
    g_mode = rig.diag_values()
    log = live_node.stop()
    assert set(guided) | set(only) | set(back) <= set(rig.images), log[-3000:]
    for k in only:  # depth-only output keeps the last RGB size and the input header
        m = rig.images[k][1]
        assert (m.height, m.width, m.header.frame_id) == (H, W, FRAME)
        assert np.isfinite(np.frombuffer(m.data, np.float32)).mean() > 0.99
        assert rig.clouds[k].point_step == 12  # xyz (packed): no colour without RGB
    expected = "depth_sr_lite" if named else DEFAULT_DEPTH_ONLY_MODEL
    assert d_mode["mode"] == "depth_only" and expected in d_mode["depth_only_backend"], d_mode["depth_only_backend"]
    # the 2 frames of the first rgb_timeout_s (sent 1.2 s apart) are not refined alone
    assert len(only) <= int(d_mode["frames depth_only"]) <= len(sent_only) - 2
    assert g_mode["mode"] == "guided" and int(g_mode["frames mode_switches"]) == 2
    assert "depth-only mode" in log and "guided mode" in log


def test_corrupt_model_is_refused_at_start_with_the_file_named(models, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(models["sr"], bad)
    (bad / "model.onnx").write_bytes((bad / "model.onnx").read_bytes()[:1000])
    with NodeProcess("backend:=onnxruntime", f"model:={bad}") as node:
        node.proc.wait(60)
        log = node.log()
        code = node.stop()
    assert code == 1, log
    assert "cannot start" in log and "model.onnx" in log and "expected" in log and "Traceback" not in log


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_sr_node_sddr_refinement(frames, models, tmp_path_factory, backend, live_node):
    """One-stage SDDR on sr_node's output: refiner + monocular high-res inference, each backend."""
    sddr = make_model_dir(tmp_path_factory.mktemp("sddr"), "sddr", "base")
    node, rig = live_node.start(
        f"backend:={backend}", f"model:={models['sr']}", "refine.mode:=one_stage", f"refine.model:={sddr}",
        f"refine.mono_model:={models['mono']}", match_s=90)
    sent = stream(rig, frames[:3], 1_700_000_000.0, rate=0.7, pace_s=30.0)  # ~1 s a frame
    rig.wait_for(lambda: set(sent) <= set(rig.images), 15)
    rig.spin(1.2)
    diag = rig.diag_values()
    log = live_node.stop()
    assert set(rig.images) == set(sent), log[-3000:]
    for k in sent:
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        assert np.isfinite(d).mean() > 0.99 and 0.3 < np.nanmedian(d) < 6.0
    assert "sddr one_stage" in diag["refinement"] and "latency_ms sddr (median/p95)" in diag


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_mono_node_fits_metric_scale_to_low_res_depth(frames, models, backend, live_node):
    node, rig = live_node.start(
        f"model:={models['mono']}", f"backend:={backend}", "metric.mode:=fit", executable="mono_node",
        prefix="depth_mono", match_s=60)
    # the node's camera_info subscription can match after its image one: the first frame would
    # then (correctly) go out without camera_info and cloud; prime until one complete frame
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    sent = stream(rig, frames, 1_700_000_000.0, rate=5.0)
    rig.wait_for(lambda: set(sent) <= set(rig.images) and set(sent) <= set(rig.clouds), 10)
    rig.spin(1.2)
    diag = rig.diag_values("monocular depth")
    log = live_node.stop()
    assert set(rig.images) == set(sent), log[-3000:]
    for k, (i, _) in sent.items():
        m = rig.images[k][1]
        d = np.frombuffer(m.data, np.float32).reshape(H, W)
        gt = frames[i][2]
        # the fit puts the relative prediction at the scene's metric depth
        assert abs(np.nanmedian(d) - np.nanmedian(gt)) < 0.1 * np.nanmedian(gt)
        assert rig.infos[k].height == H and rig.clouds[k].point_step == 16
    assert diag["output"] == "fit" and float(diag["fit residual_m"]) > 0 and float(diag["fit points"]) > 1000
    assert "latency_ms fit_residual_cm (median/p95)" in diag
