"""Time synchronisation of N message streams (message_filters semantics, no ROS dependency).

Pure Python on integer nanosecond stamps so it is unit-testable and reusable for bag replay;
``ros/`` feeds it messages. Two policies:

- :class:`ExactTimeSync`: emits a set when every stream has a message with the same stamp.
- :class:`ApproximateTimeSync`: message_filters' ApproximateTime semantics: a bounded queue per
  stream (``queue_size``), sets whose stamps span at most ``max_interval_ns``, each message used at
  most once, the set with the smallest spread around a pivot preferred, messages older than an
  emitted set discarded. Like message_filters' ``setInterMessageLowerBound``, a lower bound on
  the spacing of a stream's stamps lets a set be emitted as soon as no future message could make
  it tighter, instead of waiting for the next message (one frame of latency). Given ``None`` it
  is estimated per stream as half the smallest stamp spacing seen recently.

Both return emitted sets and report every discarded message with a reason, so the node can count
and explain drops (``late`` = older than an emitted set or reordered past it; ``unmatched`` =
no partner within ``max_interval``; ``overflow`` = queue full).

A stream that restarts (its driver process restarted, a USB camera re-enumerated) comes back after a
gap, often with stamps behind its last ones: :class:`ArrivalGap` notices the gap from arrival times, and
``restart(stream)`` forgets that stream's queued messages and its last stamps, so the new stream is
paired at once instead of being discarded as ``late`` until its stamps pass the old ones.
"""
from __future__ import annotations

import bisect
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Dropped:
    """A message the synchroniser discarded: stream index, stamp (ns), reason, and a detail."""

    stream: int
    stamp_ns: int
    reason: str
    detail: str = ""


@dataclass
class SyncResult:
    """What one :meth:`add` produced: zero or more complete sets, and the discarded messages.

    ``sets`` holds lists of ``(stamp_ns, msg)`` per stream, in stream order.
    """

    sets: list[list[tuple[int, Any]]] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


class ExactTimeSync:
    """Sets of messages with identical stamps.

    Args:
        n_streams: number of input streams (>= 1).
        queue_size: incomplete stamps kept; the oldest is discarded beyond this.
    """

    def __init__(self, n_streams: int, queue_size: int = 10) -> None:
        self.n = n_streams
        self.queue_size = max(1, queue_size)
        self._pending: dict[int, list[Any]] = {}
        self._last_emitted: int | None = None

    def reset(self) -> None:
        """Forget everything (e.g. after time jumped backwards)."""
        self._pending.clear()
        self._last_emitted = None

    def restart(self, stream: int) -> int:
        """Forget ``stream``'s waiting messages and the last set's stamp (the stream restarted).

        Returns:
            how many of its messages were forgotten.
        """
        n = 0
        for stamp in list(self._pending):
            slot = self._pending[stamp]
            if slot[stream] is not None:
                slot[stream] = None
                n += 1
            if all(m is None for m in slot):
                del self._pending[stamp]
        self._last_emitted = None
        return n

    def add(self, stream: int, stamp_ns: int, msg: Any) -> SyncResult:
        """Offer one message; returns complete sets and discarded messages."""
        res = SyncResult()
        if self._last_emitted is not None and stamp_ns <= self._last_emitted:
            res.dropped.append(Dropped(stream, stamp_ns, "late", "stamp not newer than the last set"))
            return res
        slot = self._pending.setdefault(stamp_ns, [None] * self.n)
        if slot[stream] is not None:
            res.dropped.append(Dropped(stream, stamp_ns, "duplicate", "same stamp twice on a stream"))
        slot[stream] = msg
        if all(m is not None for m in slot):
            del self._pending[stamp_ns]
            res.sets.append([(stamp_ns, m) for m in slot])
            self._last_emitted = stamp_ns
            for old in [s for s in self._pending if s < stamp_ns]:
                for i, m in enumerate(self._pending.pop(old)):
                    if m is not None:
                        res.dropped.append(Dropped(i, old, "unmatched", "no exact-stamp partner"))
        while len(self._pending) > self.queue_size:
            old = min(self._pending)
            for i, m in enumerate(self._pending.pop(old)):
                if m is not None:
                    res.dropped.append(Dropped(i, old, "overflow", "queue full"))
        return res


class ApproximateTimeSync:
    """message_filters-style ApproximateTime synchroniser.

    Args:
        n_streams: number of input streams (>= 2).
        queue_size: messages kept per stream; the oldest is discarded beyond this.
        max_interval_ns: largest allowed spread of a set's stamps.
        lower_bounds_ns: per stream, the smallest possible spacing of consecutive stamps; ``None``
            entries are estimated from the stream (half its smallest recent spacing), 0 disables
            early emission for that stream.
    """

    def __init__(self, n_streams: int, queue_size: int = 10, max_interval_ns: int = 50_000_000,
                 lower_bounds_ns: list[int | None] | None = None) -> None:
        if n_streams < 2:
            raise ValueError("ApproximateTimeSync needs at least two streams")
        self.n = n_streams
        self.queue_size = max(1, queue_size)
        self.max_interval_ns = max_interval_ns
        self._bounds = list(lower_bounds_ns or [None] * n_streams)
        self._queues: list[list[tuple[int, Any]]] = [[] for _ in range(n_streams)]
        self._last_emitted: list[int | None] = [None] * n_streams
        self._newest: list[int | None] = [None] * n_streams
        self._spacing: list[deque[int]] = [deque(maxlen=8) for _ in range(n_streams)]

    def reset(self) -> None:
        """Forget everything (e.g. after time jumped backwards)."""
        for q in self._queues:
            q.clear()
        self._last_emitted = [None] * self.n
        self._newest = [None] * self.n
        for s in self._spacing:
            s.clear()

    def restart(self, stream: int) -> int:
        """Forget ``stream``'s queued messages, its last paired stamp and its stamp spacing (the stream
        restarted: its new stamps may lie behind the old ones). The other streams are left as they are.

        Returns:
            how many of its messages were forgotten.
        """
        n = len(self._queues[stream])
        self._queues[stream].clear()
        self._last_emitted[stream] = None
        self._newest[stream] = None
        self._spacing[stream].clear()
        return n

    def _lower_bound(self, stream: int) -> int:
        b = self._bounds[stream]
        if b is not None:
            return b
        sp = self._spacing[stream]
        return min(sp) // 2 if sp else 0

    def add(self, stream: int, stamp_ns: int, msg: Any) -> SyncResult:
        """Offer one message; returns complete sets and discarded messages."""
        res = SyncResult()
        last = self._last_emitted[stream]
        if last is not None and stamp_ns <= last:
            res.dropped.append(Dropped(stream, stamp_ns, "late",
                                       "stamp not newer than the last synchronised set"))
            return res
        newest = self._newest[stream]
        if newest is not None and stamp_ns > newest:
            self._spacing[stream].append(stamp_ns - newest)
        if newest is None or stamp_ns > newest:
            self._newest[stream] = stamp_ns
        q = self._queues[stream]
        bisect.insort(q, (stamp_ns, msg), key=lambda e: e[0])  # tolerate reordering
        while len(q) > self.queue_size:
            s, _ = q.pop(0)
            res.dropped.append(Dropped(stream, s, "overflow", "queue full"))
        self._process(res)
        return res

    def _process(self, res: SyncResult) -> None:
        while all(self._queues):
            fronts = [q[0][0] for q in self._queues]
            end = max(fronts)
            pivot = fronts.index(end)
            chosen: list[int] = []
            wait = False
            for i, q in enumerate(self._queues):
                if i == pivot:
                    chosen.append(0)
                    continue
                # closest message to the pivot among those queued
                j = min(range(len(q)), key=lambda k: abs(q[k][0] - end))
                chosen.append(j)
                if q[j][0] < end and j == len(q) - 1:
                    # A future message on stream i could be closer to the pivot unless the
                    # stream's stamp spacing rules that out.
                    if q[j][0] + self._lower_bound(i) - end < end - q[j][0]:
                        wait = True
            stamps = [self._queues[i][j][0] for i, j in enumerate(chosen)]
            if max(stamps) - min(stamps) > self.max_interval_ns:
                # The oldest front cannot be paired within max_interval: discard it.
                k = fronts.index(min(fronts))
                s, _ = self._queues[k].pop(0)
                others = [f for i, f in enumerate(fronts) if i != k]
                gap = min(abs(f - s) for f in others) / 1e9
                res.dropped.append(Dropped(k, s, "unmatched",
                                           f"nearest partner {gap:.3f} s away > max interval "
                                           f"{self.max_interval_ns / 1e9:.3f} s"))
                continue
            if wait:
                return
            out = []
            for i, j in enumerate(chosen):
                q = self._queues[i]
                for s, _ in q[:j]:
                    res.dropped.append(Dropped(i, s, "unmatched", "a closer message was paired"))
                out.append(q[j])
                del q[: j + 1]
                self._last_emitted[i] = out[-1][0]
            res.sets.append(out)


class ArrivalGap:
    """Notices when a stream comes back after a gap, from the arrival times of its messages.

    A gap is a pause longer than ``min_s`` and than ``factor`` times the stream's usual spacing (the
    median of its last ``window`` intervals), so a slow stream's normal spacing is never a gap. Gaps
    are reported only once the usual spacing is known (``min_intervals`` intervals seen).

    Args:
        min_s: the shortest pause (s) that counts as a gap.
        factor: a gap is also longer than this many usual intervals.
        window: intervals the usual spacing is the median of.
        min_intervals: intervals seen before a gap is reported.
    """

    def __init__(self, min_s: float = 1.0, factor: float = 5.0, window: int = 16, min_intervals: int = 3) -> None:
        self.min_s = min_s
        self.factor = factor
        self.min_intervals = min_intervals
        self._last: float | None = None
        self._intervals: deque[float] = deque(maxlen=window)

    @property
    def last(self) -> float | None:
        """When (monotonic s) the stream's last message arrived, or None before the first."""
        return self._last

    def threshold(self) -> float:
        """The pause (s) beyond which the next message ends a gap."""
        usual = statistics.median(self._intervals) if self._intervals else 0.0
        return max(self.min_s, self.factor * usual)

    def arrived(self, now: float) -> float | None:
        """Record a message arriving at ``now`` (monotonic s); returns the gap (s) it ends, or None."""
        last, self._last = self._last, now
        if last is None:
            return None
        pause = now - last
        if pause > self.threshold() and len(self._intervals) >= self.min_intervals:
            return pause  # not a usual interval: left out of the spacing
        self._intervals.append(pause)  # (before min_intervals: a slow stream's first intervals, learnt)
        return None
