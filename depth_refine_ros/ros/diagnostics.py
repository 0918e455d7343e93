"""Node statistics (rates, per-stage latency, drops, rejections) and their /diagnostics message.

:class:`NodeStats` is thread-safe: the executor thread counts inputs and drops, the worker thread
records latencies and rejections.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

#: shortest span (s) a rate is measured over, right after a topic's first message
MIN_RATE_SPAN_S = 1.0


class NodeStats:
    """Counters and sliding windows for one node.

    Args:
        window: latency samples kept per stage.
        rate_window_s: inputs are rated over this many seconds.
        clock: monotonic time in seconds (tests pass a fake one).
    """

    def __init__(self, window: int = 200, rate_window_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._window = window
        self._rate_window_s = rate_window_s
        self._clock = clock
        self.arrivals: dict[str, deque[float]] = {}  # arrival times within the rate window
        self.first_arrival: dict[str, float] = {}
        self.last_arrival: dict[str, float] = {}
        self.latency: dict[str, deque[float]] = {}
        self.counts: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def arrived(self, topic: str) -> None:
        """Count one message on an input topic (call it in the subscription callback)."""
        now = self._clock()
        with self._lock:
            q = self.arrivals.get(topic)
            if q is None:
                q = self.arrivals[topic] = deque()
                self.first_arrival[topic] = now
            q.append(now)
            while now - q[0] > self._rate_window_s:
                q.popleft()
            self.last_arrival[topic] = now

    def rate_hz(self, topic: str) -> float:
        """Messages per second on ``topic``: the count over the ``rate_window_s`` up to its latest message.

        Counted over the window, not inferred from the spacing of the arrivals: a callback's arrival
        time is when the executor took the message, and after a stall (a busy or paused process, a
        reliable reader catching up) the queued messages are taken microseconds apart. Spacing-based,
        (n - 1) / (last - first), then reads thousands of Hz: a 2 Hz stream was reported as 3207 Hz.
        The window ends at the latest message, so a pause before the diagnostics are read does not
        dilute the rate of the stream; 0 once nothing arrived for ``rate_window_s``.

        While the topic is younger than the window, the window is the time from its first message
        (at least ``MIN_RATE_SPAN_S``, so two back-to-back first messages do not read as a huge rate),
        and that first message, which opens the measurement, is not counted.
        """
        now = self._clock()
        with self._lock:
            first = self.first_arrival.get(topic)
            ts = list(self.arrivals.get(topic, ()))
        if first is None or not ts or now - ts[-1] > self._rate_window_s:
            return 0.0
        last = ts[-1]
        span = min(self._rate_window_s, max(last - first, MIN_RATE_SPAN_S))
        n = sum(1 for t in ts if last - t < span)
        if last - first < span:
            n -= 1
        return max(n, 0) / span

    def record(self, timings_ms: dict[str, float]) -> None:
        """Add one frame's per-stage latencies (ms)."""
        with self._lock:
            for k, v in timings_ms.items():
                self.latency.setdefault(k, deque(maxlen=self._window)).append(v)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def drop(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.dropped[reason] += n

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def totals(self) -> tuple[int, int, int]:
        """``(published, dropped, rejected)`` frames so far."""
        with self._lock:
            return self.counts["published"], sum(self.dropped.values()), sum(self.rejected.values())

    def latency_summary(self) -> dict[str, tuple[float, float]]:
        """Stage -> (median ms, p95 ms) over the window."""
        with self._lock:
            return {k: (float(np.median(v)), float(np.percentile(v, 95)))
                    for k, v in self.latency.items() if v}

    def to_status(self, name: str, hardware_id: str, backend: str,
                  inputs: list[str], stale_inputs: list[str],
                  extra: dict[str, str] | None = None) -> DiagnosticStatus:
        """A DiagnosticStatus: OK, WARN (stale inputs or rejections) with every counter as values.

        Args:
            extra: more key/values shown after the backend (e.g. the node's mode).
        """
        values = [KeyValue(key="backend", value=backend)]
        values += [KeyValue(key=k, value=str(v)) for k, v in (extra or {}).items()]
        for t in inputs:
            values.append(KeyValue(key=f"rate_hz {t}", value=f"{self.rate_hz(t):.2f}"))
        for stage, (med, p95) in self.latency_summary().items():
            values.append(KeyValue(key=f"latency_ms {stage} (median/p95)", value=f"{med:.2f} / {p95:.2f}"))
        with self._lock:
            counts, dropped, rejected = dict(self.counts), dict(self.dropped), dict(self.rejected)
        for k, v in sorted(counts.items()):
            values.append(KeyValue(key=f"frames {k}", value=str(v)))
        values.append(KeyValue(key="frames dropped", value=str(sum(dropped.values()))))
        for k, v in sorted(dropped.items()):
            values.append(KeyValue(key=f"dropped {k}", value=str(v)))
        values.append(KeyValue(key="frames rejected", value=str(sum(rejected.values()))))
        for k, v in sorted(rejected.items()):
            values.append(KeyValue(key=f"rejected {k}", value=str(v)))
        level, message = DiagnosticStatus.OK, "refining"
        if stale_inputs:
            level, message = DiagnosticStatus.WARN, "no data on " + ", ".join(stale_inputs)
        elif rejected:
            level, message = DiagnosticStatus.WARN, f"{sum(rejected.values())} frames rejected"
        return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                                values=values)


def to_array(stamp, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status in a DiagnosticArray with ``stamp``."""
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr
