"""The pipeline's registration stage: which depth-to-RGB shift to undo on each frame.

The estimate, the tracker and the shift itself are array functions in
:mod:`depth_refine_ros.core.register`; this stage adds what a stream needs around them: the mode
(``none``, ``fixed``, ``auto``), an estimate every n-th frame, and optionally a background thread
that runs the estimates, so that one never delays a frame (sr_node).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from depth_refine_ros.core.register import ShiftEstimate, ShiftTracker


class _LockedTracker(ShiftTracker):
    """:class:`ShiftTracker` whose kept estimates may be added from another thread (the estimate
    itself runs unlocked: only the history is shared)."""

    def __init__(self, *args, **kwargs) -> None:
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def add(self, est: ShiftEstimate) -> None:
        with self._lock:
            super().add(est)

    @property
    def current(self) -> tuple[int, int]:
        with self._lock:
            return super().current

    def reset(self) -> None:
        with self._lock:
            super().reset()


REGISTRATION_MODES = ("none", "fixed", "auto")


class Registration:
    """The pipeline's registration stage: which shift to undo on each frame.

    Args:
        mode: ``none`` (trust the driver's registration), ``fixed`` (a calibrated ``shift_px``) or
            ``auto`` (tracked from RGB/depth edges, see :class:`~depth_refine_ros.core.register.ShiftTracker`).
        shift_px: ``(dy, dx)`` output pixels for ``fixed``.
        every_n: ``auto`` estimates on every n-th frame (an estimate costs ~25 ms at 512x384 on
            2 cores, several times that on a loaded machine).
        window, min_gain, max_shift_px, min_shift_px: :class:`~depth_refine_ros.core.register.ShiftTracker` settings.
        background: ``auto`` estimates on a background thread (sr_node: an estimate then never
            delays the frame it was taken from; the shift it finds applies from a later frame).
            Off for evaluation, which must be deterministic. A frame that falls due while an
            estimate is running hands its turn to the next frame.

    Raises:
        ValueError: unknown mode or a non-positive ``every_n``.
    """

    def __init__(self, mode: str = "none", shift_px: tuple[int, int] = (0, 0), every_n: int = 5,
                 window: int = 15, min_gain: float = 1.05, max_shift_px: int = 8,
                 min_shift_px: int = 2, background: bool = False) -> None:
        if mode not in REGISTRATION_MODES:
            raise ValueError(f"registration mode must be one of {REGISTRATION_MODES}, got '{mode}'")
        if every_n < 1:
            raise ValueError(f"registration every_n must be >= 1, got {every_n}")
        self.mode = mode
        self.fixed = (int(shift_px[0]), int(shift_px[1]))
        self.every_n = every_n
        self.tracker = _LockedTracker(window, min_gain, max_shift_px, min_shift_px)
        self._count = 0
        self._due = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="registration") if background else None
        self._running: Future | None = None

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def shift_for(self, rgb: np.ndarray, depth_lr: np.ndarray) -> tuple[int, int]:
        """The ``(dy, dx)`` (output pixels) to move this frame's depth by; estimates when due.

        Args:
            rgb: ``(H, W, 3) uint8``, the output grid.
            depth_lr: ``(h, w) float32`` metres, NaN invalid.
        """
        if self.mode == "fixed":
            return self.fixed
        if self.mode == "none":
            return 0, 0
        self._due |= self._count % self.every_n == 0
        self._count += 1
        if self._due:
            if self._pool is None:
                self.tracker.update(rgb, depth_lr)
                self._due = False
            elif self._running is None or self._running.done():
                self._running = self._pool.submit(self.tracker.update, rgb.copy(), depth_lr.copy())
                self._due = False
        return self.tracker.current

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until a background estimate in flight has finished (tests, orderly stop)."""
        if self._running is not None:
            self._running.result(timeout)

    def close(self) -> None:
        """Stop the background thread (after the estimate in flight)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    @property
    def current(self) -> tuple[int, int]:
        """The shift in use now, without estimating (frames without RGB keep it)."""
        if self.mode == "fixed":
            return self.fixed
        return self.tracker.current if self.mode == "auto" else (0, 0)

    def describe(self) -> str:
        """One line for diagnostics, e.g. ``auto (dy, dx) = (-6, 6) px, last gain 1.11``."""
        if self.mode == "none":
            return "none"
        if self.mode == "fixed":
            return f"fixed (dy, dx) = {self.fixed} px"
        last = self.tracker.last
        tail = f", last estimate ({last.dy}, {last.dx}) gain {last.gain:.2f}" if last is not None else ""
        return f"auto (dy, dx) = {self.tracker.current} px{tail}"

    def reset(self) -> None:
        """Forget the tracked estimates (a new sequence, a bag loop)."""
        self.wait_idle()
        self.tracker.reset()
        self._count = 0
        self._due = False
