"""Network I/O (padding, normalisation, scale/shift fit, SDDR windows) and the pipeline with a model
at any scale factor and any size."""
import numpy as np
import pytest
from modelkit import make_model_dir

from depth_refine_ros.backends import create_backend
from depth_refine_ros.core import net_input
from depth_refine_ros.pipeline.sddr import SddrRefinement, windows
from depth_refine_ros.pipeline.sr import InputError, Pipeline

pytestmark = pytest.mark.unit


def test_padding_and_sr_inputs_outputs_round_trip():
    assert net_input.padded_size((480, 640), 64) == (512, 640)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = net_input.pad_to(x, (4, 6))
    assert p.shape == (4, 6) and (p[:3, :4] == x).all() and (p[3, :4] == x[2]).all() and (p[:3, 5] == x[:, 3]).all()
    depth = np.full((30, 40), 2.0, np.float32)
    depth[0, 0] = 4.0
    depth[10:12, 10:12] = np.nan
    rgb = np.zeros((120, 160, 3), np.uint8)
    feeds, scale, valid = net_input.sr_inputs(depth, rgb, (120, 160), 64, True)
    assert scale == 4.0 and feeds["depth"].shape == (1, 1, 128, 192) and feeds["rgb"].shape == (1, 3, 128, 192)
    assert feeds["depth"].max() <= 1.2 and feeds["depth"].dtype == np.float32
    out = net_input.sr_output(feeds["depth"], scale, (120, 160), valid)
    assert out.shape == (120, 160)
    assert np.isnan(out[40:48, 40:48]).all() and np.isfinite(out[60:, 60:]).all()
    np.testing.assert_allclose(out[60:, 60:], 2.0, atol=1e-4)


def test_sr_inputs_equal_convert_then_pad_and_reuse_their_buffers():
    depth = (1 + rng_local().random((30, 40))).astype(np.float32)
    depth[3:6, 7:9] = np.nan
    rgb = rng_local().integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffers: dict = {}
    feeds, scale, valid = net_input.sr_inputs(depth, rgb, (120, 160), 64, True, buffers=buffers)
    filled, _ = net_input.fill_invalid(depth)
    want_depth = net_input.pad_to(net_input._cubic(filled, (120, 160)) * np.float32(1 / scale), (128, 192))
    np.testing.assert_array_equal(feeds["depth"][0, 0], want_depth)
    np.testing.assert_array_equal(feeds["rgb"][0], net_input.pad_to(net_input.rgb_to_chw(rgb), (128, 192)))
    # a strided RGB view takes the general path and gives the same arrays
    wide = np.concatenate([rgb, rgb], axis=1)[:, ::2]
    again, _, _ = net_input.sr_inputs(depth, wide, (120, 160), 64, True)
    np.testing.assert_array_equal(again["rgb"], net_input.pad_to(net_input.rgb_to_chw(wide), (128, 192))[None])
    # the next frame is written into the same arrays
    first = feeds["rgb"]
    feeds2, _, _ = net_input.sr_inputs(depth, 255 - rgb, (120, 160), 64, True, buffers=buffers)
    assert feeds2["rgb"] is first
    np.testing.assert_allclose(feeds2["rgb"][0, :, :120, :160], 1 - net_input.rgb_to_chw(rgb), atol=1e-6)


def test_sr_inputs_give_the_image_as_padded_bytes_for_an_rgb_u8_engine():
    depth = (1 + rng_local().random((30, 40))).astype(np.float32)
    rgb = rng_local().integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffers: dict = {}
    feeds, _, _ = net_input.sr_inputs(depth, rgb, (120, 160), 64, True, buffers=buffers, rgb_u8=True)
    want = np.pad(rgb, [(0, 8), (0, 32), (0, 0)], mode="edge")[None]
    assert feeds["rgb"].dtype == np.uint8 and feeds["rgb"].shape == (1, 128, 192, 3)
    np.testing.assert_array_equal(feeds["rgb"], want)
    plain, _, _ = net_input.sr_inputs(depth, rgb, (120, 160), 64, True)
    np.testing.assert_array_equal(feeds["depth"], plain["depth"])  # depth is fed as before
    again, _, _ = net_input.sr_inputs(depth, 255 - rgb, (120, 160), 64, True, buffers=buffers, rgb_u8=True)
    assert again["rgb"] is feeds["rgb"]
    np.testing.assert_array_equal(again["rgb"], 255 - want)
    # what a bgr8 / bgra8 camera's decoded RGB is (channel-reversed views), and non-byte input
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    bgra = np.concatenate([bgr, np.full((120, 160, 1), 7, np.uint8)], axis=2)
    for view in (bgr[:, :, ::-1], bgra[:, :, 2::-1], rgb.astype(np.float32)):
        got, _, _ = net_input.sr_inputs(depth, view, (120, 160), 64, True, rgb_u8=True)
        np.testing.assert_array_equal(got["rgb"], want)


def rng_local():
    return np.random.default_rng(11)


def test_fit_scale_shift_is_robust_to_outliers():
    rng = np.random.default_rng(0)
    pred = rng.random((60, 80)).astype(np.float32) + 0.5
    target = 2.5 * pred + 0.3 + rng.normal(0, 0.005, pred.shape)
    target[:5] = 50.0  # flying pixels
    target[20:30, 20:30] = np.nan
    s, t, resid, n = net_input.fit_scale_shift(pred, target)
    assert abs(s - 2.5) < 0.01 and abs(t - 0.3) < 0.01 and resid < 0.01
    assert n == 60 * 80 - 100
    assert np.isnan(net_input.fit_scale_shift(pred, np.full_like(pred, np.nan))[0])


def test_windows_cover_the_image_with_overlap():
    for n in (2, 3, 4):
        cover = np.zeros((97, 131), int)
        ws = windows(cover.shape, n, 0.25)
        assert len(ws) == n * n
        for ys, xs in ws:
            cover[ys, xs] += 1
        assert cover.min() >= 1 and cover.max() >= 2


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory):
    return str(make_model_dir(tmp_path_factory.mktemp("m"), "sr", "lite"))


@pytest.mark.parametrize("scale,out_hw", [(2, (96, 130)), (3, (120, 159)), (8, (480, 640)), (16, (384, 512))])
def test_pipeline_runs_a_model_at_any_scale_and_size(sr_model, scale, out_hw):
    pipe = Pipeline(create_backend("onnxruntime", model=sr_model))
    rng = np.random.default_rng(1)
    lr = (1 + rng.random((out_hw[0] // scale, out_hw[1] // scale))).astype(np.float32)
    rgb = rng.integers(0, 255, (*out_hw, 3), dtype=np.uint8)
    res = pipe.process(rgb, lr)
    assert res.depth.shape == out_hw and res.depth.dtype == np.float32
    valid = np.isfinite(res.depth)  # range clamp may NaN a few (weights are random noise)
    assert valid.mean() > 0.99 and (res.depth[valid] > 0).all()


def test_pipeline_refuses_scale_outside_the_model_range(sr_model):
    pipe = Pipeline(create_backend("onnxruntime", model=sr_model))
    lr = np.ones((10, 10), np.float32)
    with pytest.raises(InputError, match="outside 2..16") as e:
        pipe.process(np.zeros((400, 400, 3), np.uint8), lr)
    assert e.value.reason == "scale_out_of_range"


def test_sddr_refinement_one_and_two_stage(tmp_path_factory):
    root = tmp_path_factory.mktemp("sddr")
    refiner = create_backend("onnxruntime", model=str(make_model_dir(root, "sddr", "base")))
    mono = create_backend("onnxruntime", model=str(make_model_dir(root, "mono", "tiny")))
    rng = np.random.default_rng(2)
    depth = (1 + rng.random((96, 128))).astype(np.float32)
    depth[:4, :4] = np.nan
    rgb = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    for mode in ("one_stage", "two_stage"):
        out = SddrRefinement(refiner, mono, mode).apply(depth, rgb)
        assert out.shape == depth.shape and np.isnan(out[:4, :4]).all()
        assert np.isfinite(out[4:]).all()
        # the refiner keeps the metric range of its input
        assert 0.5 < np.nanmedian(out) < 2.5
