"""Depth-to-RGB registration: the offset estimate on a synthetic scene, the shift convention, the
tracker's median and dead band, the pipeline stage, and the gain on the real phone-ToF frames."""
import threading

import numpy as np
import pytest
from conftest import require_data

from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.register import ShiftTracker, estimate_shift, shift_image
from depth_refine_ros.data.datasets import load_dataset
from depth_refine_ros.eval.methods import build_method
from depth_refine_ros.pipeline.registration import Registration

H, W = 192, 256


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A wall at 2 m with three boxes in front, and an RGB image of it with texture and noise.

    Returns:
        ``(rgb (H, W, 3) uint8, depth (H, W) float32 metres)``, registered.
    """
    rng = np.random.default_rng(seed)
    depth = np.full((H, W), 2.0, np.float32)
    rgb = np.empty((H, W, 3), np.float32)
    rgb[:] = (120, 130, 140)
    for y0, x0, h, w, z, col in ((30, 40, 70, 60, 1.0, (200, 60, 50)), (110, 150, 60, 80, 1.4, (40, 160, 70)),
                                 (20, 170, 50, 50, 0.7, (60, 70, 210))):
        depth[y0:y0 + h, x0:x0 + w] = z
        rgb[y0:y0 + h, x0:x0 + w] = col
    yy, xx = np.mgrid[:H, :W]
    rgb += (12 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None]  # texture with no depth edge
    rgb += rng.normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), depth


@pytest.mark.unit
@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-5, 4), (0, 7)])
def test_estimate_recovers_a_known_offset(shift):
    rgb, depth = scene()
    dy, dx = shift
    lr = degrade("bicubic", shift_image(depth, dy, dx), 4)  # the depth sits (dy, dx) off the RGB
    est = estimate_shift(rgb, lr, max_shift_px=8)
    assert (est.dy, est.dx) == (-dy, -dx)  # the shift that puts it back
    assert est.score > 0 and (est.gain > 1.2 if shift != (0, 0) else est.gain == pytest.approx(1.0))


@pytest.mark.unit
def test_estimate_without_depth_edges_is_no_shift():
    rgb, _ = scene()
    est = estimate_shift(rgb, np.full((H // 4, W // 4), 1.5, np.float32))
    assert (est.dy, est.dx, est.gain) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="too small"):
        estimate_shift(rgb[:30, :30], np.ones((8, 8), np.float32), max_shift_px=8)


@pytest.mark.unit
def test_shift_image_convention_and_edges():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = shift_image(img, 1, -1)  # out[y, x] = img[y - 1, x + 1], edges replicated
    np.testing.assert_array_equal(out, [[1, 2, 3, 3], [1, 2, 3, 3], [5, 6, 7, 7]])
    rgb = np.stack([img, img + 100, img + 200], -1)
    np.testing.assert_array_equal(shift_image(rgb, 1, -1)[..., 1], out + 100)
    assert shift_image(img, 0, 0) is img


@pytest.mark.unit
def test_tracker_median_gain_gate_and_dead_band():
    rgb, depth = scene()
    lrs = {s: degrade("bicubic", shift_image(depth, *s), 4) for s in ((-4, 3), (0, 0), (1, 0))}
    t = ShiftTracker(window=5, min_gain=1.05, min_shift_px=2)
    assert t.current == (0, 0)
    for s in [(-4, 3)] * 3 + [(0, 0)] * 2:  # a median of 5: three agree
        t.update(rgb, lrs[s])
    assert t.current == (4, -3)
    t.update(rgb, lrs[(0, 0)])  # the window slides: two (4, -3) left of five
    assert t.current == (0, 0)
    t.reset()
    t.update(rgb, lrs[(1, 0)])  # a 1 px estimate is inside the dead band
    assert (t.last.dy, t.last.dx) == (-1, 0) and t.current == (0, 0)


@pytest.mark.unit
def test_registration_modes():
    rgb, depth = scene()
    lr = degrade("bicubic", shift_image(depth, 5, 0), 4)
    assert Registration("none").shift_for(rgb, lr) == (0, 0) and not Registration("none").active
    assert Registration("fixed", (2, -3)).shift_for(rgb, lr) == (2, -3)
    reg = Registration("auto", every_n=3, window=1)
    assert reg.shift_for(rgb, lr) == (-5, 0)
    assert reg.tracker.last is not None and "auto (dy, dx) = (-5, 0) px" in reg.describe()
    reg.tracker.last = None
    for _ in range(2):  # frames 2 and 3 reuse the estimate of frame 1
        assert reg.shift_for(rgb, lr) == (-5, 0) and reg.tracker.last is None
    with pytest.raises(ValueError, match="registration mode"):
        Registration("sometimes")
    with pytest.raises(ValueError, match="every_n"):
        Registration("auto", every_n=0)


@pytest.mark.unit
def test_background_estimates_never_hold_up_a_frame():
    rgb, depth = scene()
    lr = degrade("bicubic", shift_image(depth, 5, 0), 4)
    reg = Registration("auto", every_n=1, window=1, background=True)
    gate = threading.Event()
    update = reg.tracker.update
    reg.tracker.update = lambda *a: (gate.wait(30), update(*a))[1]  # hold the estimate until released
    try:
        # returns while the estimate is still held: frames never wait for it
        assert reg.shift_for(rgb, lr) == (0, 0)
        assert reg.shift_for(rgb, lr) == (0, 0)  # due again, but one estimate at a time: turn handed on
        gate.set()
        reg.wait_idle(30)
        assert reg.current == (-5, 0)
        reg.shift_for(rgb, lr)  # the handed-on turn starts the next estimate
        reg.wait_idle(30)
        assert reg.current == (-5, 0) and reg.shift_for(rgb, lr) == (-5, 0)
        reg.reset()
        assert reg.current == (0, 0)
    finally:
        reg.close()


@pytest.mark.unit
def test_pipeline_refines_on_the_depth_grid_and_moves_the_result_back():
    rgb, depth = scene()
    lr = degrade("bicubic", depth, 4)
    plain = build_method("bicubic")
    fixed = build_method("bicubic")
    fixed.pipeline.registration = Registration("fixed", (2, -3))
    ref, _ = plain.run(rgb, lr)
    out, _ = fixed.run(rgb, lr)
    np.testing.assert_array_equal(out, shift_image(ref, 2, -3))  # bicubic ignores RGB: a pure move
    res = fixed.pipeline.process(rgb, lr)
    assert "registration" in res.timings_ms and res.depth.flags.c_contiguous
    # without RGB (depth-only mode) the shift in use still applies: the output stays on the RGB grid
    alone = plain.pipeline.process(None, lr, out_hw=(H, W)).depth
    moved = fixed.pipeline.process(None, lr, out_hw=(H, W)).depth
    np.testing.assert_array_equal(moved, shift_image(alone, 2, -3))



@pytest.mark.unit
def test_auto_registration_on_the_real_phone_tof_frames():
    """The three real low-res ToF frames of RGB-D-D sit several pixels off their RGB: undoing the
    tracked offset cuts the bicubic RMSE by about a third (eval-dataset: 7.67 -> 5.38 cm)."""
    frames = load_dataset(require_data("rgbdd_real_lr"))
    plain, reg = build_method("bicubic"), build_method("bicubic", registration="auto")
    assert reg.label == "bicubic +reg"
    rmse = {"plain": [], "reg": []}
    for f in frames:
        gt = f.depth * f.to_metres
        lr = f.lr["native"] * f.to_metres
        for k, m in (("plain", plain), ("reg", reg)):
            d, _ = m.run(f.rgb, lr)
            v = (gt > 0) & np.isfinite(d)
            rmse[k].append(np.sqrt(np.mean((d[v] - gt[v]) ** 2)))
        assert reg.pipeline.registration.tracker.current != (0, 0)
    assert np.mean(rmse["reg"]) < 0.75 * np.mean(rmse["plain"]), rmse


@pytest.mark.unit
def test_eval_dataset_uses_one_median_shift_per_pass():
    """A sensor's frames share one calibration: the pass's median, not each frame's own estimate."""
    from depth_refine_ros.data.datasets import Frame
    from depth_refine_ros.eval.eval_dataset import _dataset_shift, make_input

    frames = []
    for seed in range(5):
        rgb, depth = scene(seed)
        frames.append(Frame("synthetic", str(seed), "day", rgb, depth,
                            lr={"native": degrade("bicubic", shift_image(depth, 3, -4), 4)}))
    def shift(deg, scale):
        return _dataset_shift(frames, [make_input(f, deg, scale) for f in frames])

    assert shift("supplied", 0) == (-3, 4)
    assert shift("bicubic", 4) == (0, 0)  # re-degraded from the registered truth
    # decimated x8 input sits 3.5 px up-left of the block centres: a centred pipeline's estimate sees
    # that offset, a depth.sampling: decimated one's (on the re-sampled input) nothing left to undo
    made = [make_input(f, "nearest", 8) for f in frames]
    dy, dx = _dataset_shift(frames, made)
    assert -5 <= dy <= -2 and -5 <= dx <= -2, (dy, dx)
    assert _dataset_shift(frames, made, "decimated") == (0, 0)
