"""An imported Depth Anything model as the SR net's frozen ``rgb+prior`` (issue 26, item 4;
docs/foundation_models.md): a tiny random-weight checkpoint is imported, an SR net trains two steps with it
as its prior through ``depth-refine-train sr``, is exported, and runs through ONNX Runtime and OpenVINO;
the prior's weights never move, and the torch backend refuses the model with the reason."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, require_data

from depth_refine_ros.models import preset_config


@pytest.mark.unit
def test_prior_import_config_is_checked():
    from depth_refine_ros.models import build_model
    from depth_refine_ros.models.sr_net import ImportedPriorError

    with pytest.raises(ValueError, match="needs guidance 'rgb\\+prior'"):
        preset_config("sr", "faster", prior_import="some/dir")
    cfg = preset_config("sr", "faster", guidance="rgb+prior", prior_import="some/dir")
    assert cfg.prior is None  # no MonoDepthNet beside the imported prior
    with pytest.raises(ImportedPriorError, match="transformers, which the runtime never imports"):
        build_model("sr", cfg)
    # the presets and the embedded MonoDepthNet prior are unchanged
    assert preset_config("sr", "faster").prior_import == ""
    assert preset_config("sr", "lite", guidance="rgb+prior").prior is not None


def _run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "training"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Import a tiny Depth Anything, train an SR net two steps with it as the prior (the real CLI), export it."""
    pytest.importorskip("transformers")
    from foundationkit import run_import, save_checkpoint

    root = tmp_path_factory.mktemp("prior")
    (root / "src").mkdir()
    assert run_import(save_checkpoint(root / "src"), root / "da", "--no-parity") == 0
    run = root / "run"
    _run([sys.executable, "-m", "depth_refine_training.cli", "sr", "--config",
          str(ROOT / "training" / "configs" / "tiny_cpu.yaml"), f"out={run}", f"data={require_data('rgbdd')}",
          "preset=faster", f"model_overrides={{guidance: rgb+prior, prior_import: {root / 'da'}, prior_stride: 2}}",
          "workers=0", "val_limit=1", "patch=64", "batch=2", "steps=2", "val_every=2"])
    _run([sys.executable, "-m", "depth_refine_training.cli", "export", str(run / "last.pt"), str(root / "model")])
    return root


@pytest.mark.unit
@pytest.mark.slow
def test_the_prior_stays_frozen_while_the_sr_net_trains(trained):
    import torch
    from safetensors.torch import load_file

    from depth_refine_ros.models import build_model
    from depth_refine_ros.models.foundation import load_imported

    ck = torch.load(trained / "run" / "last.pt", map_location="cpu", weights_only=False)
    state = ck["model"]
    src = load_imported(trained / "da").state_dict()
    prior = {k[len("prior.graph."):]: v for k, v in state.items() if k.startswith("prior.graph.")}
    assert prior.keys() == src.keys() and len(prior) > 50
    assert all(torch.equal(prior[k], src[k]) for k in src)  # not one weight moved
    # ...while the SR net's own weights did: the head's last conv starts at zero
    cfg = ck["model_config"]
    assert cfg["prior_import"] == str(trained / "da") and cfg["prior"] is None
    fresh = build_model("sr", preset_config("sr", "faster", guidance="rgb+prior")).state_dict()
    last = [k for k in fresh if k.startswith("head.") and k.endswith(".weight")][-1]
    assert not fresh[last].any() and state[last].any()
    assert ck["prior"]["name"] == "da" and ck["prior"]["licence"] == "apache-2.0"
    exported = load_file(str(trained / "model" / "model.safetensors"))
    assert all(torch.equal(exported["prior.graph." + k], src[k]) for k in src)


@pytest.mark.unit
@pytest.mark.slow
def test_the_exported_graph_runs_without_transformers_on_both_backends(trained):
    """One ONNX graph with the prior inside: ONNX Runtime and OpenVINO run it as any SR model, equal to the
    torch net that training rebuilds (random weights: shapes, finite values and parity only)."""
    import torch

    from depth_refine_ros.backends import create_model_backend
    from depth_refine_ros.core import net_input
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.models.export import WEIGHTS

    sys.path.insert(0, str(ROOT / "training"))
    from depth_refine_training.foundation_prior import build_sr

    md = load_model_dir(trained / "model")
    assert md.kind == "sr" and md.card.config["prior_import"] and md.card.training["prior"]["kind"] == "mono"
    rng = np.random.default_rng(3)
    hw = (120, 160)
    rgb = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
    lr = (1 + rng.random((30, 40))).astype(np.float32)
    from safetensors.torch import load_file

    net = build_sr("sr", md.card.config)
    net.load_state_dict(load_file(str(md.path / WEIGHTS)))
    feeds, scale, _ = net_input.sr_inputs(lr, rgb, hw, md.size_multiple, True)
    with torch.no_grad():
        ref = net.eval()(torch.from_numpy(feeds["depth"]), torch.from_numpy(feeds["rgb"]))[0, 0].numpy()
    ref = ref[: hw[0], : hw[1]] * scale
    for backend in ("onnxruntime", "openvino"):
        if backend == "openvino":
            pytest.importorskip("openvino")
        be = create_model_backend(backend, str(md.path), kinds=("sr",), threads=1)
        d = be.infer({"depth_lr": lr, "rgb": rgb}, hw)["depth"]
        assert d.shape == hw and np.isfinite(d).all()
        assert np.max(np.abs(d - ref)) < 1e-3 * np.ptp(ref) + 1e-5, backend


@pytest.mark.unit
@pytest.mark.slow
def test_torch_backend_refuses_an_sr_net_with_an_imported_prior(trained):
    from depth_refine_ros.backends import BackendError, create_model_backend

    with pytest.raises(BackendError, match="embeds the imported foundation model .* transformers, which the runtime "
                                           "never imports"):
        create_model_backend("torch", str(trained / "model"), kinds=("sr",))
