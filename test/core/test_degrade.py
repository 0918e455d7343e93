"""Degradation models: shapes, determinism, and each model's defining property."""
import numpy as np
import pytest

from depth_refine_ros.core.degrade import DEGRADATIONS, aa_cubic_matrix, degrade, tof_fill

pytestmark = pytest.mark.unit


def scene(h=96, w=128):
    d = np.full((h, w), 2.0, np.float32)
    d[:, w // 2:] = 3.0  # a depth edge
    d[5:9, 5:9] = np.nan
    return d


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_shapes_seeds_and_units(kind, factor):
    d = scene()
    rgb = np.full((96, 128, 3), 128, np.uint8)
    a = degrade(kind, d, factor, seed=1, rgb=rgb)
    b = degrade(kind, d, factor, seed=1, rgb=rgb)
    assert a.shape == (96 // factor, 128 // factor) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # same seed, same input
    assert np.nanmin(a) > 1.0 and np.nanmax(a) < 4.0  # metres stay metres


def test_antialiased_bicubic_keeps_constants_and_averages_fine_detail():
    m = aa_cubic_matrix(64, 8)
    np.testing.assert_allclose(m.sum(1), 1, atol=1e-6)
    assert (m > 0).sum(1).min() > 8  # every input pixel of the footprint contributes (antialiasing)
    stripes = np.tile(np.array([1.0, 3.0], np.float32), (64, 32))
    lr = degrade("bicubic", stripes, 8)
    np.testing.assert_allclose(lr[:, 1:-1], 2.0, atol=0.05)  # no aliasing of the 2-px stripes (border: replicate)
    assert np.isnan(degrade("bicubic", scene(), 4)[1, 1])  # holes stay holes (block centre decides)


def test_block_noise_is_block_mean_plus_gaussian():
    d = np.full((64, 64), 2.0, np.float32)
    d[:, 32:] = 4.0
    lr = degrade("block_noise", d, 4, seed=0)
    noise = lr - np.where(np.arange(16) < 8, 2.0, 4.0)[None, :]
    assert abs(noise.std() - 0.02 * 2.0) < 0.01 and abs(noise.mean()) < 0.01


def test_ais_drops_9_to_50_percent_and_attenuates():
    d = np.full((480, 640), 3.0, np.float32)
    for seed in range(6):
        lr = degrade("ais", d, 8, seed=seed)
        dropped = np.isnan(lr).mean()
        assert 0.04 <= dropped <= 0.55, dropped
        assert np.nanmax(lr) <= 3.0 * 1.02 and np.nanmedian(lr) >= 3.0 * 0.88


def test_tof_noise_grows_with_depth_holes_at_edges_and_dark_mm_quantised():
    near = degrade("tof", np.full((256, 256), 1.0, np.float32), 4, seed=0)
    far = degrade("tof", np.full((256, 256), 4.0, np.float32), 4, seed=0)
    assert np.nanstd(far) > 8 * np.nanstd(near)  # sigma ~ z^2
    np.testing.assert_allclose(far * 1000, np.round(far * 1000), atol=1e-3)  # 1 mm steps
    d = scene(128, 128)
    rgb = np.full((128, 128, 3), 200, np.uint8)
    rgb[64:, :32] = 5  # a dark surface
    lr = degrade("tof", d, 4, seed=0, rgb=rgb)
    edge_col = lr[:, 15:17]
    assert np.isnan(lr[16:, :8]).all()  # dark -> no return
    assert (np.isnan(edge_col) | ((edge_col > 2.0) & (edge_col < 3.0))).mean() > 0.2  # holes/flying at the edge


def test_tof_fill_has_no_holes_and_moves_the_depth_edge_off_the_rgb_edge():
    """Real registered ToF: filled, edges shifted and the near side fattened."""
    d = scene(128, 128)  # edge at x = 64, a hole at the top left
    shifts = set()
    for seed in range(12):
        lr = tof_fill(d, 2, seed=seed, max_shift_px=6)
        assert np.isfinite(lr).all()  # the sensor pipeline filled the holes
        np.testing.assert_allclose(lr * 1000, np.round(lr * 1000), atol=1e-3)  # 1 mm steps
        row = lr[32]
        shifts.add(int(np.argmax(row > 2.5)) * 2 - 64)  # edge column, full-res px, vs the true 64
    assert max(abs(s) for s in shifts) <= 6 + 4 + 2 and len(shifts) >= 3  # misregistered, by varying amounts
    still = tof_fill(d, 2, seed=0, max_shift_px=0, max_fatten_px=0, blur=(0.0, 0.0), noise_k=0.0)
    assert int(np.argmax(still[32] > 2.5)) * 2 == 64  # without misregistration the edge stays put
    fat = [tof_fill(d, 2, seed=s, max_shift_px=0, blur=(0.0, 0.0), noise_k=0.0) for s in range(8)]
    assert all(int(np.argmax(f[32] > 2.5)) * 2 >= 64 for f in fat)  # the near (2 m) side only grows
    assert any(int(np.argmax(f[32] > 2.5)) * 2 > 64 for f in fat)


def test_tof_reg_leaves_only_a_small_residual_offset():
    """After registration: filled, the edge within 3 px shift + one filled LR px (+ sampling) of the truth."""
    d = scene(128, 128)
    offsets = set()
    for seed in range(16):
        lr = degrade("tof_reg", d, 2, seed=seed)
        assert np.isfinite(lr).all()
        offsets.add(int(np.argmax(lr[32] > 2.5)) * 2 - 64)
    assert max(abs(o) for o in offsets) <= 3 + 2 + 2 and len(offsets) >= 3


def test_nearest_fill_copies_values_instead_of_blending():
    """The sensor-style fill leaves no hole and invents no depth between near and far."""
    from depth_refine_ros.core.degrade import _fill_nearest

    d = np.full((16, 16), 3.0, np.float32)
    d[:, :8] = 1.0
    d[4:12, 6:10] = np.nan  # a hole across the edge
    out = _fill_nearest(d, np.random.default_rng(0))
    assert np.isfinite(out).all()
    assert set(np.unique(out)) <= {1.0, 3.0}


def test_nearest_is_decimation_and_cubic_noaa_aliases_where_the_protocol_averages():
    d = scene()
    np.testing.assert_array_equal(degrade("nearest", d, 4), d[::4, ::4])
    stripes = np.tile(np.array([1.0, 1.0, 3.0], np.float32), (64, 22))[:, :64]  # mean 5/3, period 3 px
    aa = degrade("bicubic", stripes, 8)[:, 1:-1]
    noaa = degrade("cubic_noaa", stripes, 8)[:, 1:-1]
    assert np.abs(aa - 5 / 3).max() < 0.05 and np.abs(noaa - 5 / 3).max() > 0.5  # cv2's resize aliases
    assert np.isnan(degrade("cubic_noaa", scene(), 4)[2, 2])  # holes stay holes (cv2 nearest: pixel 8 of 5..8)


def test_robust_mix_draws_every_kind_with_misregistration():
    from depth_refine_ros.core.degrade import ROBUST_KINDS

    d = scene(128, 128)
    outs = [degrade("robust", d, 4, seed=s) for s in range(60)]
    assert all(o.shape == (32, 32) for o in outs)
    # the edge column moves: misregistration of up to 2 full-res pixels shows at x4 as a fractional shift
    edge_cols = {int(np.nanargmax(np.nanmean(np.diff(o, axis=1), axis=0))) for o in outs}
    assert len(edge_cols) >= 2
    assert len(ROBUST_KINDS) == 6 and set(ROBUST_KINDS) <= set(DEGRADATIONS)


def test_robust_unscaled_differs_from_robust_only_by_the_ais_gain():
    d = scene(128, 128)
    same, gained = 0, []
    for s in range(60):
        a, b = degrade("robust", d, 4, seed=s), degrade("robust_unscaled", d, 4, seed=s)
        assert np.array_equal(np.isnan(a), np.isnan(b))  # the same draws: the same holes
        if np.allclose(a, b, equal_nan=True):
            same += 1
        else:  # an ais sample: a per-frame factor in 0.9..1.0 (1 mm quantisation aside)
            v = np.isfinite(a)
            gained.append(float(np.median(a[v] / b[v])))
    assert same >= 30 and gained and all(0.89 < g < 1.001 for g in gained)


def test_robust_recentred_differs_from_robust_unscaled_only_on_decimated_samples():
    """The same draws; a ``nearest`` sample comes re-sampled at its block centres, as sr_node feeds
    decimated input with ``depth.sampling: decimated``."""
    from depth_refine_ros.core.degrade import ROBUST_KINDS

    d = scene(128, 128)
    kinds = []
    for s in range(60):
        kind = ROBUST_KINDS[int(np.random.default_rng(s).integers(len(ROBUST_KINDS)))]
        a, b = degrade("robust_unscaled", d, 4, seed=s), degrade("robust_recentred", d, 4, seed=s)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.array_equal(a, b, equal_nan=True) == (kind != "nearest"), (s, kind)
        kinds.append(kind)
    assert "nearest" in kinds
