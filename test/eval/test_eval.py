"""Evaluation: dataset readers, eval-dataset, make-bag (sqlite3 and MCAP), eval-bag offline and
live, and bad bags ending with a clear message and a non-zero exit, never a traceback."""
import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest
from clikit import HELD_OUT_DAY, cli  # noqa: E402  (shared with other tests)
from conftest import require_data

from depth_refine_ros.data.bags import BagWriter, Topics, read_bag
from depth_refine_ros.data.datasets import DatasetError, detect_layout, load_dataset
from depth_refine_ros.ros import conversions as conv
from depth_refine_ros.ros.params import SrParams


@pytest.mark.parametrize("sub, layout, unit, lr_key", [
    ("rgbdd", "rgbdd", "m", None), ("rgbdd_real_lr", "rgbdd_real_lr", "m", "native"),
    ("depth_enh", "depth_enh", "level", None), ("depth_enh/nyu_v2_test", "depth_enh_set", "m", None),
    ("middlebury2005", "middlebury2005", "level", "x16"), ("sevenscenes_seq", "sevenscenes", "m", None),
    ("realsense_seq", "generic", "m", None)])
@pytest.mark.unit
def test_every_shared_layout_reads(sub, layout, unit, lr_key):
    root = require_data(sub)
    assert detect_layout(root) == layout
    frames = load_dataset(root, limit=2)
    f = frames[0]
    assert f.unit == unit and f.rgb.dtype == np.uint8 and f.rgb.shape[:2] == f.depth.shape
    assert f.depth.dtype == np.float32 and np.isfinite(f.depth).any() and not (f.depth <= 0).any()
    if lr_key:
        lr = f.lr[lr_key]
        assert lr.shape[0] < f.depth.shape[0] and lr.shape[1] < f.depth.shape[1]
    if layout == "sevenscenes":
        assert f.intrinsics.fx == 585.0 and np.isnan(f.depth).any()  # raw Kinect holes stay holes


@pytest.mark.unit
def test_generic_layout_pairs_by_name_reads_npy_lr_and_intrinsics(tmp_path):
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    (tmp_path / "depth_lr").mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "rgb" / "day1_0001.png"), rgb[..., ::-1])
    depth = np.full((32, 48), 1.5, np.float32)
    depth[0, 0] = 0
    np.save(tmp_path / "depth" / "day1_0001.npy", depth)
    cv2.imwrite(str(tmp_path / "depth_lr" / "day1_0001.png"), np.full((8, 12), 1500, np.uint16))
    (tmp_path / "intrinsics.txt").write_text("40 41 23.5 15.5\n")
    (f,) = load_dataset(tmp_path)
    assert f.group == "day1" and np.array_equal(f.rgb, rgb) and np.isnan(f.depth[0, 0])
    assert f.lr["native"].shape == (8, 12) and f.lr["native"][0, 0] == pytest.approx(1.5)
    assert (f.intrinsics.fx, f.intrinsics.cy) == (40.0, 15.5)
    with pytest.raises(DatasetError, match="no known dataset layout"):
        load_dataset(tmp_path / "rgb")


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_dataset_is_deterministic_and_writes_rows_table_and_panels(tmp_path):
    root = require_data("rgbdd")
    args = ["eval-dataset", "--root", root, "--groups", HELD_OUT_DAY, "--limit", 2, "--scales", 4, 8,
            "--degradations", "bicubic", "tof", "--methods", "bicubic", "guided_filter", "--panels", 1]
    code, log = cli(*args, "--out", tmp_path / "a")
    assert code == 0, log
    code, log = cli(*args, "--out", tmp_path / "b")
    assert code == 0, log
    rows = json.loads((tmp_path / "a" / "metrics.json").read_text())
    again = json.loads((tmp_path / "b" / "metrics.json").read_text())

    def accuracy(rs):  # everything but the timings
        return [{k: v for k, v in r.items() if not k.endswith("_ms")} for r in rs]
    assert accuracy(rows) == accuracy(again)  # same command, same numbers
    assert len(rows) == 2 * 2 * 2
    for r in rows:
        for k in ("dataset", "method", "scale", "degradation", "n_frames", "rmse_cm", "mae_cm", "absrel", "delta1"):
            assert r[k] is not None, (k, r)
        assert r["n_frames"] == 2 and r["unit"] == "m" and 0 < r["rmse_cm"] < 20
    bic = {(r["degradation"], r["scale"]): r["rmse_cm"] for r in rows if r["method"] == "bicubic"}
    assert bic[("bicubic", 8)] > bic[("bicubic", 4)]  # a coarser input is worse
    assert (tmp_path / "a" / "table.md").read_text().count("\n") == 2 + len(rows)
    assert (tmp_path / "a" / "accuracy_vs_scale.png").stat().st_size > 1000
    assert len(list((tmp_path / "a" / "panels").glob("*.png"))) == 2 * 2


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_dataset_reports_disparity_sets_in_levels_and_supplied_inputs(tmp_path):
    root = require_data("middlebury2005")
    code, log = cli("eval-dataset", "--root", root, "--limit", 1, "--scales", 8, "--degradations", "supplied",
                    "--methods", "bicubic", "--panels", 0, "--out", tmp_path)
    assert code == 0, log
    (row,) = json.loads((tmp_path / "metrics.json").read_text())
    assert row["unit"] == "level" and row["rmse_cm"] is None and 0 < row["rmse"] < 30 and row["scale"] == 8


@pytest.mark.unit
def test_eval_dataset_range_limit_scores_only_the_pixels_within_it(tmp_path):
    """``--max-depth``: the standard metrics over the reference pixels within the range, exactly as
    computed by hand; the edge metrics (whole-frame measures) skipped; refused on disparity sets."""
    from depth_refine_ros.core import metrics
    from depth_refine_ros.eval.eval_dataset import evaluate, make_input
    from depth_refine_ros.eval.methods import build_method

    frames = load_dataset(require_data("realsense_seq"), limit=2)
    bicubic = build_method("bicubic")
    (near,) = evaluate(frames, [bicubic], [4], ["bicubic"], tmp_path, panels=0, max_depth_m=2.0)
    (whole,) = evaluate(frames, [bicubic], [4], ["bicubic"], tmp_path, panels=0, edges=False)
    by_hand = []
    for f in frames:
        rgb, lr, gt, _ = make_input(f, "bicubic", 4)
        pred, _ = bicubic.run(rgb, lr, f.intrinsics)
        assert (gt > 2.0).mean() > 0.2  # the limit leaves out a real part of the frame
        by_hand.append(metrics.standard(pred, gt, gt <= 2.0)["rmse"])
    assert near["rmse"] == pytest.approx(float(np.mean(by_hand)), rel=1e-9)
    assert near["max_depth_m"] == 2.0 and near["edge_f"] is None and "max_depth_m" not in whole
    assert near["rmse"] < whole["rmse"]  # the sensor's far range is its noisiest
    with pytest.raises(ValueError, match="metric depth"):
        evaluate(load_dataset(require_data("middlebury2005"), limit=1), [bicubic], [8], ["bicubic"], tmp_path,
                 panels=0, max_depth_m=2.0)


def _boxes_scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb (192, 256, 3) uint8, depth (192, 256) float32 m)``: a wall with three boxes, textured RGB."""
    rng = np.random.default_rng(seed)
    depth = np.full((192, 256), 2.0, np.float32)
    rgb = np.empty((192, 256, 3), np.float32)
    rgb[:] = (120, 130, 140)
    for y0, x0, h, w, z, col in ((30, 40, 70, 60, 1.0, (200, 60, 50)), (110, 150, 60, 80, 1.4, (40, 160, 70)),
                                 (20, 170, 50, 50, 0.7, (60, 70, 210))):
        depth[y0:y0 + h, x0:x0 + w] = z
        rgb[y0:y0 + h, x0:x0 + w] = col
    yy, xx = np.mgrid[:192, :256]
    rgb += (12 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None]
    rgb += rng.normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), depth


@pytest.mark.unit
def test_eval_dataset_leaves_the_callers_methods_as_they_were(tmp_path):
    """``evaluate`` runs a registered method, per pass, as a copy with the pass's fixed shift. The
    caller's methods keep the same pipeline, stages and registration objects, and the registration
    stage is never run. A second call gives the same rows."""
    from depth_refine_ros.core.degrade import degrade
    from depth_refine_ros.core.register import shift_image
    from depth_refine_ros.data.datasets import Frame
    from depth_refine_ros.eval.eval_dataset import evaluate
    from depth_refine_ros.eval.methods import build_method

    frames = []
    for seed in range(5):  # the sensor's depth sits (3, -4) px off the RGB
        rgb, depth = _boxes_scene(seed)
        frames.append(Frame("synthetic", str(seed), "day", rgb, depth,
                            lr={"native": degrade("bicubic", shift_image(depth, 3, -4), 4)}))
    methods = [build_method("bicubic"), build_method("bicubic", registration="auto")]
    given = list(methods)
    before = [(dict(vars(m)), dict(vars(m.pipeline))) for m in methods]
    reg = methods[1].pipeline.registration
    reg_before = dict(vars(reg))

    rows = evaluate(frames, methods, [4], ["supplied"], tmp_path, panels=0)

    by = {r["method"]: r for r in rows}
    assert by["bicubic +reg"]["registration_shift_px"] == [-3, 4]  # the registered pass ran
    assert by["bicubic +reg"]["rmse"] < 0.75 * by["bicubic"]["rmse"]
    assert methods == given and all(a is b for a, b in zip(methods, given, strict=True))
    for m, (m_attrs, pipe_attrs) in zip(methods, before, strict=True):
        assert vars(m).keys() == m_attrs.keys() and all(vars(m)[k] is v for k, v in m_attrs.items())
        assert vars(m.pipeline).keys() == pipe_attrs.keys()
        assert all(vars(m.pipeline)[k] is v for k, v in pipe_attrs.items())
    assert vars(reg).keys() == reg_before.keys() and all(vars(reg)[k] is v for k, v in reg_before.items())
    assert reg.mode == "auto" and reg.fixed == (0, 0) and reg.tracker.last is None  # never run

    def accuracy(rs):  # everything but the timings
        return [{k: v for k, v in r.items() if not k.endswith("_ms")} for r in rs]
    assert accuracy(evaluate(frames, methods, [4], ["supplied"], tmp_path, panels=0)) == accuracy(rows)


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_dataset_depth_max_m_clamps_every_method_as_the_node_does(tmp_path):
    """``--depth-max-m``: every method runs with sr_node's ``depth.max_m`` range clamp (input and
    output beyond it invalid) and the rows record it. On the RealSense stream the far values the
    sensor reports bleed into near pixels through any resampling; clamping them out lowers the
    near-range error."""
    args = ["eval-dataset", "--root", require_data("realsense_seq"), "--limit", 2, "--scales", 4,
            "--methods", "bicubic", "--panels", 0, "--max-depth", 4]
    code, log = cli(*args, "--out", tmp_path / "default")
    assert code == 0, log
    code, log = cli(*args, "--depth-max-m", 4, "--out", tmp_path / "clamped")
    assert code == 0, log
    (default,) = json.loads((tmp_path / "default" / "metrics.json").read_text())
    (clamped,) = json.loads((tmp_path / "clamped" / "metrics.json").read_text())
    assert (default["depth_max_m"], clamped["depth_max_m"]) == (20.0, 4.0)
    assert clamped["rmse"] < 0.8 * default["rmse"], (clamped["rmse"], default["rmse"])


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = require_data("rgbdd")
    out = tmp_path_factory.mktemp("bags")
    for storage in ("sqlite3", "mcap"):
        code, log = cli("make-bag", "--root", root, "--groups", HELD_OUT_DAY, "--frames", 5, "--storage", storage,
                        "--out", out / storage)
        assert code == 0, log
    return out


@pytest.mark.slow  # the depth-refine command in a subprocess
@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_make_bag_writes_what_a_driver_would(bags, storage):
    c = read_bag(bags / storage)
    assert c.storage == storage and len(c.frames) == 5
    assert c.counts == {t: 5 for t in ("rgb/image", "rgb/camera_info", "depth_lr/image", "depth_lr/camera_info",
                                       "depth_gt/image")}
    stamps = [f.stamp_ns for f in c.frames]
    assert np.allclose(np.diff(stamps), 1e9 / 15, atol=1)  # 15 Hz
    f = c.frames[0]
    for m in (f.rgb, f.depth, f.gt, f.rgb_info, f.depth_info):
        assert conv.stamp_ns(m.header) == f.stamp_ns and m.header.frame_id == "camera_color_optical_frame"
    assert (f.rgb.encoding, f.rgb.width, f.rgb.height) == ("rgb8", 512, 384)
    assert (f.depth.encoding, f.depth.width, f.depth.height) == ("16UC1", 128, 96)
    assert (f.depth_info.width, f.depth_info.height) == (128, 96)
    assert f.depth_info.k[0] == pytest.approx(f.rgb_info.k[0] / 4)
    gt = conv.depth_msg_to_metres(f.gt)
    assert f.gt.encoding == "32FC1" and 0.3 < np.nanmedian(gt) < 5


@pytest.mark.slow  # the depth-refine command in a subprocess
@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_eval_bag_offline(bags, storage, tmp_path):
    code, log = cli("eval-bag", bags / storage, "--method", "bicubic", "--compare", "guided_filter",
                    "--scales", 4, 8, "--out", tmp_path / "r", "--out-bag", tmp_path / "refined")
    assert code == 0, log
    summary = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert summary["pairs"] == 5 and summary["mode"] == "offline"
    by = {r["method"]: r for r in summary["rows"]}
    assert by["bicubic"]["n_frames"] == 5 and 0 < by["bicubic"]["rmse_cm"] < 10
    assert {r["scale"] for r in summary["scale_sweep"]} == {4, 8}
    for f in ("report.md", "latency_hist.png", "accuracy_vs_scale.png"):
        assert (tmp_path / "r" / f).stat().st_size > 100
    out = read_bag(tmp_path / "refined", topics=Topics(depth="depth_refined/image"))
    assert len(out.frames) == 5 and out.frames[0].depth.encoding == "32FC1" and out.frames[0].depth.width == 512


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_bag_offline_with_registration(bags, tmp_path):
    code, log = cli("eval-bag", bags / "mcap", "--method", "bicubic", "--compare", "guided_filter",
                    "--registration", "auto", "--scales", 4, "--out", tmp_path)
    assert code == 0, log
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert {r["method"] for r in summary["rows"]} == {"bicubic +reg", "guided_filter +reg"}
    # the sweep re-degrades the (registered) ground truth, so it runs the plain methods
    assert {r["method"] for r in summary["scale_sweep"]} == {"bicubic", "guided_filter"}


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_bag_range_limit_scores_only_the_ground_truth_within_it(bags, tmp_path):
    from depth_refine_ros.core import metrics
    from depth_refine_ros.core.degrade import degrade
    from depth_refine_ros.data.bags import decode
    from depth_refine_ros.eval.methods import build_method

    code, log = cli("eval-bag", bags / "mcap", "--method", "bicubic", "--compare", "--scales", 4,
                    "--max-depth", 2.0, "--out", tmp_path)
    assert code == 0, log
    summary = json.loads((tmp_path / "metrics.json").read_text())
    (row,) = summary["rows"]
    assert summary["scored within (m)"] == 2.0 and row["edge_f"] is None
    frames, _ = decode(read_bag(bags / "mcap", need_rgb=True), lambda m: None)
    bicubic = build_method("bicubic")
    by_hand = []
    for f in frames:
        assert 0.05 < (f.gt > 2.0).mean() < 0.95  # the limit leaves out part of the frame, not all of it
        by_hand.append(metrics.standard(bicubic.run(f.rgb, f.depth_lr, f.intrinsics)[0], f.gt, f.gt <= 2.0)["rmse"])
    assert row["rmse"] == pytest.approx(float(np.mean(by_hand)), rel=1e-9)
    (sweep,) = summary["scale_sweep"]  # the bag's ground truth re-degraded x4, scored within the range too
    by_hand = []
    for f in frames[:5]:
        gt = f.gt[: f.gt.shape[0] // 4 * 4, : f.gt.shape[1] // 4 * 4]
        lr = degrade("bicubic", gt, 4, seed=4)
        by_hand.append(metrics.standard(bicubic.run(f.rgb[: gt.shape[0], : gt.shape[1]], lr)[0], gt, gt <= 2.0)["rmse"])
    assert sweep["scale"] == 4 and sweep["rmse"] == pytest.approx(float(np.mean(by_hand)), rel=1e-9)
    code, log = cli("eval-bag", bags / "mcap", "--max-depth", 0, "--out", tmp_path / "bad")
    assert code == 2 and "positive number of metres" in log


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_bag_offline_with_decimated_sampling(bags, tmp_path):
    code, log = cli("eval-bag", bags / "mcap", "--method", "bicubic", "--compare", "guided_filter",
                    "--sampling", "decimated", "--scales", 4, "--out", tmp_path)
    assert code == 0, log
    summary = json.loads((tmp_path / "metrics.json").read_text())
    rows = {r["method"]: r for r in summary["rows"]}
    assert set(rows) == {"bicubic +decimated", "guided_filter +decimated"}
    assert rows["bicubic +decimated"]["vs_bicubic"] == pytest.approx(0.0)  # compared like with like
    # the sweep degrades the ground truth by bicubic (centred input), so it runs the plain methods
    assert {r["method"] for r in summary["scale_sweep"]} == {"bicubic", "guided_filter"}


@pytest.mark.ros
@pytest.mark.slow
def test_eval_bag_live_with_decimated_sampling_matches_offline(bags, tmp_path):
    code, log = cli("eval-bag", bags / "mcap", "--live", "--method", "bicubic", "--compare", "bicubic",
                    "--sampling", "decimated", "--scales", "--speed", 0.5, "--paced", "--out", tmp_path, timeout=240)
    assert code == 0, log
    node_row, offline_row = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert node_row["method"].startswith("sr_node live") and node_row["method"].endswith(" +decimated")
    assert offline_row["method"] == "bicubic +decimated" and node_row["n_frames"] == 5
    assert node_row["rmse_cm"] == pytest.approx(offline_row["rmse_cm"], rel=1e-4)
    assert node_row["vs_bicubic"] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.ros
@pytest.mark.slow
def test_eval_bag_live_through_sr_node(bags, tmp_path):
    code, log = cli("eval-bag", bags / "mcap", "--live", "--method", "bicubic", "--clouds", "--compare", "bicubic",
                    "--scales", "--speed", 0.5, "--paced", "--out", tmp_path, timeout=240)
    assert code == 0, log
    s = json.loads((tmp_path / "metrics.json").read_text())
    live = s["live"]
    assert live["sent"] == 5 and live["received"] == 5 and live["clouds_received"] == 5, s
    assert live["node_exit_code"] == 0
    node_row, offline_row = s["rows"]
    assert node_row["method"].startswith("sr_node live") and len(node_row) > 5 and node_row["n_frames"] == 5
    # the node runs the same pipeline as the offline path: the same numbers
    assert node_row["rmse_cm"] == pytest.approx(offline_row["rmse_cm"], rel=1e-4)
    assert node_row["median_ms"] > 0


def _write(path, frames, storage="sqlite3"):
    with BagWriter(path, storage) as bag:
        for topic, msg, t in frames:
            bag.write_cdr(topic, *conv.to_cdr(msg), t)


def _img(arr, enc, stamp_s):
    return conv.array_to_image_msg(arr, enc, conv.header_at(stamp_s, "cam"))


def _bad_bags(tmp: pathlib.Path, good: pathlib.Path) -> dict[str, pathlib.Path]:
    rgb = np.zeros((32, 32, 3), np.uint8)
    d = np.full((8, 8), 1000, np.uint16)
    out = {k: tmp / k for k in ("missing_topic", "mismatched_stamps", "unknown_encoding", "empty", "truncated")}
    _write(out["missing_topic"], [("rgb/image", _img(rgb, "rgb8", 1.0), 1)])
    _write(out["mismatched_stamps"], [("rgb/image", _img(rgb, "rgb8", 1.0 + i), i) for i in range(3)]
           + [("depth_lr/image", _img(d, "16UC1", 100.0 + i), i) for i in range(3)])
    bad = _img(d, "16UC1", 1.0)
    bad.encoding = "yuv422_weird"
    _write(out["unknown_encoding"], [("rgb/image", _img(rgb, "rgb8", 1.0), 1), ("depth_lr/image", bad, 1)])
    _write(out["empty"], [])
    shutil.copytree(good, out["truncated"])
    db = next(out["truncated"].glob("*.db3"))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    return out


@pytest.mark.parametrize("case, message", [
    ("missing_topic", "no 'depth_lr/image' topic"), ("mismatched_stamps", "no RGB/depth pair within 50 ms"),
    ("unknown_encoding", "no frame could be decoded"), ("empty", "no 'depth_lr/image' topic"),
    ("truncated", "truncated"), ("does_not_exist", "no such bag")])
@pytest.mark.slow  # the depth-refine command in a subprocess
def test_bad_bags_end_with_a_clear_message(bags, tmp_path, case, message):
    paths = _bad_bags(tmp_path, bags / "sqlite3")
    code, log = cli("eval-bag", paths.get(case, tmp_path / "nope"), "--out", tmp_path / "r")
    assert code == 2, log
    assert message in log and "Traceback" not in log, log


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_eval_bag_refuses_a_node_param_that_an_option_sets(bags, tmp_path):
    """--node-param depth.sampling:=centred with --sampling decimated would label a centred node's row
    +decimated: refused before anything runs."""
    code, log = cli("eval-bag", bags / "mcap", "--live", "--sampling", "decimated",
                    "--node-param", "depth.sampling:=centred", "--out", tmp_path / "r")
    assert code == 2 and "depth.sampling is set by --sampling" in log and "Traceback" not in log, log
    code, log = cli("eval-bag", bags / "mcap", "--live", "--node-param", "temporal.alpha", "--out", tmp_path / "r")
    assert code == 2 and "expected NAME:=VALUE" in log and "Traceback" not in log, log
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # the depth-refine command in a subprocess
def test_make_bag_refuses_clearly(tmp_path, bags):
    code, log = cli("make-bag", "--root", tmp_path, "--out", tmp_path / "b")
    assert code == 2 and "no known dataset layout" in log and "Traceback" not in log
    code, log = cli("make-bag", "--root", require_data("rgbdd"), "--frames", 1, "--out", bags / "sqlite3")
    assert code == 2 and "exists" in log and "Traceback" not in log
    code, log = cli("make-bag", "--root", require_data("depth_enh/lu"), "--frames", 1, "--out", tmp_path / "c")
    assert code == 2 and "not metres" in log and "Traceback" not in log


@pytest.mark.ros
@pytest.mark.slow
def test_demo_replays_the_motorcycle_bag_through_the_live_node(tmp_path):
    """The main job end to end, short: bag from scikit-image's Middlebury scene, live sr_node with
    the node's default (shipped) model, report against bicubic and the classical upsamplers."""
    code, log = cli("demo", "--frames", 4, "--rate", 4, "--out", tmp_path, timeout=300)
    assert code == 0, log
    s = json.loads((tmp_path / "metrics.json").read_text())
    live = s["live"]
    assert live["sent"] == 4 and live["received"] + live["not_answered"] == 4 and live["received"] >= 3, live
    methods = [r["method"] for r in s["rows"]]
    assert methods[0].startswith("sr_node live") and SrParams().model in methods[0]
    assert {"bicubic", "joint_bilateral", "guided_filter", "fgs"} <= set(methods)
    node = s["rows"][0]
    assert 0 < node["rmse_cm"] < 30 and node["coverage"] > 0.9
    for f in ("report.md", "latency_hist.png", "accuracy_vs_scale.png"):
        assert (tmp_path / f).stat().st_size > 100
    assert read_bag(tmp_path / "input_bag").storage == "mcap"
    assert len(read_bag(tmp_path / "refined_bag", topics=Topics(depth="depth_refined/image")).frames) >= 3
