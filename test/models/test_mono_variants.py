"""The monocular net's ablation variants (docs/ablations.md, Seed 004): shapes, sizes, cards, ONNX."""
import numpy as np
import pytest
import torch
from conftest import ROOT

from depth_refine_ros.models import build_model, config_from_dict, config_to_dict, preset_config
from depth_refine_ros.models.mono_net import MONO_ABLATION, MonoConfig

pytestmark = pytest.mark.unit


def _variant(arm: str, preset: str = "tiny") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("mono", preset_config("mono", preset, **MONO_ABLATION[arm])).eval()


@pytest.mark.parametrize("arm", list(MONO_ABLATION))
def test_variant_builds_and_predicts_positive_half_resolution_depth(arm):
    with torch.no_grad():
        out = _variant(arm)(torch.rand(1, 3, 96, 128))
    assert out.shape == (1, 1, 48, 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and (out > 0).all()


def test_baseline_encoder_strides_to_one_32nd_and_dfe_stays_at_one_quarter():
    sizes = {}
    for arm in ("baseline", "dfe"):
        model = _variant(arm)
        shapes = []
        hooks = [s.register_forward_hook(lambda _m, _i, o, acc=shapes: acc.append(o.shape[-2:])) for s in model.stages]
        with torch.no_grad():
            model(torch.rand(1, 3, 96, 128))
        for h in hooks:
            h.remove()
        sizes[arm] = [tuple(s) for s in shapes]
    assert sizes["baseline"] == [(24, 32), (12, 16), (6, 8), (3, 4)]
    assert sizes["dfe"] == [(24, 32)] * 4


def test_variants_differ_only_by_the_afb_weights():
    n = {arm: sum(p.numel() for p in _variant(arm, "small").parameters()) for arm in MONO_ABLATION}
    assert n["baseline"] == n["dfe"] and n["dfe_afb"] == n["full"]
    assert 0 < n["full"] - n["dfe"] < 0.01 * n["full"]
    assert not any(k.startswith("afb.") for k in _variant("dfe").state_dict())


def test_default_config_is_the_full_network_with_the_shipped_state_dict():
    """Every shipped mono model (and the SR net's embedded prior) must load unchanged."""
    from safetensors.torch import load_file

    assert preset_config("mono", "small", **MONO_ABLATION["full"]) == preset_config("mono", "small")
    shipped = ROOT / "depth_refine_ros" / "model_zoo" / "mono_small" / "model.safetensors"
    state = load_file(str(shipped))
    own = build_model("mono", preset_config("mono", "small")).state_dict()
    assert set(own) == set(state)
    assert all(own[k].shape == state[k].shape for k in own)


@pytest.mark.parametrize("arm", list(MONO_ABLATION))
def test_variant_config_round_trips_through_a_card_dict(arm):
    cfg = preset_config("mono", "tiny", **MONO_ABLATION[arm])
    assert config_from_dict("mono", config_to_dict(cfg)) == cfg
    # YAML overrides come as lists (model_overrides=...): the same config as tuples
    listed = {k: list(v) if isinstance(v, tuple) else v for k, v in MONO_ABLATION[arm].items()}
    assert preset_config("mono", "tiny", **listed) == cfg


def test_unknown_fuse_is_rejected():
    with pytest.raises(ValueError, match="fuse"):
        MonoConfig(fuse="concat")


@pytest.mark.parametrize("arm", ["baseline", "dfe"])
def test_variant_exports_to_onnx_with_dynamic_size(arm, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from depth_refine_ros.models.export import load_torch_model, write_model_dir

    model = _variant(arm)
    md = write_model_dir(model, "mono", model.cfg, tmp_path / arm, preset="tiny")
    reloaded = load_torch_model(md)
    sess = ort.InferenceSession(str(md.graph_path), providers=["CPUExecutionProvider"])
    for hw in ((96, 128), (64, 96)):
        x = torch.rand(1, 3, *hw)
        with torch.no_grad():
            ref = reloaded(x).numpy()
        got = sess.run(None, {"rgb": x.numpy()})[0]
        assert got.shape == (1, 1, hw[0] // 2, hw[1] // 2)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
