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

from depth_refine_ros.ros.qos import SILENT_HINT

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
        (n - 1) / (last - first), then reads thousands of Hz
        (docs/log/history.md#measurements-moved-from-module-docstrings).
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


#: while the set of silent inputs stays the same, its warning repeats at most this often (s)
WATCH_REPEAT_S = 60.0
NOPUB_HINT = "check the remappings to your driver's topics, and that the driver runs"


class InputWatch:
    """Which watched inputs are silent, and the warnings that say so (the nodes' 1 s watchdog).

    Silence counts from an input's last message. Before its first message it counts from the start
    (or the managed node's activation), and, for an input whose publisher appeared after that (a driver
    started after the node), from when its publisher was first seen: a late driver is not "silent for
    92 s" one second after it came up. A warning goes out when the set of inputs without a publisher, or
    of inputs with a publisher but no messages, changes, and again at most every ``repeat_s`` while it
    stays the same: an idle node logs one line a minute, not one per input per ``log_throttle_s``.

    Args:
        start: monotonic time the node started watching (s).
        repeat_s: the slowest repeat of an unchanged warning (s).
    """

    def __init__(self, start: float, repeat_s: float = WATCH_REPEAT_S) -> None:
        self.start = start
        self.repeat_s = repeat_s
        self._pub_since: dict[str, float] = {}
        self._first = True
        self._state: dict[str, frozenset[str]] = {"nopub": frozenset(), "silent": frozenset()}
        self._logged: dict[str, float] = {}

    def check(self, now: float, warn_s: float, inputs: dict[str, tuple[bool, float | None]]) -> list[str]:
        """The warnings to log now (zero, one or two lines).

        Args:
            now: monotonic time (s).
            warn_s: silence (s) that counts (``qos.silent_input_warn_s``).
            inputs: topic -> (whether it has a publisher now, monotonic time of its last message or None).
        """
        found: dict[str, dict[str, str]] = {"nopub": {}, "silent": {}}
        for topic, (has_pub, last) in inputs.items():
            if has_pub:  # first seen now, or (first look) already there at the start
                self._pub_since.setdefault(topic, self.start if self._first else now)
            else:
                self._pub_since.pop(topic, None)
            since = self.start if last is None else last
            late_pub = has_pub and self._pub_since[topic] > since
            if late_pub:
                since = self._pub_since[topic]
            quiet = now - since
            if quiet < warn_s:
                continue
            if last is not None:
                what = f"no message for {quiet:.1f} s"
            elif late_pub:
                what = f"no message in the {quiet:.1f} s since its publisher appeared"
            else:
                what = f"no message in the {quiet:.1f} s since the start"
            found["silent" if has_pub else "nopub"][topic] = what
        self._first = False
        lines = []
        for kind, items in found.items():
            state = frozenset(items)
            changed = state != self._state[kind]
            self._state[kind] = state
            if state and (changed or now - self._logged.get(kind, -1e18) >= self.repeat_s):
                self._logged[kind] = now
                lines.append(self._line(kind, items))
        return lines

    @staticmethod
    def _line(kind: str, items: dict[str, str]) -> str:
        listed = "; ".join(f"{topic} ({what})" for topic, what in sorted(items.items()))
        if kind == "nopub":
            return f"no publisher on {listed}: {NOPUB_HINT}"
        if len(items) == 1:
            ((topic, what),) = items.items()
            return SILENT_HINT.format(topic=topic, what=what)
        return SILENT_HINT.format(topic=", ".join(sorted(items)), what="; ".join(
            f"{what} on {topic}" for topic, what in sorted(items.items())))


def to_array(stamp, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status in a DiagnosticArray with ``stamp``."""
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr
