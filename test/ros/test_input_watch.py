"""The nodes' input watchdog (InputWatch) and a stream's restart (ArrivalGap, the synchronisers' restart):
pure logic, driven by a fake clock. The live driver restart: test_sr_node_restart_live.py."""
import pytest

from depth_refine_ros.ros.diagnostics import WATCH_REPEAT_S, InputWatch
from depth_refine_ros.ros.sync import ApproximateTimeSync, ArrivalGap, ExactTimeSync

pytestmark = pytest.mark.unit
WARN = 5.0
MS = 1_000_000


def run(watch, inputs, t0, t1, step=1.0):
    """Watchdog ticks every ``step`` s from ``t0`` to ``t1``; inputs(t) -> {topic: (has_pub, last)}.
    Returns [(t, line)]."""
    out, t = [], t0
    while t <= t1 + 1e-9:
        out += [(t, line) for line in watch.check(t, WARN, inputs(t))]
        t += step
    return out


def test_no_publisher_is_logged_once_per_change_then_once_a_minute():
    watch = InputWatch(start=0.0)
    topics = ("/rgb/image", "/depth_lr/image", "/depth_lr/camera_info")
    lines = run(watch, lambda t: {k: (False, None) for k in topics}, 1.0, 300.0)
    # one line naming all three inputs at 5 s, then one a minute (it was one per input per 5 s: 36 a minute)
    assert [t for t, _ in lines] == [5.0, 5.0 + WATCH_REPEAT_S, 5.0 + 2 * WATCH_REPEAT_S, 5.0 + 3 * WATCH_REPEAT_S,
                                     5.0 + 4 * WATCH_REPEAT_S]
    assert all(k in lines[0][1] for k in topics) and lines[0][1].startswith("no publisher on ")
    assert "no message in the 5.0 s since the start" in lines[0][1]


def test_a_change_in_which_inputs_are_silent_is_logged_at_once():
    watch = InputWatch(start=0.0)

    def inputs(t):
        return {"/rgb/image": (False, None), "/depth_lr/image": (t < 20, None)}  # depth's driver leaves at 20 s

    lines = run(watch, inputs, 1.0, 30.0)
    assert [t for t, _ in lines] == [5.0, 5.0, 20.0]
    assert "publisher(s) matched on /depth_lr/image" in lines[1][1] + lines[0][1]
    assert "/depth_lr/image" in lines[2][1] and "/rgb/image" in lines[2][1] and lines[2][1].startswith("no publisher")


def test_a_driver_started_late_is_not_silent_since_the_start():
    """The driver's publisher appears at 90 s; its first message comes 2 s later: no warning that it was
    silent for 92 s (it had no publisher until 90 s: that was said, once)."""
    watch = InputWatch(start=0.0)

    def inputs(t):
        return {"/depth_lr/image": (t >= 90, t if t >= 92 else None)}  # then a steady stream

    lines = run(watch, inputs, 1.0, 120.0)
    assert [t for t, _ in lines] == [5.0, 65.0]
    assert all(line.startswith("no publisher") for _, line in lines)
    # a publisher that matched but sends nothing is counted from when it appeared
    watch = InputWatch(start=0.0)
    lines = run(watch, lambda t: {"/depth_lr/image": (t >= 90, None)}, 1.0, 100.0)
    assert [t for t, _ in lines] == [5.0, 65.0, 95.0]
    assert "no message in the 5.0 s since its publisher appeared" in lines[2][1]


def test_silence_counts_from_the_last_message():
    watch = InputWatch(start=0.0)
    lines = run(watch, lambda t: {"/rgb/image": (True, min(t, 50.0))}, 1.0, 60.0)
    assert [t for t, _ in lines] == [55.0]
    assert "publisher(s) matched on /rgb/image but no message for 5.0 s" in lines[0][1]


def test_arrival_gap_is_a_pause_much_longer_than_the_stream_spacing():
    gap = ArrivalGap(min_s=1.0, factor=5.0)
    t = 0.0
    assert all(gap.arrived(t := t + 1 / 15) is None for _ in range(30))
    assert gap.arrived(t + 0.9) is None  # under 1 s: jitter, a stalled executor
    t += 0.9
    assert gap.arrived(t + 2.5) == pytest.approx(2.5)  # the driver was gone 2.5 s
    t += 2.5
    assert gap.arrived(t + 1 / 15) is None
    slow = ArrivalGap(min_s=1.0, factor=5.0)  # a 0.5 Hz stream: its spacing is no gap, 6x it is
    assert all(slow.arrived(2.0 * i) is None for i in range(10))
    assert slow.arrived(18.0 + 12.0) == pytest.approx(12.0)


def test_approximate_sync_restart_pairs_stamps_behind_the_old_ones():
    sync = ApproximateTimeSync(2, 10, 50 * MS, [10 * MS, 10 * MS])
    for i in range(5):
        assert len(sync.add(0, 1000 * MS + i * 66 * MS, ("rgb", i)).sets) == 0
        assert len(sync.add(1, 1000 * MS + i * 66 * MS, ("depth", i)).sets) == 1
    sync.add(0, 1000 * MS + 5 * 66 * MS, "stale rgb")  # its depth never came: the driver died
    late = sync.add(1, 500 * MS, "new depth")  # the restarted driver's clock is behind
    assert [d.reason for d in late.dropped] == ["late"]
    assert sync.restart(0) == 1 and sync.restart(1) == 0
    assert sync.add(0, 500 * MS, "new rgb").sets == []
    res = sync.add(1, 500 * MS, "new depth")
    assert [[m for _, m in s] for s in res.sets] == [["new rgb", "new depth"]] and not res.dropped


def test_exact_sync_restart_forgets_the_stream_and_the_last_stamp():
    sync = ExactTimeSync(2, 10)
    sync.add(0, 100, "a")
    sync.add(1, 100, "b")
    sync.add(0, 200, "stale")
    assert [d.reason for d in sync.add(1, 50, "new").dropped] == ["late"]
    assert sync.restart(0) == 1
    assert sync.add(0, 50, "new rgb").sets == []
    assert len(sync.add(1, 50, "new depth").sets) == 1
