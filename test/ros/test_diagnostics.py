"""Input rates in /diagnostics: a known 2 Hz stream must read ~2 Hz, also when it arrives in bursts.

The unit tests drive :class:`NodeStats` with a fake clock (arrival times in seconds); the live test
pauses a real sr_node (SIGSTOP) while a 2 Hz stream goes on, so that the queued messages are taken
in one burst when it resumes, as after any stall of the node's process (that burst made the old
spacing-based estimate read 1000+ Hz for a 2 Hz stream).
"""
import os
import signal

import numpy as np
import pytest

from depth_refine_ros.ros.diagnostics import NodeStats

T0 = 1000.0  # the fake clock's start (monotonic seconds)


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def stats_and_clock():
    clock = FakeClock()
    return NodeStats(rate_window_s=5.0, clock=clock), clock


def feed(stats, clock, times, topic="depth_lr/image"):
    """Messages arriving at ``times`` (s after ``T0``, ascending)."""
    for t in times:
        clock.t = T0 + t
        stats.arrived(topic)


@pytest.mark.unit
def test_steady_2hz_stream_reads_2hz():
    stats, clock = stats_and_clock()
    feed(stats, clock, np.arange(0, 20, 0.5))  # 40 frames at 2 Hz
    for dt in (0.0, 0.1, 0.25, 0.49):  # anywhere between two frames
        clock.t = T0 + 19.5 + dt
        assert stats.rate_hz("depth_lr/image") == pytest.approx(2.0, abs=1e-9)
    status = stats.to_status("n", "hw", "classical/bicubic", ["depth_lr/image"], [])
    assert {kv.key: kv.value for kv in status.values}["rate_hz depth_lr/image"] == "2.00"


@pytest.mark.unit
def test_jittered_2hz_stream_reads_about_2hz():
    stats, clock = stats_and_clock()
    rng = np.random.default_rng(0)
    times = np.arange(0, 30, 0.5) + rng.uniform(-0.03, 0.03, 60)  # a driver's jitter
    for i, t in enumerate(times):
        feed(stats, clock, [t])
        if t > 6:
            assert stats.rate_hz("depth_lr/image") == pytest.approx(2.0, abs=0.21), i


@pytest.mark.unit
def test_burst_after_a_stall_does_not_read_thousands_of_hz():
    """2 Hz, then the node stalls 6 s: the 5 queued messages (input depth 5) arrive 0.3 ms apart."""
    stats, clock = stats_and_clock()
    feed(stats, clock, np.arange(0, 6, 0.5))
    burst = 12.0 + 0.0003 * np.arange(5)
    feed(stats, clock, burst)
    rates = [stats.rate_hz("depth_lr/image")]
    for t in np.arange(12.5, 22, 0.5):  # the stream goes on at 2 Hz
        feed(stats, clock, [t])
        clock.t += 0.2
        rates.append(stats.rate_hz("depth_lr/image"))
    assert rates[0] == pytest.approx(1.0)  # 5 messages did arrive in the last 5 s
    # the catch-up shows as at most (queue depth) / (window) extra for one window, never 1000s of Hz
    assert max(rates) <= 2.0 + 5 / 5.0, rates
    assert rates[-1] == pytest.approx(2.0)


@pytest.mark.unit
def test_start_and_stop_of_a_stream():
    stats, clock = stats_and_clock()
    assert stats.rate_hz("rgb/image") == 0.0  # never arrived
    feed(stats, clock, [0.0, 0.0003], "rgb/camera_info")  # first two back to back (discovery, a stall)
    assert stats.rate_hz("rgb/camera_info") <= 1.0
    feed(stats, clock, np.arange(0, 3.01, 0.5), "rgb/image")  # a stream younger than the window
    assert stats.rate_hz("rgb/image") == pytest.approx(2.0)
    clock.t += 1.5  # the stream paused: its rate is still the stream's
    assert stats.rate_hz("rgb/image") == pytest.approx(2.0)
    clock.t += 3.51  # nothing for the whole window
    assert stats.rate_hz("rgb/image") == 0.0
    assert stats.rate_hz("depth_lr/image") == 0.0  # topics are separate


@pytest.mark.ros
@pytest.mark.slow
def test_live_2hz_stream_with_a_stalled_node_reads_about_2hz():
    from depth_refine_ros.ros.rig import NodeProcess, Rig, info_msg

    h, w, s = 96, 128, 4
    rgb = np.zeros((h, w, 3), np.uint8)
    lr = np.full((h // s, w // s), 1500, np.uint16)
    period = 0.5

    def frame(i):
        t = 1_700_000_000 + i * period
        return (rgb, "rgb8", lr, "16UC1", t,
                (info_msg(h, w, 100.0, 100.0, 63.5, 47.5, t), info_msg(h // s, w // s, 25.0, 25.0, 15.5, 11.5, t)))

    with NodeProcess("backend:=classical") as node:
        rig = Rig("rig_rate", clouds=False)
        try:
            rig.wait_matched()
            rig.play([frame(i) for i in range(8)], 1 / period)
            os.killpg(node.proc.pid, signal.SIGSTOP)  # a stalled node: its input queue fills
            try:
                rig.play([frame(i) for i in range(8, 20)], 1 / period)
            finally:
                os.killpg(node.proc.pid, signal.SIGCONT)
            n_before = len(rig.diags)
            # 12 s at 2 Hz: on a loaded machine the node drains its queue slowly after SIGCONT, so
            # the burst can sit in the 5 s window for a while; the last readings come after it left
            rig.play([frame(i) for i in range(20, 44)], 1 / period)
            rig.spin(0.6)
            rates = [float(kv.value) for arr in rig.diags[n_before:] for st in arr.status
                     if "depth refinement" in st.name for kv in st.values if kv.key == "rate_hz depth_lr/image"]
        finally:
            rig.close()
        assert node.stop() == 0
    assert len(rates) >= 4, rates
    # the burst on resuming read 1000+ Hz before; now it adds at most what was queued (the rig's
    # history of 10) over the 5 s window
    assert max(rates) <= 2.0 + 10 / 5.0 + 0.1, rates
    assert rates[-1] == pytest.approx(2.0, abs=0.3), rates
