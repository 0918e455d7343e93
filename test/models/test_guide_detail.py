"""A net whose head adds the image's own detail in each cell, times a learned gain (``faster_detail``): a net
grown from a plain one starts as it, the gain acts where it should, and the ONNX graph runs it unchanged."""
import numpy as np
import pytest
import torch

from depth_refine_ros.backends import create_backend
from depth_refine_ros.models import build_model, preset_config

pytestmark = pytest.mark.unit


def test_the_cell_detail_is_grey_level_minus_the_cell_mean():
    net = build_model("sr", preset_config("sr", "faster_detail"))
    rgb = torch.zeros(1, 3, 8, 8)
    rgb[0, :, 1, 2] = 1.0  # one white pixel, row 1 and column 2 of the top-left cell
    with torch.no_grad():
        detail = net.detail(rgb)
    assert detail.shape == (1, 16, 2, 2)
    expected = torch.full((16,), -1 / 16)
    expected[1 * 4 + 2] += 1.0
    torch.testing.assert_close(detail[0, :, 0, 0], expected)
    assert detail[0, :, 1, 1].abs().max() < 1e-6  # a flat cell has no detail


def test_a_net_grown_from_a_plain_one_starts_as_it(tmp_path):
    """The gain starts at zero, so the grown net is the plain net until training moves it."""
    from depth_refine_training.trainer import load_init
    from modelkit import make_model_dir

    plain_dir = make_model_dir(tmp_path, "sr", "faster")
    grown = build_model("sr", preset_config("sr", "faster_detail")).eval()
    assert load_init(grown, str(plain_dir)) > 0
    plain = create_backend("torch", model=str(plain_dir)).engine.net
    d, rgb = torch.rand(1, 1, 64, 64) + 1, torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(grown(d, rgb).numpy(), plain(d, rgb).numpy(), atol=1e-6)


def test_the_gain_moves_the_output_by_the_cell_detail():
    """Gain g in every cell: the output moves by g x detail x the depth's standard deviation, pixel by pixel."""
    net = build_model("sr", preset_config("sr", "faster_detail")).eval()
    last = [m for m in net.head if isinstance(m, torch.nn.Conv2d)][-1]
    d, rgb = torch.rand(1, 1, 64, 64) + 1, torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = net(d, rgb)
        last.bias[-1] = 0.5
        after = net(d, rgb)
        sd = (d - d.mean()).pow(2).mean().sqrt() + 1e-3
        want = 0.5 * torch.nn.functional.pixel_shuffle(net.detail(rgb), 4) * sd
    torch.testing.assert_close(after - before, want, atol=1e-5, rtol=1e-4)


def test_the_graph_matches_torch(tmp_path):
    from modelkit import make_model_dir

    d = make_model_dir(tmp_path, "sr", "faster_detail")
    net = create_backend("torch", model=str(d)).engine.net
    depth = np.random.default_rng(0).uniform(1, 2, (1, 1, 64, 128)).astype(np.float32)
    rgb = np.random.default_rng(1).uniform(0, 1, (1, 3, 64, 128)).astype(np.float32)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"depth": depth, "rgb": rgb})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(depth), torch.from_numpy(rgb)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
