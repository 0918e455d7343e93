"""The networks: shapes for every kind and preset, AdaIN, fusion options, sizes and configs."""
import numpy as np
import pytest
import torch

from depth_refine_ros.models import REGISTRY, build_model, config_from_dict, config_to_dict, preset_config
from depth_refine_ros.models.sr_net import adain

pytestmark = pytest.mark.unit


def test_adain_takes_structure_from_guide_and_statistics_from_depth():
    g = torch.randn(2, 3, 8, 10) * 5 + 2
    d = torch.randn(2, 3, 8, 10) * 0.1 + 0.7
    f = adain(g, d)
    np.testing.assert_allclose(f.mean((2, 3)), d.mean((2, 3)), atol=1e-5)
    np.testing.assert_allclose(f.std((2, 3), unbiased=False), d.std((2, 3), unbiased=False), rtol=1e-3)
    # same structure: per-channel affine of the guide -> correlation 1
    for b in range(2):
        for c in range(3):
            r = np.corrcoef(f[b, c].flatten(), g[b, c].flatten())[0, 1]
            assert r > 0.9999
    # hand-computed on a tiny case
    g1 = torch.tensor([[[[0.0, 2.0]]]])
    d1 = torch.tensor([[[[1.0, 3.0]]]])
    np.testing.assert_allclose(adain(g1, d1, eps=0.0), [[[[1.0, 3.0]]]], atol=1e-6)


def _inputs(kind, h, w):
    return {"sr": (torch.rand(1, 1, h, w), torch.rand(1, 3, h, w)), "depth_sr": (torch.rand(1, 1, h, w),),
            "mono": (torch.rand(1, 3, h, w),), "sddr": (torch.rand(1, 1, h, w), torch.rand(1, 1, h, w))}[kind]


@pytest.mark.parametrize("kind,preset", [(k, p) for k, v in REGISTRY.items() for p in v.presets])
def test_every_preset_builds_and_keeps_shapes(kind, preset):
    model = build_model(kind, preset_config(kind, preset)).eval()
    m = getattr(model, "size_multiple", 4)
    h, w = 2 * m, 3 * m
    with torch.no_grad():
        out = model(*_inputs(kind, h, w))
    outs = out if isinstance(out, tuple) else (out,)
    expect = (h // 2, w // 2) if kind == "mono" else (h, w)
    channels = 2 if getattr(model.cfg, "consistency", False) else 1  # a projection gate's second channel
    for o in outs:
        assert o.shape == (1, channels, *expect) and torch.isfinite(o).all()


def test_full_preset_is_the_papers_size_and_lite_is_small():
    full = build_model("sr", preset_config("sr", "full"))
    lite = build_model("sr", preset_config("sr", "lite"))
    n_full = sum(p.numel() for p in full.parameters())
    n_lite = sum(p.numel() for p in lite.parameters())
    assert 27e6 <= n_full <= 31e6, n_full  # docs/architecture.md, METHODS 1: about 29 M
    assert n_lite < 2.5e6


def test_fusion_options_and_validation():
    x = _inputs("sr", 64, 64)
    torch.manual_seed(0)
    a = build_model("sr", preset_config("sr", "lite", fusion="adain"))
    c = build_model("sr", preset_config("sr", "lite", fusion="concat"))
    assert sum(p.numel() for p in c.parameters()) > sum(p.numel() for p in a.parameters())
    assert c(*x).shape == a(*x).shape
    with pytest.raises(ValueError, match="fusion"):
        preset_config("sr", "lite", fusion="sum")


def test_fresh_sr_net_is_the_global_residual_plus_a_learned_correction():
    """The output is ``depth + head(...)``: zero the head and the input depth comes back exactly."""
    model = build_model("sr", preset_config("sr", "base")).eval()
    torch.nn.init.zeros_(model.head[-1].weight)
    torch.nn.init.zeros_(model.head[-1].bias)
    d, rgb = _inputs("sr", 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(d, rgb), d)


def test_depth_only_net_ignores_rgb_and_prior_variant_runs():
    m = build_model("depth_sr", preset_config("depth_sr", "lite")).eval()
    d = torch.rand(1, 1, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(m(d), m(d, torch.rand(1, 3, 64, 128)))
    p = build_model("sr", preset_config("sr", "lite", guidance="rgb+prior")).eval()
    with torch.no_grad():
        assert p(*_inputs("sr", 64, 128)).shape == (1, 1, 64, 128)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_config_round_trip(kind):
    for preset in REGISTRY[kind].presets:
        cfg = preset_config(kind, preset)
        assert config_from_dict(kind, config_to_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown"):
        config_from_dict(kind, {"no_such_field": 1})
