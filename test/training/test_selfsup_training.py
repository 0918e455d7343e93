"""``depth-refine-train selfsup``: the self-supervised losses (METHODS 5) and a tiny end-to-end run.

Unit checks of Auto-Blur, Ambiguity-Masking, SSIM and the view-synthesis warp; then a few steps
on 4 frames each of ../shared/data/sevenscenes_seq (known poses) and realsense_seq (pose net),
export, and the exported model loaded by the runtime's monocular pipeline gives finite depth.
"""
import json
import math

import numpy as np
import pytest
import torch
from conftest import require_data
from depth_refine_training import selfsup as ss
from depth_refine_training import selfsup_losses as L

from depth_refine_ros.data.modeldir import load_model_dir
from depth_refine_ros.models import preset_config
from depth_refine_ros.models.export import write_random_model_dir


def _checkerboard(h: int = 32, w: int = 48, cell: int = 1) -> torch.Tensor:
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((yy // cell) + (xx // cell)) % 2).astype(np.float32)
    return torch.from_numpy(board)[None, None].repeat(1, 3, 1, 1)


@pytest.mark.unit
def test_auto_blur_keeps_flat_images_and_blurs_checkerboards():
    flat = torch.full((1, 3, 32, 48), 0.4)
    assert torch.allclose(L.auto_blur(flat), flat)
    img = torch.full((1, 3, 32, 48), 0.5)
    img[..., 8:24, 16:32] = _checkerboard()[..., 8:24, 16:32]   # a high-frequency patch on a flat field
    out = L.auto_blur(img)
    w = L.auto_blur_weight(img)
    assert w[..., 16, 24] > 0.6 and w[..., 2, 2] == 0
    assert torch.equal(out[..., :4, :], img[..., :4, :])          # far from the patch: untouched
    inner = (slice(None), slice(None), slice(12, 20), slice(20, 28))
    # blurring a +-0.5 checkerboard brings it towards its mean 0.5
    assert (out[inner] - 0.5).abs().mean() < 0.5 * (img[inner] - 0.5).abs().mean()


@pytest.mark.unit
def test_ambiguity_flags_a_ramp_not_a_step():
    x = torch.arange(48, dtype=torch.float32)
    ramp = (0.15 * (x - 20)).clamp(0, 1).expand(1, 3, 16, 48).contiguous()   # 0 -> 1 over ~7 px
    a = L.ambiguity(ramp)
    assert (a[..., 22:26] >= L.AMBIGUITY_THRESH).all()          # inside the ramp: 3 * 0.15 = 0.45
    assert (a[..., :18] == 0).all() and (a[..., 30:] == 0).all()
    step = (x >= 24).float().expand(1, 3, 16, 48).contiguous()
    assert (L.ambiguity(step) == 0).all()


@pytest.mark.unit
def test_ssim_of_an_image_with_itself_is_one():
    img = torch.rand(2, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(L.ssim(img, img), torch.ones_like(img), atol=1e-5)
    assert L.photometric(img, img).abs().max() < 1e-5
    assert L.ssim(img, 1 - img).mean() < 0.5


@pytest.mark.unit
def test_warp_with_identity_pose_and_constant_depth_reproduces_the_image():
    img = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(1))
    k = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    depth = torch.full((1, 1, 24, 32), 2.0)
    out, inside = L.warp(img, depth, k, k, torch.eye(4)[None])
    assert inside.all() and torch.allclose(out, img, atol=1e-5)
    # a crop of the target warped from the whole source is that crop
    out, _ = L.warp(img, depth[..., :10, :12], k, k, torch.eye(4)[None], offset=(5.0, 7.0))
    assert torch.allclose(out, img[..., 7:17, 5:17], atol=1e-5)
    # a pure sideways translation t shifts by fx * t / depth pixels
    t = torch.eye(4)[None]
    t[0, 0, 3] = 2.0 / 30.0                                          # 1 px at 2 m, fx 30
    out, inside = L.warp(img, depth, k, k, t)
    assert torch.allclose(out[..., :, :-1], img[..., :, 1:], atol=1e-4)


@pytest.mark.unit
def test_pose_params_round_trip():
    aa = torch.tensor([[0.0, 0.0, math.pi / 2]])
    r = L.axis_angle_to_matrix(aa)[0]
    assert torch.allclose(r @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)
    assert torch.allclose(L.pose_from_params(torch.zeros(1, 3), torch.zeros(1, 3)), torch.eye(4)[None])


@pytest.mark.unit
def test_split_holds_out_the_last_frames():
    tr, val = ss.split(300, 0.2)
    assert (tr.start, tr.stop, val.start, val.stop) == (0, 240, 240, 300)
    assert ss.targets(tr, 5) == list(range(5, 235))


@pytest.mark.unit
def test_a_few_steps_export_and_run(tmp_path, capsys):
    seven = require_data("sevenscenes_seq")
    rs = require_data("realsense_seq")
    # the tiny preset (input 96 x 128) keeps this inside a CI budget; the code path is the shipped model's
    init = tmp_path / "mono_tiny"
    write_random_model_dir("mono", preset_config("mono", "tiny"), init, preset="tiny")
    out = tmp_path / "run"
    rc = ss.main([f"data=[{seven}, {rs}]", f"init={init}", "limit=4", "stride=10",
                  "gap=1", "holdout=0.25", "steps=4", "batch=2", "crop=[64, 96]",
                  "auto_blur=true", "ambiguity_mask=true", f"out={out}", "threads=1"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 4 and (out / "last.pt").is_file() and (out / "log.csv").is_file()
    assert np.isfinite(result["metrics"]["mean"]["absrel"])
    md = load_model_dir(result["export"])
    tr = md.card.training
    assert md.kind == "mono" and tr["status"] == "trained" and "self-supervised" in tr["method"]
    assert tr["flags"]["auto_blur"] and tr["flags"]["ambiguity_mask"]
    assert set(tr["held_out"]) == {"sevenscenes_seq", "realsense_seq"}
    assert "ASSUMED" in tr["intrinsics"]["realsense_seq"] and "pose net" in tr["poses"]["realsense_seq"]
    assert tr["stages"][-1]["steps"] == 4 and tr["validation_start_model"]["mean"]

    from depth_refine_ros.pipeline.factory import MonoPipelineSpec, build_mono_pipeline

    pipe = build_mono_pipeline(MonoPipelineSpec("onnxruntime", str(md.path), device="cpu", threads=1), warmup=False)
    rgb = ss.load_sequence(seven, (120, 160), limit=1).rgb[0]
    depth = pipe.process(rgb).depth
    assert depth.shape == (120, 160) and np.isfinite(depth).mean() > 0.99


@pytest.mark.unit
def test_shipped_selfsup_model_is_intact_and_beat_its_start_on_held_out_frames():
    md = load_model_dir("mono_small_selfsup")  # verifies every file's size and sha256 against the card
    assert md.kind == "mono" and "model_zoo" in str(md.path)
    tr = md.card.training
    assert "self-supervised" in tr["method"] and tr["flags"]["auto_blur"] and tr["flags"]["ambiguity_mask"]
    assert tr["stages"][0]["from"] == "mono_small" and "held_out" in tr and "intended_use" in tr
    for seq in ("sevenscenes_seq", "realsense_seq"):
        new, start = tr["validation"][seq], tr["validation_start_model"][seq]
        assert new["absrel"] < start["absrel"] and new["rmse_m"] < start["rmse_m"] and new["delta1"] > start["delta1"]
