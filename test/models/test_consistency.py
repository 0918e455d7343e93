"""A net with a projection gate (``faster_consistent``): its graph's second channel, the backend's gated
projection onto the low-res samples, the same projection in training, and a net grown from a plain one."""
import numpy as np
import pytest
import torch

from depth_refine_ros.backends import create_backend
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.projection import project_averaged
from depth_refine_ros.models import build_model, preset_config

pytestmark = pytest.mark.unit


def scene(hw=(96, 128)) -> tuple[np.ndarray, np.ndarray]:
    """A tilted plane with a box in front, metres, and an RGB image with the box's edge."""
    yy, xx = np.mgrid[:hw[0], :hw[1]].astype(np.float32)
    depth = 2.0 + 0.004 * yy + 0.002 * xx
    depth[30:70, 40:90] = 1.2
    rgb = np.full((*hw, 3), 90, np.uint8)
    rgb[30:70, 40:90] = 200
    return depth.astype(np.float32), rgb


def test_the_graph_has_a_gate_channel_that_starts_half_open():
    net = build_model("sr", preset_config("sr", "faster_consistent")).eval()
    out = net(torch.rand(1, 1, 64, 64) + 1, torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 2, 64, 64)
    assert torch.allclose(out[:, 1], torch.full_like(out[:, 1], 0.5))


def test_the_backend_projects_by_the_gate(tmp_path):
    """Gate 1 everywhere: the backend's output is the plain estimate projected fully (as
    ``depth.sampling: averaged``); gate 0: the plain estimate."""
    from modelkit import make_model_dir

    d = make_model_dir(tmp_path, "sr", "faster_consistent")
    gt, rgb = scene()
    lr = degrade("bicubic", gt, 4)
    be = create_backend("torch", model=str(d))
    net = be.engine.net  # the torch engine's module: its weights are set here
    last = [m for m in net.head if isinstance(m, torch.nn.Conv2d)][-1]
    for bias, expect_full in ((100.0, True), (-100.0, False)):  # the image-wide logit starts at 0
        with torch.no_grad():
            last.bias[16:] = bias  # the gate's 16 sub-pixel channels (PixelShuffle(4)) saturate
        got = be.infer({"rgb": rgb, "depth_lr": lr}, gt.shape)["depth"]
        with torch.no_grad():
            last.bias[16:] = -100.0
        plain = be.infer({"rgb": rgb, "depth_lr": lr}, gt.shape)["depth"]
        want = project_averaged(plain, lr) if expect_full else plain
        np.testing.assert_allclose(got, want, atol=2e-5)
    assert "projection" in be.last_timings


def test_training_projects_as_the_runtime_does():
    """consistency.project (torch, batched, padded low-res) equals core.projection.project_averaged
    (numpy, the backend's) for each sample, gate and holes included."""
    from depth_refine_training.consistency import project

    rng = np.random.default_rng(0)
    P, samples = 64, []
    for s in (2, 4, 8):
        gt = (1.5 + rng.random((P, P)) * 0.1).astype(np.float32)
        lr = degrade("bicubic", gt, s)
        lr[0, 0] = np.nan
        est = (gt + rng.normal(0, 0.02, gt.shape)).astype(np.float32)
        gate = rng.random(gt.shape).astype(np.float32)
        samples.append((est, gate, lr))
    n = P // 2
    pred = torch.stack([torch.from_numpy(np.stack([e, g])) for e, g, _ in samples])
    lr_pad = torch.zeros(len(samples), 1, n, n)
    valid = torch.zeros(len(samples), 1, n, n, dtype=torch.bool)
    hw = torch.tensor([lr.shape for _, _, lr in samples])
    for i, (_, _, lr) in enumerate(samples):
        from depth_refine_ros.core.upsample import fill_invalid

        filled, ok = fill_invalid(lr)
        lr_pad[i, 0, :lr.shape[0], :lr.shape[1]] = torch.from_numpy(filled)
        valid[i, 0, :lr.shape[0], :lr.shape[1]] = torch.from_numpy(ok)
    got = project(pred, lr_pad, valid, hw).numpy()
    for i, (e, g, lr) in enumerate(samples):
        np.testing.assert_allclose(got[i, 0], project_averaged(e, lr, gate=g), atol=1e-5)


def test_a_net_grown_from_a_plain_one_starts_as_it(tmp_path):
    """training's load_init copies the plain net's head into the leading channels: the estimate channel
    is the plain net's output."""
    from depth_refine_training.trainer import load_init
    from modelkit import make_model_dir

    plain_dir = make_model_dir(tmp_path, "sr", "faster")
    grown = build_model("sr", preset_config("sr", "faster_consistent")).eval()
    assert load_init(grown, str(plain_dir)) > 0
    plain = create_backend("torch", model=str(plain_dir)).engine.net
    d, rgb = torch.rand(1, 1, 64, 64) + 1, torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(grown(d, rgb)[:, :1].numpy(), plain(d, rgb).numpy(), atol=1e-5)


@pytest.mark.parametrize("lr_hw, hr_hw", [((120, 160), (480, 640)), ((45, 60), (120, 160)), ((30, 41), (80, 110))])
def test_the_banded_projection_equals_the_dense_matrices(lr_hw, hr_hw):
    """project_averaged multiplies by row blocks of the averaging matrices; the sums are those of the dense
    ``A`` and ``U`` of projection_matrices, for integer and non-integer ratios, gate and holes included."""
    from depth_refine_ros.core.projection import PROJECTION_STEPS, projection_matrices

    rng = np.random.default_rng(1)
    hr = (rng.random(hr_hw) + 1).astype(np.float32)
    lr = (rng.random(lr_hw) + 1).astype(np.float32)
    gate = rng.random(hr_hw).astype(np.float32)
    lr[2, 3] = np.nan
    a_y, a_x, u_y, u_x = projection_matrices(hr_hw, lr_hw)
    mask = np.isfinite(lr).astype(np.float32)
    filled = np.where(np.isfinite(lr), lr, 0)
    filled[2, 3] = np.nanmean(lr[1:4, 2:5])  # fill_invalid's 3x3 mean of the known neighbours
    x = hr.astype(np.float64)
    for _ in range(PROJECTION_STEPS):
        x = x + gate * (u_y @ ((filled - a_y @ x @ a_x.T) * mask) @ u_x.T)
    np.testing.assert_allclose(project_averaged(hr, lr, gate=gate), x, atol=2e-5)


def test_the_gate_computed_at_the_head_s_size_equals_the_full_size_one():
    """The consistency head splits and squashes its channels before the pixel shuffle (cheaper in OpenVINO); the
    result is the same as shuffling first and splitting after."""
    from depth_refine_ros.models.sr_net import STD_EPS

    torch.manual_seed(0)
    net = build_model("sr", preset_config("sr", "faster_consistent")).eval()
    seen = {}
    net.middle.register_forward_hook(lambda m, i, o: seen.update(bottleneck=o))
    net.head[-2].register_forward_hook(lambda m, i, o: seen.update(q=o))  # the last conv, before the shuffle
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # away from the zero-initialised last layers
        depth, rgb = torch.rand(1, 1, 64, 128) + 1, torch.rand(1, 3, 64, 128)
        out = net(depth, rgb)
        h = torch.nn.functional.pixel_shuffle(seen["q"], 4)
        image_logit = net.gate_image(seen["bottleneck"].mean((2, 3)))[:, :, None, None]
    sd = (depth - depth.mean()).pow(2).mean().sqrt() + STD_EPS
    torch.testing.assert_close(out[:, 0:1], depth + h[:, 0:1] * sd)
    torch.testing.assert_close(out[:, 1:2], torch.sigmoid(image_logit + 4.0 * h[:, 1:2]))
    assert out[:, 1].std() > 0.01  # the gate varies: the comparison is not between constants
