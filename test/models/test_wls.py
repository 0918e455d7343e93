"""The unrolled weighted-least-squares net (`faster_wls`, models/wls.py) and training on extra reference
sets (per-source weights, references with holes)."""
import sys

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch
from conftest import ROOT, require_data

from depth_refine_ros.models import build_model, preset_config
from depth_refine_ros.models.wls import UnrolledWLS

sys.path.insert(0, str(ROOT / "training"))
from depth_refine_training.data import Frame, SRPatches, load_sources, shrink  # noqa: E402
from depth_refine_training.trainer import load_init  # noqa: E402

pytestmark = pytest.mark.unit


def _energy_matrix(c: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> scipy.sparse.csr_matrix:
    """The normal equations' matrix of E(x) = sum c (x - u)^2 + sum w (x_p - x_q)^2 on an H x W grid."""
    h, w = c.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [c.ravel()]
    for (a, b), wt in (((idx[:, :-1], idx[:, 1:]), wx[:, :-1]), ((idx[:-1, :], idx[1:, :]), wy[:-1, :])):
        a, b, wt = a.ravel(), b.ravel(), wt.ravel()
        rows += [a, b, a, b]
        cols += [a, b, b, a]
        vals += [wt, wt, -wt, -wt]
    return scipy.sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(h * w, h * w))


def test_jacobi_sweeps_converge_to_the_weighted_least_squares_solution():
    rng = np.random.default_rng(0)
    h, w = 12, 15
    solver = UnrolledWLS(iters=400)
    with torch.no_grad():
        solver.gate_raw.fill_(0.1)  # gate 1: the output is the solve itself
    u = torch.from_numpy(rng.normal(size=(1, 1, h, w)).astype(np.float32))
    k = [torch.from_numpy(rng.normal(scale=0.5, size=(1, 1, h, w)).astype(np.float32)) for _ in range(3)]
    rgb = torch.from_numpy(rng.uniform(size=(1, 3, h, w)).astype(np.float32))
    with torch.no_grad():
        x = solver(u, *k, rgb)[0, 0].numpy().astype(np.float64)
        wx, wy = (t[0, 0].numpy().astype(np.float64) for t in solver.link_weights(k[1], k[2], rgb))
    c = np.exp(k[0][0, 0].numpy().astype(np.float64))
    a = _energy_matrix(c, wx, wy)
    exact = scipy.sparse.linalg.spsolve(a.tocsc(), c.ravel() * u[0, 0].numpy().ravel()).reshape(h, w)
    assert np.abs(x - exact).max() < 1e-4
    # the link weights of the last column / row (no neighbour) are zero
    assert (wx[:, -1] == 0).all() and (wy[-1, :] == 0).all()


def test_a_net_grown_from_the_plain_net_starts_as_that_net():
    plain = build_model("sr", preset_config("sr", "faster")).eval()
    torch.manual_seed(0)
    for p in plain.parameters():
        p.data.normal_(0, 0.05)
    wls = build_model("sr", preset_config("sr", "faster_wls")).eval()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        torch.save({"model": plain.state_dict()}, f"{d}/p.pt")
        assert load_init(wls, f"{d}/p.pt") == len(plain.state_dict())
    depth = torch.rand(1, 1, 128, 192) * 0.5 + 0.5
    rgb = torch.rand(1, 3, 128, 192)
    with torch.no_grad():
        a, b = plain(depth, rgb), wls(depth, rgb)
        assert torch.allclose(a, b, atol=1e-6)
        wls.solver.gate_raw.fill_(0.1)
        assert (wls(depth, rgb) - a).abs().max() > 1e-3  # the open gate changes the output


def test_the_wls_net_exports_with_dynamic_size_and_matches_torch(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    net = build_model("sr", preset_config("sr", "faster_wls")).eval()
    torch.manual_seed(1)
    for p in net.parameters():
        p.data.normal_(0, 0.05)
    with torch.no_grad():
        net.solver.gate_raw.fill_(0.08)
    from depth_refine_ros.models.export import export_onnx

    path = tmp_path / "m.onnx"
    export_onnx(net, "sr", path)
    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((128, 192), (192, 256)):
        depth = np.random.default_rng(h).uniform(0.5, 1.0, (1, 1, h, w)).astype(np.float32)
        rgb = np.random.default_rng(w).uniform(0, 1, (1, 3, h, w)).astype(np.float32)
        got = sess.run(None, {"depth": depth, "rgb": rgb})[0]
        with torch.no_grad():
            want = net(torch.from_numpy(depth), torch.from_numpy(rgb)).numpy()
        assert got.shape == (1, 1, h, w)
        assert np.abs(got - want).max() < 1e-4


def test_shrink_averages_only_valid_depth():
    depth = np.array([[1, 1, 2, np.nan], [1, 1, np.nan, np.nan]], np.float32)
    f = shrink(Frame("f", "g", np.zeros((2, 4, 3), np.uint8), depth), 2)
    assert f.depth.shape == (1, 2) and f.rgb.shape == (1, 2, 3)
    assert f.depth[0, 0] == 1 and f.depth[0, 1] == 2


def test_extra_sources_are_drawn_by_their_weight_and_their_holes_masked():
    held = {"20200518", "20200601", "20200711", "20200715"}
    mb = str(require_data("middlebury2005"))
    frames, p = load_sources(str(require_data("rgbdd")), held, [{"path": mb, "weight": 0.25, "downscale": 2}])
    n_extra = 6
    assert not any(f.group in held for f in frames)
    assert p is not None and abs(p.sum() - 1) < 1e-9
    assert abs(p[-n_extra:].sum() - 0.2) < 1e-9  # 0.25 / (1 + 0.25)
    assert frames[-1].depth.shape[1] < 700  # halved from 1328..1376 px
    with pytest.raises(ValueError, match="weight must be > 0"):
        load_sources(str(require_data("rgbdd")), held, [{"path": mb, "weight": 0}])
    with pytest.raises(ValueError, match="unknown"):
        load_sources(str(require_data("rgbdd")), held, [{"path": mb, "scale": 2}])
    # a reference with a hole: the mask drops it and the target there is 0
    f = frames[-1]
    depth = f.depth.copy()
    depth[:, :] = 1.5
    depth[::10, :] = np.nan  # a hole row every 10 px: every 64 px crop has some
    ds = SRPatches([Frame("h", "g", f.rgb, depth)], 64, [4], ["bicubic"], 8, seed=3)
    _, _, gt, mask = ds[0]
    assert (~mask).any() and (gt[~mask] == 0).all()
