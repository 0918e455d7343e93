"""RefineStats over real DDS: sr_node's depth_refined/stats and mono_node's depth_mono/stats, subscribed
with the generated type, frame by frame against the depth outputs (synthetic frames: no data needed)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from depth_refine_ros.core.metrics import lowres_residual
from depth_refine_ros.msg import RefineStats
from depth_refine_ros.ros.rig import FRAME, info_msg, key

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 384, 512, 4
T0 = 1_700_000_000.0


def scene(box: bool = True, hole: bool = False):
    """RGB and a clean 16UC1 low-res depth: a slanted plane (1.5..2.9 m), a box 0.5 m in front."""
    yy, xx = np.mgrid[0:H // S, 0:W // S]
    mm = 1500 + 8 * xx + 4 * yy
    if box:
        mm[30:60, 40:80] = 1000
    if hole:
        mm[10:20, 30:50] = 0
    rgb = np.dstack([(xx * 2) % 256, (yy * 2) % 256, np.full_like(xx, 128)]).astype(np.uint8)
    return np.kron(rgb, np.ones((S, S, 1), np.uint8)), mm.astype(np.uint16)


def infos(stamp):
    f, c = 0.9 * W, (W / 2 - 0.5, H / 2 - 0.5)
    return (info_msg(H, W, f, f, c[0], c[1], stamp),
            info_msg(H // S, W // S, f / S, f / S, (c[0] + 0.5) / S - 0.5, (c[1] + 0.5) / S - 0.5, stamp))


def subscribe_stats(rig, topic: str) -> dict[int, RefineStats]:
    """Record ``topic`` (keyed like the rig's outputs) and wait until the node's publisher matched."""
    got: dict[int, RefineStats] = {}
    sub = rig.node.create_subscription(RefineStats, topic, lambda m: got.setdefault(key(m.header), m), 10)
    assert rig.wait_for(lambda: sub.get_publisher_count() > 0, 20), f"nothing publishes {topic}"
    rig.spin(0.5)  # the node's side of the match
    return got


def depth_of(rig, k):
    m = rig.images[k][1]
    return np.frombuffer(m.data, np.float32).reshape(m.height, m.width)


def test_sr_node_stats_per_frame(live_node):
    node, rig = live_node.start("depth_only.rgb_timeout_s:=0.6", clouds=False)
    stats = subscribe_stats(rig, "depth_refined/stats")
    rgb, lr = scene()
    rig.prime(rgb, lr, "16UC1", T0 - 100, infos(T0 - 100))
    stats.clear()
    frames = [scene(box=i != 4, hole=i == 2) for i in range(6)]
    sent = rig.play([(f[0], "rgb8", f[1], "16UC1", T0 + i / 15, infos(T0 + i / 15)) for i, f in enumerate(frames)],
                    15.0, pace_s=5.0)
    assert rig.wait_for(lambda: set(sent) <= set(stats), 5), f"stats for {len(stats)}/{len(sent)}\n{node.log()[-2000:]}"
    published = []
    for k, (i, _) in sent.items():
        s, img = stats[k], rig.images[k][1]
        # one message per refined frame, with the depth output's stamp and frame
        assert s.header.stamp == img.header.stamp and s.header.frame_id == img.header.frame_id == FRAME
        assert (s.mode, s.method, s.model, s.backend, s.precision) == ("rgb", "bicubic", "", "classical", "fp32")
        assert (s.input_height, s.input_width, s.output_height, s.output_width) == (H // S, W // S, H, W)
        assert s.scale == pytest.approx(S)
        names = list(s.stage_names)
        assert len(names) == len(s.stage_ms) and len(set(names)) == len(names)
        assert {"decode", "pipeline", "preprocess", "backend", "postprocess", "encode", "publish_depth",
                "total"} <= set(names), names
        assert all(math.isfinite(v) and v >= 0 for v in s.stage_ms)
        ms = dict(zip(names, s.stage_ms, strict=True))
        assert ms["total"] >= ms["pipeline"] >= ms["backend"]
        d = depth_of(rig, k)
        assert 0 <= s.coverage <= 1
        assert s.coverage == pytest.approx(np.isfinite(d).mean(), abs=1e-6)
        assert (s.coverage < 1) == (i == 2)  # the hole in frame 2 stays NaN
        # the residual is the output's consistency with the input it was given: small for bicubic
        # on a clean frame (its edge pixels only), ~0 on the plane alone, and what the test computes
        _, lr_i = frames[i]
        ref = lowres_residual(d, np.where(lr_i > 0, lr_i / 1000, np.nan).astype(np.float32))
        assert s.lowres_residual_m == pytest.approx(ref, rel=1e-4, abs=1e-7)
        assert s.lowres_residual_m < (1e-3 if i == 4 else 0.02)
        assert (s.shift_dy_px, s.shift_dx_px) == (0, 0)
        assert (s.frames_dropped, s.frames_rejected) == (0, 0)
        published.append(s.frames_published)
    assert published == list(range(published[0], published[0] + len(sent)))  # totals count every frame
    # a rejected frame shows in the next message's totals
    rig.send(rgb, "rgb8", lr[:, :100], "16UC1", T0 + 1, infos(T0 + 1))  # different aspect ratio
    rig.spin(1.0)  # handled before the next frame (which would otherwise supersede it)
    k = rig.send(rgb, "rgb8", lr, "16UC1", T0 + 2, infos(T0 + 2))
    assert rig.wait_for(lambda: k in stats, 5)
    assert (stats[k].frames_rejected, stats[k].frames_dropped) == (1, 0)
    assert stats[k].frames_published == published[-1] + 1
    # depth alone for longer than depth_only.rgb_timeout_s: mode depth_only, the depth-only pipeline's identity
    for j in range(15):
        rig.send(None, "", lr, "16UC1", T0 + 3 + j / 10, infos(T0 + 3 + j / 10))
        rig.spin(0.1)
    rig.spin(0.5)
    alone = [s for s in stats.values() if s.mode == "depth_only"]
    assert alone, node.log()[-2000:]
    assert all((s.method, s.backend, s.output_height, s.output_width) == ("bicubic", "classical", H, W)
               for s in alone)
    live_node.stop()


def test_mono_node_stats(live_node):
    node, rig = live_node.start("model:=mono_small", "backend:=onnxruntime", "metric.mode:=fit",
                                executable="mono_node", prefix="depth_mono", clouds=False, match_s=60)
    stats = subscribe_stats(rig, "depth_mono/stats")
    rgb, lr = scene()
    rig.prime(rgb, lr, "16UC1", T0 - 100, infos(T0 - 100))
    stats.clear()
    sent = rig.play([(rgb, "rgb8", lr, "16UC1", T0 + i / 5, infos(T0 + i / 5)) for i in range(3)], 5.0, pace_s=10.0)
    assert rig.wait_for(lambda: set(sent) <= set(stats), 10), node.log()[-2000:]
    for k in sent:
        s = stats[k]
        assert s.header.stamp == rig.images[k][1].header.stamp
        assert (s.mode, s.method, s.model, s.backend, s.precision) == ("rgb", "mono", "mono_small", "onnxruntime",
                                                                        "fp32")
        # mono_node's input is the RGB image: same size as the output
        assert (s.input_height, s.input_width, s.output_height, s.output_width, s.scale) == (H, W, H, W, 1.0)
        assert "total" in s.stage_names
        assert 0 < s.coverage <= 1
        # metric fit to the low-res depth: a finite residual against it (a plane and a box from a
        # network that never saw this scene: well under its 1.5 m depth range)
        assert 0 < s.lowres_residual_m < 1.0
    live_node.stop()
