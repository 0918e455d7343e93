"""ApproximateTime / ExactTime synchronisation on jittered, dropped and reordered stamps."""
import numpy as np
import pytest

from depth_refine_ros.ros.sync import ApproximateTimeSync, ExactTimeSync

pytestmark = pytest.mark.unit
MS = 1_000_000
PERIOD = 66 * MS


def feed(sync, events):
    """events: (stream, stamp_ns) in arrival order -> (pairs as stamp tuples, dropped)."""
    pairs, dropped = [], []
    for stream, stamp in events:
        res = sync.add(stream, stamp, (stream, stamp))
        pairs += [tuple(s for s, _ in st) for st in res.sets]
        dropped += res.dropped
    return pairs, dropped


def interleave(a, b):
    ev = [(0, s) for s in a] + [(1, s) for s in b]
    return sorted(ev, key=lambda e: (e[1], e[0]))


def test_identical_stamps_pair_immediately():
    sync = ApproximateTimeSync(2, 10, 20 * MS)
    t = [i * PERIOD for i in range(10)]
    for i, s in enumerate(t):
        assert sync.add(0, s, None).sets == []
        res = sync.add(1, s, None)
        assert [[x for x, _ in st] for st in res.sets] == [[s, s]], i


def test_jittered_stamps_pair_correctly_without_waiting_a_frame():
    r = np.random.default_rng(0)
    base = [1_000 * MS + i * PERIOD for i in range(50)]
    a = [b + int(r.integers(-5, 6)) * MS for b in base]
    b = [b + int(r.integers(-5, 6)) * MS for b in base]
    sync = ApproximateTimeSync(2, 10, 20 * MS)
    pairs = []
    for i in range(50):
        for stream, s in sorted([(0, a[i]), (1, b[i])], key=lambda e: e[1]):
            res = sync.add(stream, s, None)
            pairs += [tuple(x for x, _ in st) for st in res.sets]
        if i >= 2:  # once the spacing is known, frame i is out before frame i + 1 arrives
            assert pairs[-1] == (a[i], b[i])
    assert pairs[2:] == list(zip(a, b, strict=True))[2:]
    assert len(pairs) >= 49


def test_dropped_frames_are_skipped_and_counted():
    base = [i * PERIOD for i in range(30)]
    depth = [s + 3 * MS for k, s in enumerate(base) if k % 5 != 2]
    pairs, dropped = feed(ApproximateTimeSync(2, 10, 20 * MS), interleave(base, depth))
    for ra, db in pairs:
        assert db - ra == 3 * MS
    assert len(pairs) >= len(depth) - 1
    assert {d.stamp_ns for d in dropped if d.stream == 0} >= {base[k] for k in range(30) if k % 5 == 2 and k < 27}


def test_reordered_arrivals_still_pair_by_stamp():
    base = [i * PERIOD for i in range(20)]
    ev = interleave(base, base)
    # swap neighbouring depth messages: depth i+1 arrives before depth i
    dev = [e for e in ev if e[0] == 1]
    for k in range(0, len(dev) - 1, 4):
        dev[k], dev[k + 1] = dev[k + 1], dev[k]
    rgb = [e for e in ev if e[0] == 0]
    events = [e for pair in zip(rgb, dev, strict=True) for e in pair]
    pairs, dropped = feed(ApproximateTimeSync(2, 10, 20 * MS), events)
    assert all(a == b for a, b in pairs)
    assert len(pairs) >= 15
    assert all(d.reason in ("late", "unmatched") for d in dropped)


def test_far_apart_stamps_never_pair():
    a = [i * 200 * MS for i in range(10)]
    b = [s + 100 * MS for s in a]  # every depth stamp is 100 ms from every rgb stamp
    pairs, dropped = feed(ApproximateTimeSync(2, 10, 50 * MS), interleave(a, b))
    assert pairs == []
    assert any("max interval" in d.detail for d in dropped)


def test_queue_is_bounded():
    sync = ApproximateTimeSync(2, 5, 20 * MS)
    pairs, dropped = feed(sync, [(0, i * PERIOD) for i in range(50)])
    assert pairs == [] and len(sync._queues[0]) == 5
    assert sum(d.reason == "overflow" for d in dropped) == 45


def test_three_streams_and_late_messages():
    sync = ApproximateTimeSync(3, 10, 20 * MS, [30 * MS] * 3)
    pairs, _ = feed(sync, [(0, 100 * MS), (1, 102 * MS), (2, 98 * MS)])
    assert pairs == [(100 * MS, 102 * MS, 98 * MS)]
    res = sync.add(0, 90 * MS, None)
    assert res.dropped[0].reason == "late"


def test_exact_time():
    sync = ExactTimeSync(2, 3)
    pairs, dropped = feed(sync, [(0, 1), (1, 2), (0, 2), (1, 1), (0, 3), (1, 3)])
    assert pairs == [(2, 2), (3, 3)]
    assert {(d.stamp_ns, d.reason) for d in dropped} >= {(1, "unmatched"), (1, "late")}
    _, dropped = feed(sync, [(0, 10 + i) for i in range(10)])
    assert sum(d.reason == "overflow" for d in dropped) == 7
