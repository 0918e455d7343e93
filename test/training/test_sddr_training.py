"""SDDR self-distillation training (training/depth_refine_training/sddr.py): the pseudo-label and
loss functions on a synthetic step edge, and a few real training steps -> export -> runtime stage."""
import numpy as np
import pytest
import torch
from conftest import require_data
from depth_refine_training import sddr
from modelkit import make_model_dir

from depth_refine_ros.models.sddr import gradient_magnitude


class _IdentityRefiner:
    """A refiner that returns its ``low`` input and its gradient magnitude (the SddrBackend outputs)."""

    def infer(self, inputs, out_hw):
        low = inputs["low"]
        g = gradient_magnitude(torch.from_numpy(low)[None, None])[0, 0].numpy()
        return {"depth": low.copy(), "edges": g}


def _step(h=48, w=64, col=30):
    d = np.ones((h, w), np.float32)
    d[:, col:] = 2.0
    return d


@pytest.mark.unit
def test_pseudo_label_keeps_a_step_edge_where_it_is():
    d0 = _step()
    g0 = gradient_magnitude(torch.from_numpy(d0)[None, None])[0, 0].numpy()
    wins = {}
    for s in (1, 2, 3):
        for ys, xs in sddr.windows(d0.shape, s + 1, 0.25):
            wins[(ys.start, ys.stop, xs.start, xs.stop)] = d0[ys, xs].astype(np.float16)
    gs, ds = sddr.pseudo_label(_IdentityRefiner(), d0, g0, wins)
    assert gs.shape == d0.shape and np.isfinite(gs).all()
    # the edge stays on the step's two columns (central differences) and dominates the flat parts
    assert set(np.argmax(gs, axis=1)) <= {29, 30}
    assert gs[:, 29:31].min() > 10 * np.abs(gs[:, :25]).max()
    np.testing.assert_allclose(ds, d0, atol=1e-4)


@pytest.mark.unit
def test_edge_regions_are_the_top_pixels_in_connected_pieces():
    gs = np.zeros((40, 40), np.float32)
    gs[5:35, 10] = 1.0  # one vertical edge
    gs[20, 25:35] = 0.8  # one horizontal edge
    lab = sddr.edge_regions(gs, top_frac=0.05)
    assert lab.max() == 2 and (lab[5:35, 10] == lab[5, 10]).all() and lab[5, 10] != lab[20, 30]


@pytest.mark.unit
def test_grad_loss_is_zero_for_an_affine_copy_and_positive_for_a_blurred_edge():
    gs = torch.zeros(1, 1, 32, 32)
    gs[0, 0, :, 14:17] = torch.tensor([0.3, 1.0, 0.5])  # a sharp edge profile across three columns
    lab = torch.from_numpy(sddr.edge_regions(gs[0, 0].numpy(), 0.1)[None].astype(np.int64))
    assert lab.max() == 1 and (lab[0, :, 14:17] == 1).all()
    affine = 0.3 * gs + 0.01
    assert sddr.edge_region_loss(affine, gs, lab).item() < 1e-6
    # the same edge blurred sideways: no affine map of it gives the sharp profile back
    blurred = torch.nn.functional.avg_pool2d(gs, (1, 3), 1, (0, 1)).requires_grad_()
    loss = sddr.edge_region_loss(blurred, gs, lab)
    assert loss.item() > 0.02
    loss.backward()
    assert torch.isfinite(blurred.grad).all() and blurred.grad.abs().sum() > 0


@pytest.mark.unit
def test_fusion_loss_wants_omega_to_rise_with_the_pseudo_label():
    gs = torch.linspace(0, 1, 16 * 16).view(1, 1, 16, 16)
    rising = [gs.expand(1, 4, 16, 16).clone(), torch.nn.functional.avg_pool2d(gs, 2).expand(1, 4, 8, 8).clone()]
    falling = [1 - m for m in rising]
    assert sddr.fusion_loss(rising, gs, 0.02, 4).item() == 0.0
    assert sddr.fusion_loss(falling, gs, 0.02, 4).item() > 0.5


@pytest.mark.unit
@pytest.mark.slow
def test_a_few_steps_export_and_run_in_the_runtime_stage(tmp_path):
    from depth_refine_ros.backends import create_model_backend
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.pipeline.sddr import SddrRefinement

    data = require_data("rgbdd")
    # an untrained tiny monocular model (input 96 x 128) keeps the 2 x 29 cached window inferences cheap
    mono = make_model_dir(tmp_path, "mono", "tiny")
    cfg = sddr.SddrTrainConfig(data=str(data), mono=str(mono), hw=(96, 128), steps=2, batch=2, max_frames=2,
                               val_limit=1,
                               val_every=2, out=str(tmp_path / "run"), cache=str(tmp_path / "cache.pt"))
    result = sddr.train(cfg)
    assert result["step"] == 2 and np.isfinite(result["metrics"]["one_stage_absrel"])
    md = sddr.export(tmp_path / "run" / "last.pt", tmp_path / "model")
    md = load_model_dir(str(md.path))
    train = md.card.training
    assert md.kind == "sddr" and train["steps"] == 2 and "L_grad" in train["losses"]
    assert set(train["held_out_groups"]) == set(cfg.val_groups)
    val = sddr.build_cache(cfg)["val"][0]
    stage = SddrRefinement(create_model_backend("onnxruntime", str(md.path), kinds=("sddr",), threads=1),
                           create_model_backend("onnxruntime", cfg.mono, kinds=("mono",), threads=1), "one_stage")
    out = stage.apply(val["low_m"], val["rgb"])
    assert out.shape == val["low_m"].shape == (96, 128) and np.isfinite(out).all()
