"""The temporal filter (core/temporal.py) against a literal port of librealsense's ``temp_jw_smooth``,
its persistency modes, the moving-edge (no trail) property, and its place in the pipeline."""

import numpy as np
import pytest

from depth_refine_ros.core import metrics
from depth_refine_ros.core.temporal import (
    DISPARITY_SCALE,
    PERSISTENCY_MODES,
    TemporalFilter,
    parse_persistency,
    persistency_table,
)

pytestmark = pytest.mark.unit

RULES = {1: (8, 8), 2: (3, 2), 3: (4, 2), 4: (8, 2), 5: (2, 1), 6: (5, 1), 7: (8, 1)}  # (frames, needed)


def credible(mode: int, phase: int, hist: int) -> bool:
    """The plain rule: among the previous frames (ring bits phase-1, phase-2, ...) enough were valid."""
    if mode == 0:
        return False
    if mode == 8:
        return True
    n, need = RULES[mode]
    return sum((hist >> ((phase - k) % 8)) & 1 for k in range(1, n + 1)) >= need


class Reference:
    """librealsense's temp_jw_smooth for float disparity, one pixel at a time, literally
    (``frame``, ``_last_frame``, ``history``, ``_cur_frame_index``), with the plain persistency rule."""

    def __init__(self, alpha, delta, mode, shape):
        self.alpha, self.delta, self.mode = np.float32(alpha), np.float32(delta), mode
        self.last = np.zeros(shape, np.float32)
        self.history = np.zeros(shape, np.uint8)
        self.index = 0

    def smooth(self, frame):
        frame = frame.copy()
        mask = 1 << self.index
        for i in np.ndindex(frame.shape):
            cur, prev = frame[i], self.last[i]
            if cur:
                if not prev:
                    self.last[i] = cur
                    self.history[i] = mask
                elif abs(cur - prev) < self.delta:
                    self.history[i] |= mask
                    res = self.alpha * cur + (np.float32(1) - self.alpha) * prev
                    frame[i] = res
                    self.last[i] = res
                else:
                    self.last[i] = cur
                    self.history[i] = mask
            else:
                if prev and credible(self.mode, self.index, int(self.history[i])):
                    frame[i] = prev
                self.history[i] &= ~mask & 0xFF
        self.index = (self.index + 1) % 8
        return frame


def to_disp(depth):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(depth) & (depth > 0), np.float32(DISPARITY_SCALE) / depth, 0).astype(np.float32)


@pytest.mark.parametrize("mode", range(9))
def test_persistency_table_is_the_plain_rule_at_every_phase(mode):
    table = persistency_table(mode)
    for phase in range(8):
        for hist in range(256):
            assert bool(table[hist] & (1 << phase)) == credible(mode, phase, hist), (mode, phase, hist)


@pytest.mark.parametrize("mode", [0, 1, 3, 5, 7, 8])
def test_matches_librealsense_pixel_loop(mode):
    """Noise, holes that come and go, and jumps larger than delta: the vectorised filter gives what
    the per-pixel port of librealsense gives, frame after frame (30 frames, more than the 8-frame ring)."""
    rng = np.random.default_rng(mode)
    shape = (6, 7)
    base = rng.uniform(0.5, 3.0, shape).astype(np.float32)
    f = TemporalFilter(0.4, 20, mode)
    ref = Reference(0.4, 20, mode, shape)
    for t in range(30):
        d = base * (1 + rng.normal(0, 0.01, shape)).astype(np.float32)
        d[rng.random(shape) < 0.3] = np.nan  # holes
        jump = rng.random(shape) < 0.1
        d[jump] = d[jump] * 1.5  # motion: far more than delta
        out = f.apply(d)
        want = ref.smooth(to_disp(d))
        got = to_disp(out)
        np.testing.assert_array_equal(np.isnan(out), want == 0, err_msg=f"frame {t}")
        np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=f"frame {t}")


def test_moving_edge_leaves_no_trail():
    """A step edge (1 m in front of 2 m) moves right by 5 px, then back. Where the change exceeds
    delta the new value is out in that very frame, exactly the input; elsewhere smoothing goes on."""
    h, w, c = 8, 40, 20
    rng = np.random.default_rng(0)

    def scene(edge):
        d = np.full((h, w), 2.0, np.float32)
        d[:, :edge] = 1.0
        return d * (1 + rng.normal(0, 0.002, (h, w))).astype(np.float32)  # sensor noise, << delta

    f = TemporalFilter()
    for _ in range(6):
        f.apply(scene(c))
    # delta 20 at these depths: 1 m -> 2 m is a disparity step of 339, far above it
    assert DISPARITY_SCALE * (1 / 1.0 - 1 / 2.0) > 20
    moved = scene(c + 5)
    out = f.apply(moved)
    np.testing.assert_array_equal(out[:, c:c + 5], moved[:, c:c + 5])  # the old background took the new value
    assert np.all(np.abs(out[:, c + 6:] - 2.0) < 0.01) and np.all(np.abs(out[:, :c] - 1.0) < 0.01)
    assert not np.array_equal(out[:, :c], moved[:, :c])  # static parts still smoothed
    back = scene(c)
    out = f.apply(back)
    np.testing.assert_array_equal(out[:, c:c + 5], back[:, c:c + 5])  # and back again: no trail either way


def test_changes_below_delta_are_smoothed():
    """A step smaller than delta is smoothed (the documented price: it reaches the new value over a
    few frames): 1.000 m -> 1.005 m is a disparity change of 3.4 < 20."""
    f = TemporalFilter(alpha=0.4)
    f.apply(np.full((2, 2), 1.0, np.float32))
    out = f.apply(np.full((2, 2), 1.005, np.float32))
    assert 1.0 < out[0, 0] < 1.005
    expect = DISPARITY_SCALE / (0.4 * DISPARITY_SCALE / 1.005 + 0.6 * DISPARITY_SCALE / 1.0)
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_flicker_drops_on_a_noisy_static_scene():
    rng = np.random.default_rng(1)
    base = rng.uniform(1.0, 2.0, (30, 40)).astype(np.float32)
    frames = [base * (1 + rng.normal(0, 0.003, base.shape)).astype(np.float32) for _ in range(20)]
    f = TemporalFilter()
    filtered = [f.apply(d) for d in frames]
    refs = [base] * len(frames)
    raw, smooth = metrics.temporal_stability(frames, refs), metrics.temporal_stability(filtered, refs)
    assert smooth < 0.6 * raw, (raw, smooth)


@pytest.mark.parametrize("mode,filled", [(0, [False] * 4), (8, [True] * 4),
                                         (3, [True, True, True, False]),  # 2 of the last 4
                                         (5, [True, True, False, False]),  # 1 of the last 2
                                         (6, [True, True, True, True])])  # 1 of the last 5
def test_persistency_fills_holes_by_history(mode, filled):
    """Valid for 2 frames, then a hole for 4 frames: which hole frames are filled (with the last value)."""
    f = TemporalFilter(persistency=mode)
    d = np.full((1, 1), 1.5, np.float32)
    f.apply(d)
    f.apply(d)
    hole = np.full((1, 1), np.nan, np.float32)
    got = [bool(np.isfinite(f.apply(hole))[0, 0]) for _ in range(4)]
    assert got == filled
    if any(got):
        f2 = TemporalFilter(persistency=mode)
        f2.apply(d)
        f2.apply(d)
        np.testing.assert_allclose(f2.apply(hole), 1.5, rtol=1e-6)


def test_persistency_8_of_8_needs_eight_valid_frames():
    d, hole = np.full((1, 1), 1.0, np.float32), np.full((1, 1), np.nan, np.float32)
    for n, want in ((7, False), (8, True)):
        f = TemporalFilter(persistency="valid_in_8_of_8")
        for _ in range(n):
            f.apply(d)
        assert bool(np.isfinite(f.apply(hole))[0, 0]) == want, n


def test_invalid_inputs_size_change_and_first_frame():
    f = TemporalFilter()
    d = np.array([[1.0, 0.0, np.inf, -1.0, np.nan]], np.float32)
    out = f.apply(d)
    assert out[0, 0] == 1.0 and np.isnan(out[0, 1:]).all()  # nothing remembered: passes as is, invalid -> NaN
    assert out.dtype == np.float32 and out is not d
    f.apply(np.full((2, 3), 1.0, np.float32))  # another size: memory reset, no error
    out = f.apply(np.full((2, 3), 1.01, np.float32))
    assert np.all(out < 1.01)  # smoothing with the new size's memory


def test_settings_validated_and_described():
    for bad in (dict(alpha=-0.1), dict(alpha=1.5), dict(delta=0), dict(delta=101), dict(persistency=9),
                dict(persistency="sometimes"), dict(persistency=True), dict(persistency=3.0)):
        with pytest.raises(ValueError):
            TemporalFilter(**bad)
    assert parse_persistency("valid_in_2_of_last_4") == parse_persistency(3) == parse_persistency("3") == 3
    assert [parse_persistency(n) for n in PERSISTENCY_MODES] == list(range(9))
    assert TemporalFilter().describe() == "temporal alpha 0.4, delta 20, persistency valid_in_2_of_last_4 (3)"


def test_pipeline_stage_factory_and_methods():
    from depth_refine_ros.eval.methods import build_method
    from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipelines

    guided, only = build_sr_pipelines(SrPipelineSpec(temporal=True, temporal_persistency=7), warmup=False)
    assert guided.temporal is only.temporal and guided.temporal.persistency == 7  # one output stream
    plain, _ = build_sr_pipelines(SrPipelineSpec(), warmup=False)
    assert plain.temporal is None
    with pytest.raises(ValueError, match="alpha"):
        build_sr_pipelines(SrPipelineSpec(temporal=True, temporal_alpha=2.0), warmup=False)
    with pytest.raises(ValueError, match="persistency"):  # checked while off too
        build_sr_pipelines(SrPipelineSpec(temporal_persistency="sometimes"), warmup=False)
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 255, (32, 48, 3), np.uint8)
    lr = np.full((8, 12), 1.5, np.float32)
    r1 = guided.process(rgb, lr)
    assert "temporal" in r1.timings_ms and "temporal" not in plain.process(rgb, lr).timings_ms
    r2 = guided.process(rgb, lr * np.float32(1.004))
    assert np.all(r2.depth < 1.5 * 1.004) and np.all(r2.depth > 1.5)  # smoothed toward frame 1
    r3 = only.process(None, lr * np.float32(1.004), out_hw=(32, 48))  # the same memory, depth-only
    assert np.all(r3.depth > r2.depth)
    m = build_method("bicubic", temporal=True)
    assert m.label == "bicubic +temporal" and m.pipeline.temporal is not None
    assert build_method("bicubic").pipeline.temporal is None
