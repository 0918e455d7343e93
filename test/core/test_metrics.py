"""core.metrics against values computed by hand."""
import math

import numpy as np
import pytest

from depth_refine_ros.core import metrics

NAN = float("nan")

pytestmark = pytest.mark.unit


def test_standard_metrics_by_hand():
    pred = np.array([[2.0, 1.0], [4.0, NAN]], np.float32)
    gt = np.array([[1.0, 1.0], [5.0, 2.0]], np.float32)
    m = metrics.standard(pred, gt)
    # scored pixels: (2 vs 1), (1 vs 1), (4 vs 5); the NaN prediction lowers coverage only
    assert m["coverage"] == pytest.approx(0.75) and m["n_pixels"] == 3
    assert m["absrel"] == pytest.approx((1 / 1 + 0 + 1 / 5) / 3)
    assert m["sqrel"] == pytest.approx((1 / 1 + 0 + 1 / 5) / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(2 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(0.8) ** 2) / 3), rel=1e-6)
    assert m["log10"] == pytest.approx((math.log10(2) + abs(math.log10(0.8))) / 3, rel=1e-6)
    # ratios 2, 1, 1.25: strict "<" thresholds 1.25, 1.5625, 1.953
    assert m["delta1"] == pytest.approx(1 / 3)
    assert m["delta2"] == pytest.approx(2 / 3)
    assert m["delta3"] == pytest.approx(2 / 3)


def test_invalid_ground_truth_is_not_scored_and_nothing_scored_gives_nan():
    gt = np.array([[0.0, NAN, np.inf, 2.0]], np.float32)
    pred = np.array([[9.0, 9.0, 9.0, 2.0]], np.float32)
    m = metrics.standard(pred, gt)
    assert m["n_pixels"] == 1 and m["rmse"] == 0.0 and m["coverage"] == 1.0
    m = metrics.standard(np.full((1, 4), NAN, np.float32), gt)
    assert m["coverage"] == 0.0 and math.isnan(m["rmse"])
    with pytest.raises(ValueError, match="differ in size"):
        metrics.standard(pred[:, :2], gt)


def _step(w=64, h=48, at=30):
    d = np.full((h, w), 1.0, np.float32)
    d[:, at:] = 2.0
    return d


def test_edge_metrics_perfect_shifted_and_missing_edges():
    gt = _step()
    m = metrics.edge_metrics(gt, gt)
    assert m["dbe_acc"] == 0.0 and m["dbe_comp"] == 0.0 and m["edge_f"] == 1.0
    shifted = metrics.edge_metrics(_step(at=34), gt)  # the edge 4 px off
    assert shifted["dbe_acc"] == pytest.approx(4.0, abs=0.6)
    assert shifted["dbe_comp"] == pytest.approx(4.0, abs=0.6)
    assert shifted["edge_f"] == 0.0  # beyond the 2 px tolerance
    flat = metrics.edge_metrics(np.full_like(gt, 1.5), gt)  # no edge at all: truncated at theta
    assert flat["dbe_acc"] == 10.0 and flat["dbe_comp"] == 10.0 and flat["edge_recall"] == 0.0


def test_temporal_stability_counts_only_static_pixels():
    ref = [np.full((4, 4), 2.0, np.float32)] * 3
    steady = [np.full((4, 4), 2.0, np.float32)] * 3
    assert metrics.temporal_stability(steady, ref) == 0.0
    flicker = [np.full((4, 4), 2.0 + 0.01 * (i % 2), np.float32) for i in range(3)]
    assert metrics.temporal_stability(flicker, ref) == pytest.approx(0.01, rel=1e-4)
    moving_ref = [r.copy() for r in ref]
    moving_ref[1][:, :2] = 3.0  # left half moves in frame 1: its change is motion, not flicker
    jump = [p.copy() for p in steady]
    jump[1][:, :2] = 3.0
    assert metrics.temporal_stability(jump, moving_ref) == 0.0
    with pytest.raises(ValueError):
        metrics.temporal_stability(steady, ref[:2])


def test_boundary_split_by_hand():
    gt = _step(w=20, h=10, at=10)  # 1 m | 2 m step between columns 9 and 10
    pred = gt.copy()
    pred[:, 9] = 1.5  # the column left of the step blurred: 0.5 m off
    pred[:, 0] = 1.1  # an interior error of 0.1 m, far from the step
    m = metrics.boundary_split(pred, gt, band=2)
    # band: columns 7..12 (the two discontinuity columns 9 and 10, dilated by 2) -> 6 of 20
    assert m["boundary_frac"] == pytest.approx(6 / 20)
    assert m["rmse_boundary"] == pytest.approx(math.sqrt(0.25 / 6))
    assert m["rmse_interior"] == pytest.approx(math.sqrt(0.01 / 14), rel=1e-6)
    small = gt * 1.02  # 2 % steps are not discontinuities
    assert not metrics.discontinuities(np.cumprod(np.full((3, 8), 1.02, np.float32), axis=1)).any()
    assert metrics.boundary_split(small, np.full_like(gt, 1.0))["boundary_frac"] == 0.0


def test_relative_columns_use_plain_baselines_else_registered_ones():
    """eval-dataset (plain and +reg rows) compares with plain bicubic; eval-bag --registration auto
    (only +reg rows beside the live node) compares with the registered ones. Rows say their settings in
    fields (eval.methods.row_fields), not in the label."""
    from depth_refine_ros.eval.scoring import add_relative

    g = {"dataset": "d", "scale": 4, "degradation": "x"}

    def reg(name):
        return dict(g, method=name + " +reg", method_name=name, registration_mode="auto")

    mixed = [dict(g, method="bicubic", rmse=2.0), dict(g, method="fgs", rmse=1.6),
             dict(reg("bicubic"), rmse=1.0), dict(reg("net"), rmse=0.8)]
    add_relative(mixed)
    assert mixed[2]["vs_bicubic"] == pytest.approx(-0.5) and mixed[3]["vs_best_classical"] == pytest.approx(-0.5)
    reg_only = [dict(g, method="sr_node live (auto)", registration_mode="auto", rmse=0.9),
                dict(reg("bicubic"), rmse=1.0), dict(reg("fgs"), rmse=1.2)]
    add_relative(reg_only)
    assert reg_only[0]["vs_bicubic"] == pytest.approx(-0.1) and reg_only[0]["vs_best_classical"] == pytest.approx(-0.1)


def test_relative_columns_compare_decimated_rows_with_classical_rows_told_the_same():
    """eval-dataset --sampling centred decimated: a ``+decimated`` row's baselines are the classical
    ``+decimated`` rows (the same setting), the plain rows' the plain ones; also with ``+reg``."""
    from depth_refine_ros.eval.scoring import add_relative

    g = {"dataset": "d", "scale": 4, "degradation": "nearest"}

    def dec(name, **kw):
        return dict(g, method=name + " +decimated" + (" +reg" if kw else ""), method_name=name,
                    depth_sampling="decimated", **kw)

    rows = [dict(g, method="bicubic", rmse=4.0), dict(g, method="fgs", rmse=3.0), dict(g, method="net", rmse=3.6),
            dict(dec("bicubic"), rmse=2.0), dict(dec("guided_filter"), rmse=1.9),
            dict(dec("net"), rmse=1.71), dict(dec("net", registration_mode="auto"), rmse=1.52)]
    add_relative(rows)
    assert rows[2]["vs_bicubic"] == pytest.approx(-0.1) and rows[2]["vs_best_classical"] == pytest.approx(0.2)
    assert rows[5]["vs_bicubic"] == pytest.approx(-0.145) and rows[5]["vs_best_classical"] == pytest.approx(-0.1)
    assert rows[6]["vs_best_classical"] == pytest.approx(-0.2)  # the plain decimated baselines


def test_scaled_rmse_forgives_a_uniform_gain_and_nothing_else():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 4.0, (16, 16)).astype(np.float32)
    # a uniform gain alone: the least-squares scale undoes it exactly; rmse sees all of it
    m = metrics.standard(0.9 * gt, gt)
    assert m["rmse_scaled"] == pytest.approx(0.0, abs=1e-6)
    assert m["rmse"] == pytest.approx(0.1 * math.sqrt(float(np.mean(gt.astype(np.float64) ** 2))), rel=1e-5)
    # structure error: by hand, s = sum(p g) / sum(p^2) on the scored pixels (the NaN one is not)
    pred = np.array([[2.0, 1.0], [4.0, NAN]], np.float32)
    g2 = np.array([[1.0, 1.0], [5.0, 2.0]], np.float32)
    s = (2 * 1 + 1 * 1 + 4 * 5) / (4 + 1 + 16)
    want = math.sqrt(((2 * s - 1) ** 2 + (s - 1) ** 2 + (4 * s - 5) ** 2) / 3)
    assert metrics.standard(pred, g2)["rmse_scaled"] == pytest.approx(want, rel=1e-9)
    assert metrics.standard(pred, g2)["rmse_scaled"] < metrics.standard(pred, g2)["rmse"]
