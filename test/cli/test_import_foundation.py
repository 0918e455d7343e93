"""``depth-refine import`` of foundation depth models, without downloading anything.

Tiny random-weight Depth Anything / Prompt Depth Anything checkpoints are built from ``transformers``
configs (a 4-layer, 32-wide ``Dinov2Config`` backbone) and saved with ``save_pretrained``; they go
through the import, the model directory's checks, the ONNX Runtime and OpenVINO backends, and
``mono_node``'s pipeline (the inverse-depth fit). docs/foundation_models.md.
"""
from __future__ import annotations

import numpy as np
import pytest
from foundationkit import APACHE_README, run_import, save_checkpoint  # noqa: F401  (shared with other tests)

from depth_refine_ros.core.foundation import fit_inverse_depth, inverse_to_depth, policy_hw


# ------------------------------------------------------------------------- numpy only
@pytest.mark.unit
def test_policy_keeps_aspect_and_multiple():
    assert policy_hw((480, 640), 518, 14) == (392, 518)
    assert policy_hw((640, 480), 518, 14) == (518, 392)
    assert policy_hw((480, 640), 504, 14) == (378, 504)
    h, w = policy_hw((720, 1280), 518, 14)
    assert w == 518 and h % 14 == 0 and abs(h / w - 720 / 1280) < 14 / 518


@pytest.mark.unit
def test_inverse_depth_fit_recovers_scale_and_shift():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.5, 5.0, (60, 80)).astype(np.float32)  # relative inverse depth
    a, b = 0.37, 0.05
    depth = (1.0 / (a * pred + b)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = np.nan  # sparse target
    bad = rng.random(depth.shape) < 0.05  # flying pixels
    depth[bad] = depth[bad] * 3.0
    f = fit_inverse_depth(pred, depth, min_points=50)
    assert f["scale"] == pytest.approx(a, rel=1e-4) and f["shift"] == pytest.approx(b, abs=1e-5)
    assert f["residual_inv"] < 1e-5 and f["residual_m"] < 1e-4
    assert f["inliers"] < f["points"]  # the outliers were trimmed
    out = inverse_to_depth(pred, f["scale"], f["shift"])
    assert np.allclose(out, 1.0 / (a * pred + b), rtol=1e-4)
    assert np.isnan(fit_inverse_depth(pred, np.full_like(depth, np.nan))["scale"])


# ------------------------------------------------------------------------- with transformers
@pytest.fixture(scope="module")
def tiny_da(tmp_path_factory):
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("da")
    src = save_checkpoint(root / "src")
    assert run_import(src, root / "da_tiny") == 0
    return src, root / "da_tiny"


@pytest.mark.unit
@pytest.mark.slow
def test_import_writes_a_verified_card(tiny_da):
    from depth_refine_ros.cli.import_model import PARITY_TOL
    from depth_refine_ros.data.modeldir import load_model_dir

    _, out = tiny_da
    md = load_model_dir(out)
    c = md.card
    assert c.kind == "mono" and c.units["depth_out"] == "relative_inverse" and c.size_multiple == 14
    assert c.extra["input_size"] == {"policy": "long_side", "long_side": 518, "multiple": 14}
    assert c.extra["imported"]["licence"] == "apache-2.0"
    assert c.extra["imported"]["architecture"] == "DepthAnythingForDepthEstimation"
    assert set(c.files) == {"model.onnx", "model.safetensors", "hf_config.json"}
    assert "ImageNet" in c.normalisation["rgb"] and "1 / depth" in c.normalisation["output"]
    par = c.extra["parity"]
    assert par["sizes"] == [[392, 518], [196, 252]]
    for engine, err in par["measured"].items():
        assert err <= PARITY_TOL[engine]


@pytest.mark.unit
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_run_the_imported_graph_at_any_aspect(tiny_da, backend):
    """The node's backends against transformers itself, on the policy's input size for two cameras."""
    import torch
    from transformers import DepthAnythingForDepthEstimation

    from depth_refine_ros.backends import create_model_backend
    from depth_refine_ros.core import net_input

    if backend == "openvino":
        pytest.importorskip("openvino")
    src, out = tiny_da
    be = create_model_backend(backend, str(out), kinds=("mono",), threads=1)
    model = DepthAnythingForDepthEstimation.from_pretrained(str(src), local_files_only=True).eval()
    rng = np.random.default_rng(1)
    for cam in ((480, 640), (360, 270)):
        rgb = rng.integers(0, 255, (*cam, 3), dtype=np.uint8)
        got = be.infer({"rgb": rgb}, cam)["depth"]
        hw = policy_hw(cam, 518, 14)
        x = torch.from_numpy(net_input.rgb_to_nchw(net_input.resize_rgb(rgb, hw)))
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        with torch.no_grad():
            ref = model(pixel_values=(x - mean) / std).predicted_depth[0].numpy()
        ref = net_input.resize_depth(ref, cam)
        assert got.shape == cam
        assert np.max(np.abs(got - ref)) / np.ptp(ref) < 1e-4


@pytest.mark.unit
@pytest.mark.slow
def test_mono_pipeline_fits_in_inverse_depth(tiny_da):
    """mono_node's pipeline: a depth made from the model's own output with a known inverse-depth scale
    and shift is recovered, and the output is metric."""
    from depth_refine_ros.core import net_input
    from depth_refine_ros.pipeline.factory import MonoPipelineSpec, build_mono_pipeline

    _, out = tiny_da
    pl = build_mono_pipeline(MonoPipelineSpec("onnxruntime", str(out), max_depth_m=100.0, threads=1))
    assert pl.output == "relative_inverse"
    rgb = np.random.default_rng(2).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    rel = pl.process(rgb).depth  # relative output: inverse depth as the model gives it
    a, b = 2.0 / float(np.nanmax(rel)), 0.1
    truth = 1.0 / (a * rel + b)
    # a quarter-size "sensor" depth seeing the same scene (area-averaged, as the pipeline compares)
    depth_lr = 1.0 / (a * net_input.resize_depth(rel, (60, 80)) + b)
    depth_lr[::3, ::5] = np.nan
    res = pl.process(rgb, depth_lr)
    assert res.fit["scale"] == pytest.approx(a, rel=1e-3) and res.fit["shift_inv"] == pytest.approx(b, abs=1e-3)
    assert res.fit["residual_m"] < 1e-3 * np.nanmedian(truth) and res.fit["inliers"] > 0.9 * res.fit["points"]
    err = np.nanmax(np.abs(res.depth - truth) / truth)
    assert err < 1e-3


@pytest.mark.unit
@pytest.mark.slow
def test_metric_checkpoint_is_used_as_metric(tmp_path):
    pytest.importorskip("transformers")
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.pipeline.factory import MonoPipelineSpec, build_mono_pipeline

    src = save_checkpoint(tmp_path / "src", metric=True, readme="")
    assert run_import(src, tmp_path / "m", "--licence", "user-declared") == 0
    md = load_model_dir(tmp_path / "m")
    assert md.card.units["depth_out"] == "metric"
    assert md.card.extra["imported"]["licence"] == "user-declared (declared at import)"
    pl = build_mono_pipeline(MonoPipelineSpec("onnxruntime", str(tmp_path / "m"), threads=1))
    rgb = np.random.default_rng(3).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    plain = pl.process(rgb).depth
    assert 0 < np.nanmax(plain) <= 10.0  # sigmoid x max_depth: metres
    res = pl.process(rgb, np.full((30, 40), 2.0, np.float32))
    assert res.fit["scale"] == 1.0 and res.fit["shift_m"] == 0.0
    np.testing.assert_allclose(res.depth, plain, equal_nan=True)


@pytest.mark.unit
@pytest.mark.slow
def test_prompt_depth_anything_imports_as_prompt_depth(tmp_path):
    pytest.importorskip("transformers")
    from depth_refine_ros.backends import BackendError
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.pipeline.factory import MonoPipelineSpec, build_mono_pipeline

    src = save_checkpoint(tmp_path / "src", prompt=True)
    assert run_import(src, tmp_path / "pda") == 0
    md = load_model_dir(tmp_path / "pda")
    c = md.card
    assert c.kind == "prompt_depth" and c.units == {"depth_in": "metres", "depth_out": "metric"}
    assert md.inputs == ["rgb", "depth"] and "prompt_height" in c.graph["dynamic"]
    assert c.extra["input_size"]["long_side"] == 504 and c.extra["parity"]["sizes"][0] == [378, 504]
    # mono_node refuses it by kind, with the kind named
    with pytest.raises(BackendError, match="prompt_depth"):
        build_mono_pipeline(MonoPipelineSpec("onnxruntime", str(md.path)), warmup=False)


@pytest.fixture(scope="module")
def tiny_pda(tmp_path_factory):
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("pda")
    src = save_checkpoint(root / "src", prompt=True)
    assert run_import(src, root / "pda_tiny") == 0
    return src, root / "pda_tiny"


@pytest.mark.unit
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_sr_pipeline_runs_a_prompt_depth_model(tiny_pda, backend):
    """sr_node's pipeline with an imported Prompt Depth Anything: the low-res depth is the prompt (holes
    filled, fed at its own size), the output is metres at the RGB's size, holes stay NaN, and it equals
    transformers on the same inputs."""
    import torch
    from transformers import PromptDepthAnythingForDepthEstimation

    from depth_refine_ros.core import net_input
    from depth_refine_ros.core.upsample import fill_invalid
    from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipelines

    if backend == "openvino":
        pytest.importorskip("openvino")
    src, out = tiny_pda
    pl, only = build_sr_pipelines(SrPipelineSpec(backend=backend, model=str(out), threads=1, depth_only_model=""),
                                  warmup=False)
    assert pl.backend.model.kind == "prompt_depth" and only.backend.name == "classical"
    rng = np.random.default_rng(5)
    hw = (240, 320)
    rgb = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    lr = 1.0 + 0.02 * xx + 0.01 * yy
    lr[10:14, 20:26] = np.nan  # a hole
    res = pl.process(rgb, lr, None, hw)
    d = res.depth
    assert d.shape == hw and np.isnan(d[44:52, 84:100]).all() and np.isfinite(d).mean() > 0.95
    assert np.nanmin(d) >= np.nanmin(lr) - 1e-3 and np.nanmax(d) <= np.nanmax(lr) + 1e-3  # metres, prompt range
    filled, _ = fill_invalid(lr)
    x = torch.from_numpy(net_input.rgb_to_nchw(net_input.resize_rgb(rgb, policy_hw(hw, 504, 14))))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    model = PromptDepthAnythingForDepthEstimation.from_pretrained(str(src), local_files_only=True).eval()
    with torch.no_grad():
        ref = model(pixel_values=(x - mean) / std, prompt_depth=torch.from_numpy(filled)[None, None]).predicted_depth
    ref = net_input.resize_depth(ref[0].numpy(), hw)
    fin = np.isfinite(d)
    assert np.max(np.abs(d[fin] - ref[fin])) / np.ptp(ref) < 1e-4


@pytest.mark.unit
@pytest.mark.slow
def test_onnx_with_declared_signature(tmp_path):
    """Any ONNX graph: (N, H, W) output, ImageNet-normalised input, declared on the command line."""
    torch = pytest.importorskip("torch")

    from depth_refine_ros.backends import create_model_backend
    from depth_refine_ros.data.modeldir import load_model_dir

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.c(x))[:, 0] + 0.1

    torch.manual_seed(0)
    net = Net().eval()
    src = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 28, 42),), str(src), dynamo=False, input_names=["pixel_values"],
                      output_names=["predicted_depth"], opset_version=18,
                      dynamic_axes={"pixel_values": {2: "h", 3: "w"}, "predicted_depth": {1: "h", 2: "w"}})
    assert run_import(src, tmp_path / "x", "--output-kind", "relative_inverse") == 0
    md = load_model_dir(tmp_path / "x")
    assert md.card.extra["imported"]["declared"]["input"] == "pixel_values"
    assert md.card.extra["imported"]["licence"] == "unknown"
    be = create_model_backend("onnxruntime", str(md.path), kinds=("mono",), threads=1)
    rgb = np.random.default_rng(4).integers(0, 255, (392, 518, 3), dtype=np.uint8)
    got = be.infer({"rgb": rgb}, (392, 518))["depth"]
    x = torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = net((x - mean) / std)[0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert run_import(src, tmp_path / "y") == 1  # no --output-kind: refused


@pytest.mark.unit
def test_unsupported_sources_are_refused(tmp_path, capsys):
    pytest.importorskip("transformers", reason="import needs transformers (a training-side dependency)")
    (tmp_path / "config.json").write_text('{"model_type": "dpt"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert run_import(tmp_path, tmp_path / "out") == 1
    assert "model_type 'dpt' is not supported" in capsys.readouterr().err
    assert run_import(tmp_path / "nothing", tmp_path / "out") == 1


@pytest.mark.unit
@pytest.mark.slow
def test_torch_backend_refuses_an_imported_model(tiny_da):
    from depth_refine_ros.backends import BackendError, create_model_backend

    with pytest.raises(BackendError, match="imported foundation model"):
        create_model_backend("torch", str(tiny_da[1]), kinds=("mono",))


# ------------------------------------------------------------------------- live, over DDS
@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_mono_node_runs_an_imported_model_live(tiny_da, backend, live_node):
    """mono_node with an imported Depth Anything graph, metric.mode fit: metric depth, clouds, and the
    inverse-depth fit's residual in the diagnostics."""
    if backend == "openvino":
        pytest.importorskip("openvino")
    h, w, s = 240, 320, 4
    node, rig = live_node.start(f"model:={tiny_da[1]}", f"backend:={backend}", "metric.mode:=fit",
                                "backend_threads:=1", executable="mono_node", prefix="depth_mono", match_s=90)
    rgb, lr, sent = _stream(rig, h, w, s, 4)
    diag = rig.diag_values("monocular depth")
    log = live_node.stop()
    assert set(rig.images) == set(sent), log[-3000:]
    for k in sent:
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(h, w)
        assert np.isfinite(d).mean() > 0.5 and 1.0 < np.nanmedian(d) < 2.5  # metres: the scene is 1.2-2.2 m
    assert diag["output"] == "fit" and "fit residual_inv" in diag and float(diag["fit points"]) > 1000


def _stream(rig, h: int, w: int, s: int, n: int):
    """Prime the rig, play ``n`` synthetic frames at 5 Hz and wait for their images and clouds;
    returns the frame's RGB, its low-res depth (mm) and the stamps sent."""
    from depth_refine_ros.ros.rig import camera_infos, synthetic_frame

    rgb, lr = synthetic_frame(h, w, s)
    rig.prime(rgb, lr, "16UC1", 1_600_000_000.0, camera_infos(h, w, s, 1_600_000_000.0))
    frames = [(rgb, "rgb8", lr, "16UC1", 1_700_000_000.0 + i / 5, camera_infos(h, w, s, 1_700_000_000.0 + i / 5))
              for i in range(n)]
    sent = rig.play(frames, 5.0, pace_s=20.0)
    rig.wait_for(lambda: set(sent) <= set(rig.images) and set(sent) <= set(rig.clouds), 20)
    rig.spin(1.2)
    return rgb, lr, sent


@pytest.mark.ros
@pytest.mark.slow
def test_sr_node_runs_an_imported_prompt_depth_model_live(tiny_pda, live_node):
    """sr_node with an imported Prompt Depth Anything as its model: metric depth at the RGB's size
    within the prompt's range, and clouds."""
    h, w, s = 240, 320, 4
    node, rig = live_node.start(f"model:={tiny_pda[1]}", "backend:=onnxruntime", "backend_threads:=1",
                                "depth_only.model:=bicubic", match_s=90)
    rgb, lr, sent = _stream(rig, h, w, s, 3)
    log = live_node.stop()
    assert set(rig.images) == set(sent), log[-3000:]
    lo, hi = lr.min() / 1000, lr.max() / 1000
    for k in sent:
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(h, w)
        assert np.isfinite(d).mean() > 0.99 and lo - 1e-3 <= np.nanmin(d) and np.nanmax(d) <= hi + 1e-3
        assert rig.clouds[k].height == h


@pytest.mark.unit
@pytest.mark.slow
def test_training_can_load_the_imported_network(tiny_da):
    """models.foundation.load_imported: the torch network from the model directory alone (for a teacher),
    equal to the directory's ONNX graph."""
    import torch

    from depth_refine_ros.backends import graph_check
    from depth_refine_ros.models.foundation import load_imported

    net = load_imported(tiny_da[1])
    assert not any(p.requires_grad for p in net.parameters())
    x = np.random.default_rng(6).random((1, 3, 56, 84), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = graph_check.run_onnxruntime(tiny_da[1] / "model.onnx", {"rgb": x}, 1)[0]
    assert graph_check.relative_error(ref, got) < 1e-4
