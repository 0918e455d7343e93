"""Decimated low-res depth (every n-th pixel) re-sampled at its block centres: the geometry on a
plane, holes, non-integer ratios, the pipeline stage and parameter, and the gain on real frames. Averaged
low-res depth: the projection onto its samples, holes, and where it helps and where it hurts."""
import numpy as np
import pytest
from conftest import require_data

from depth_refine_ros.core.degrade import aa_cubic_matrix, degrade
from depth_refine_ros.core.projection import project_averaged
from depth_refine_ros.core.sampling import SAMPLINGS, decimation_offset, recentre_decimated
from depth_refine_ros.data.datasets import load_dataset
from depth_refine_ros.eval.methods import build_method
from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipelines
from depth_refine_ros.pipeline.sr import PipelineConfig
from depth_refine_ros.ros.params import SrParams
from depth_refine_ros.ros.sr_node import pipeline_spec


def plane(hw: tuple[int, int]) -> np.ndarray:
    """A tilted plane in output pixels: ``z(y, x) = 1.5 + 0.004 y + 0.002 x`` metres, ``(H, W) float32``."""
    yy, xx = np.mgrid[:hw[0], :hw[1]].astype(np.float64)
    return (1.5 + 0.004 * yy + 0.002 * xx).astype(np.float32)


@pytest.mark.unit
@pytest.mark.parametrize("lr_hw, out_hw", [((48, 64), (192, 256)), ((24, 32), (192, 256)), ((144, 192), (384, 512))])
def test_a_decimated_plane_becomes_the_block_centre_samples(lr_hw, out_hw):
    """Catmull-Rom reproduces a plane exactly: away from the borders (replicated) the re-sampled
    input is the plane at the block centres ``(i + 0.5) s - 0.5``, for x4, x8 and x2.667."""
    sy, sx = out_hw[0] / lr_hw[0], out_hw[1] / lr_hw[1]
    yy, xx = np.mgrid[:lr_hw[0], :lr_hw[1]].astype(np.float64)
    z = lambda y, x: 1.5 + 0.004 * y + 0.002 * x  # noqa: E731 - the plane of plane()
    decimated = z(yy * sy, xx * sx).astype(np.float32)
    centred = z((yy + 0.5) * sy - 0.5, (xx + 0.5) * sx - 0.5)
    got = recentre_decimated(decimated, out_hw)
    assert got.shape == lr_hw and got.dtype == np.float32
    inner = (slice(1, lr_hw[0] - 2), slice(1, lr_hw[1] - 2))
    np.testing.assert_allclose(got[inner], centred[inner], atol=1e-5)
    assert abs(decimation_offset(lr_hw[0], out_hw[0]) - (sy - 1) / (2 * sy)) < 1e-12


@pytest.mark.unit
def test_holes_stay_holes_and_do_not_leak():
    lr = degrade("nearest", plane((192, 256)), 4)
    lr[10:14, 20:25] = np.nan
    got = recentre_decimated(lr, (192, 256))
    assert np.array_equal(np.isnan(got), np.isnan(lr))
    assert np.isfinite(got[~np.isnan(lr)]).all()
    # its neighbours see the hole filled from valid depth (a few mm off the plane, where a 0 or NaN
    # would drag them by metres); pixels whose 4 taps miss it are the plane's exactly
    yy, xx = np.mgrid[:48, :64]
    truth = 1.5 + 0.004 * ((yy + 0.5) * 4 - 0.5) + 0.002 * ((xx + 0.5) * 4 - 0.5)
    near = (yy >= 10 - 2) & (yy < 14 + 1) & (xx >= 20 - 2) & (xx < 25 + 1) & ~np.isnan(lr)
    inner = np.zeros_like(near)
    inner[1:-2, 1:-2] = True
    assert np.max(np.abs(got[near] - truth[near])) < 0.01
    assert np.max(np.abs(got[inner & ~near & ~np.isnan(lr)] - truth[inner & ~near & ~np.isnan(lr)])) < 1e-5


@pytest.mark.unit
def test_no_overshoot_at_a_depth_edge():
    """A cubic rings at a step (10 m -> 0.3 m at x4 gave -0.41 and 10.43 m unclamped): each value
    stays within the 2x2 input pixels it lies between."""
    lr = np.full((24, 32), 10.0, np.float32)
    lr[:, 16:] = 0.3
    got = recentre_decimated(lr, (96, 128))
    assert got.min() == pytest.approx(0.3) and got.max() == pytest.approx(10.0)
    assert (got[:, :15] == 10.0).all() and (got[:, 16:] == np.float32(0.3)).all()
    assert 0.3 < got[0, 15] < 10.0  # the one column between the two sides is between them


@pytest.mark.unit
def test_equal_sizes_change_nothing_and_bad_settings_are_refused():
    lr = plane((48, 64))
    np.testing.assert_array_equal(recentre_decimated(lr, lr.shape), lr)
    assert SAMPLINGS == ("centred", "decimated", "averaged")
    with pytest.raises(ValueError, match="depth sampling 'corner' is not one of centred, decimated, averaged"):
        PipelineConfig(depth_sampling="corner")


@pytest.mark.unit
def test_the_node_parameter_reaches_the_pipeline():
    assert SrParams().depth_sampling == "centred"
    spec = pipeline_spec(SrParams(depth_sampling="decimated", backend="classical"))  # no model to load
    assert spec.depth_sampling == "decimated"
    guided, depth_only = build_sr_pipelines(spec, warmup=False)
    assert guided.config.depth_sampling == depth_only.config.depth_sampling == "decimated"
    assert build_sr_pipelines(SrPipelineSpec(), warmup=False)[0].config.depth_sampling == "centred"


@pytest.mark.unit
def test_the_decimated_depth_s_own_intrinsics_scale_as_a_decimated_image_s():
    """Pixel i of an image decimated by 4 is pixel 4i of the full one: its principal point scales by
    4 (cx 79.5 -> 318), where a binned image's scales half-pixel aligned (cx 79.5 -> 319.5). RGB
    intrinsics (the output size) pass unchanged either way."""
    from depth_refine_ros.backends import create_backend
    from depth_refine_ros.core.intrinsics import Intrinsics
    from depth_refine_ros.pipeline.sr import Pipeline

    lr_k = Intrinsics(fx=150.0, fy=150.0, cx=79.5, cy=59.5, width=160, height=120)
    rgb = np.zeros((480, 640, 3), np.uint8)
    depth = np.full((120, 160), 2.0, np.float32)
    got = {}
    for s in SAMPLINGS:
        pipe = Pipeline(create_backend("classical", method="bicubic"), PipelineConfig(depth_sampling=s))
        got[s] = pipe.process(rgb, depth, lr_k).intrinsics
        rgb_k = lr_k.scaled_to(640, 480)
        assert pipe.process(rgb, depth, rgb_k).intrinsics == rgb_k
    assert (got["centred"].cx, got["centred"].cy) == (319.5, 239.5)
    assert got["averaged"] == got["centred"]
    assert (got["decimated"].cx, got["decimated"].cy) == (318.0, 238.0)
    assert got["decimated"].fx == got["centred"].fx == 600.0


@pytest.mark.unit
def test_decimated_input_on_real_frames_is_far_closer_with_the_setting():
    """Held-out RGB-D-D frames, every 4th pixel: told so, bicubic and the guided filter land on the
    RGB grid (eval-dataset, 24 frames: bicubic 4.53 -> 2.87 cm); told nothing, they sit 1.5 px off.
    Centred input told it is decimated gets worse: the setting must match the driver."""
    frames = load_dataset(require_data("rgbdd"), {"20200518"}, limit=4)
    rmse: dict[tuple[str, str, str], list[float]] = {}
    for name in ("bicubic", "guided_filter"):
        methods = {s: build_method(name, depth_sampling=s) for s in SAMPLINGS}
        assert methods["decimated"].label == f"{name} +decimated"
        for f in frames:
            gt = f.depth[:384, :512] * f.to_metres
            rgb = f.rgb[:384, :512]
            for kind in ("nearest", "bicubic"):
                lr = degrade(kind, gt, 4)
                for s, m in methods.items():
                    d, _ = m.run(rgb, lr)
                    v = np.isfinite(d) & (gt > 0)
                    rmse.setdefault((name, kind, s), []).append(float(np.sqrt(np.mean((d[v] - gt[v]) ** 2))))
    mean = {k: float(np.mean(v)) for k, v in rmse.items()}
    for name in ("bicubic", "guided_filter"):
        assert mean[(name, "nearest", "decimated")] < 0.8 * mean[(name, "nearest", "centred")], mean
        assert mean[(name, "bicubic", "decimated")] > mean[(name, "bicubic", "centred")], mean


@pytest.mark.unit
@pytest.mark.parametrize("lr_hw, out_hw", [((48, 64), (192, 256)), ((12, 16), (192, 256)), ((36, 48), (96, 128))])
def test_the_projection_gives_back_the_averaged_samples(lr_hw, out_hw):
    """Averaged like the input was (antialiased bicubic), the projected depth gives the low-res depth
    back (x4, x16, x2.667); a result already consistent (the plane itself) is left as it is."""
    rng = np.random.default_rng(0)
    gt = plane(out_hw) + 0.2 * (np.indices(out_hw).sum(0) % 37 > 18)  # a plane with steps
    a_y, a_x = aa_cubic_matrix(out_hw[0], lr_hw[0]), aa_cubic_matrix(out_hw[1], lr_hw[1])
    lr = (a_y @ gt @ a_x.T).astype(np.float32)
    guess = (gt + rng.normal(0, 0.02, out_hw)).astype(np.float32)  # an upsampler's inexact result
    before = np.abs(a_y @ guess @ a_x.T - lr).max()
    got = project_averaged(guess, lr)
    assert got.shape == out_hw and got.dtype == np.float32
    assert np.abs(a_y @ got @ a_x.T - lr).max() < 0.2 * before  # 3 steps: 10x at x4, 9.9x at x2.667
    assert np.sqrt(np.mean((got - gt) ** 2)) < np.sqrt(np.mean((guess - gt) ** 2))
    np.testing.assert_allclose(project_averaged(gt, lr), gt, atol=1e-4)


@pytest.mark.unit
def test_the_projection_keeps_holes_and_ignores_the_input_s():
    out_hw, lr_hw = (96, 128), (24, 32)
    guess = plane(out_hw)
    guess[10:20, 30:50] = np.nan
    lr = np.full(lr_hw, np.nan, np.float32)
    lr[:, :16] = 2.0  # the right half of the input is a hole: no correction comes from it
    got = project_averaged(guess, lr)
    assert np.array_equal(np.isnan(got), np.isnan(guess))
    assert np.isfinite(got[:, 80:]).all() and np.abs(got[:, 100:] - guess[:, 100:]).max() < 1e-6


@pytest.mark.unit
def test_averaged_input_on_real_frames_is_closer_with_the_setting_and_noisy_input_is_not():
    """Held-out RGB-D-D frames: bicubic (averaged) input told so comes closer (the projection: iterative
    back-projection); ToF-like noisy input told so gets worse (the noise is copied back): the setting must
    match the input. Labels say it (``+averaged``); the pipeline times the stage."""
    frames = load_dataset(require_data("rgbdd"), {"20200518"}, limit=3)
    rmse: dict[tuple[str, str], list[float]] = {}
    methods = {s: build_method("bicubic", depth_sampling=s) for s in ("centred", "averaged")}
    assert methods["averaged"].label == "bicubic +averaged"
    for f in frames:
        gt = f.depth[:384, :512] * f.to_metres
        rgb = f.rgb[:384, :512]
        for kind in ("bicubic", "tof"):
            lr = degrade(kind, gt, 8, seed=1, rgb=rgb)
            for s, m in methods.items():
                d, _ = m.run(rgb, lr)
                v = np.isfinite(d) & (gt > 0)
                rmse.setdefault((kind, s), []).append(float(np.sqrt(np.mean((d[v] - gt[v]) ** 2))))
    mean = {k: float(np.mean(v)) for k, v in rmse.items()}
    assert mean[("bicubic", "averaged")] < 0.97 * mean[("bicubic", "centred")], mean
    assert mean[("tof", "averaged")] > mean[("tof", "centred")], mean
    res = methods["averaged"].pipeline.process(frames[0].rgb[:384, :512], np.full((48, 64), 2.0, np.float32))
    assert "projection" in res.timings_ms and "projection" not in methods["centred"].pipeline.process(
        frames[0].rgb[:384, :512], np.full((48, 64), 2.0, np.float32)).timings_ms
