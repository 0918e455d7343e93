"""Projecting refined depth back onto averaged low-res samples (``depth.sampling: averaged``).

When each low-res pixel is the average of its block of the scene's depth (sensor binning, an area or
antialiased resize, the literature's bicubic protocol), the refined depth, averaged the same way,
must give the input back. No upsampler guarantees that: on held-out RGB-D-D frames the default
net's output, so averaged, was 0.7 cm RMSE off its own x4 input (docs/results.md#averaged-input).
:func:`project_averaged` removes that difference by iterative back-projection: ``x += U (d - A x)``,
with ``A`` the antialiased bicubic averaging of :func:`~depth_refine_ros.core.degrade.aa_cubic_matrix`
(separable, per axis) and ``U`` its transpose scaled to unit gain.

On noisy, ToF-like, aliased or decimated input the same step copies the input's noise back into
the result. So a fixed projection is a setting (the input's sampling), never applied by default; a net
with ``consistency`` predicts per pixel how much of it to take (``gate``).
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np

from depth_refine_ros.core.degrade import aa_cubic_matrix
from depth_refine_ros.core.upsample import fill_invalid

PROJECTION_STEPS = 3
"""Back-projection steps: on held-out frames 3 steps reach the fixed point's RMSE to 0.003 cm."""


@functools.lru_cache(maxsize=32)
def projection_matrices(big_hw: tuple[int, int], hw: tuple[int, int]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(A_y, A_x, U_y, U_x)``: the averaging ``A`` (``(h, H)``, ``(w, W)``) and its unit-gain transpose ``U``
    (``(H, h)``, ``(W, w)``), ``float32``, read-only. ``A x`` averages a ``(H, W)`` map to ``A_y @ x @ A_x.T``.
    Cached per size pair: a stream's frames all share one."""
    a_y, a_x = aa_cubic_matrix(big_hw[0], hw[0]), aa_cubic_matrix(big_hw[1], hw[1])
    # U = A^T / column sums: each output pixel takes the residual of the samples it contributes to,
    # weighted, with unit gain (a constant residual moves the output by that constant)
    u_y = a_y.T / np.maximum(a_y.sum(0), 1e-6)[:, None]
    u_x = a_x.T / np.maximum(a_x.sum(0), 1e-6)[:, None]
    u_y, u_x = u_y.astype(np.float32), u_x.astype(np.float32)
    u_y.flags.writeable = u_x.flags.writeable = False  # cached: shared by every caller
    return a_y, a_x, u_y, u_x


@dataclass(frozen=True)
class _Banded:
    """A banded ``(n_out, n_in)`` matrix as row blocks, each with the column range its non-zeros span.

    The averaging matrices have at most ``4 x factor`` non-zeros per row. Dense BLAS products spend
    most of their time on zeros; products by blocks do a few times less work for the same sums.
    """
    n_out: int
    blocks: tuple[tuple[slice, slice, np.ndarray], ...]

    @classmethod
    def of(cls, m: np.ndarray, n_blocks: int = 8) -> _Banded:
        edges = np.linspace(0, m.shape[0], min(n_blocks, m.shape[0]) + 1).astype(int)
        blocks = []
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            cols = np.flatnonzero(np.any(m[a:b] != 0, axis=0))
            lo, hi = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 1)
            sub = np.ascontiguousarray(m[a:b, lo:hi], dtype=np.float32)
            sub.flags.writeable = False
            blocks.append((slice(int(a), int(b)), slice(lo, hi), sub))
        return cls(int(m.shape[0]), tuple(blocks))

    def left(self, x: np.ndarray) -> np.ndarray:
        """``M @ x`` for ``x`` ``(n_in, k)``: ``(n_out, k) float32``."""
        out = np.empty((self.n_out, x.shape[1]), np.float32)
        for rows, cols, sub in self.blocks:
            np.matmul(sub, x[cols], out=out[rows])
        return out

    def right(self, x: np.ndarray) -> np.ndarray:
        """``x @ M.T`` for ``x`` ``(k, n_in)``: ``(k, n_out) float32``."""
        out = np.empty((x.shape[0], self.n_out), np.float32)
        for rows, cols, sub in self.blocks:
            out[:, rows] = x[:, cols] @ sub.T
        return out


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded (numpy's), or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which numpy's BLAS runs in the calling thread only.

    Why: after a product, OpenBLAS's worker threads spin for a while. On 2 cores they then take the
    cores from the next frame's inference: the network's next run took 57 ms instead of 37 ms
    (docs/log/2026-12.md). The products here are small; one thread runs them as fast.
    """
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=32)
def _banded(big_hw: tuple[int, int], hw: tuple[int, int]) -> tuple[_Banded, _Banded, _Banded, _Banded]:
    return tuple(_Banded.of(m) for m in projection_matrices(big_hw, hw))  # type: ignore[return-value]


def project_averaged(depth_hr: np.ndarray, depth_lr: np.ndarray, steps: int = PROJECTION_STEPS,
                     gate: np.ndarray | None = None) -> np.ndarray:
    """``depth_hr`` corrected so that its antialiased average over each block matches ``depth_lr``.

    Args:
        depth_hr: ``(H, W) float32`` metres, NaN invalid: the refined depth, on the low-res depth's grid.
            NaN pixels are filled from their neighbours for the projection; a caller that has the
            values under its holes (a network's output) should project before it masks them.
        depth_lr: ``(h, w) float32`` metres, NaN invalid; ``h <= H``, ``w <= W`` (any ratio).
        steps: back-projection steps.
        gate: optional ``(H, W) float32`` in [0, 1]: how much of each step each pixel takes (a network's
            judgement of how clean the input is there); None: all of it.

    Returns:
        ``(H, W) float32`` metres, NaN where ``depth_hr`` was NaN. Low-res holes add no correction.
    """
    a_y, a_x, u_y, u_x = _banded(tuple(depth_hr.shape), tuple(depth_lr.shape))
    x, hr_valid = fill_invalid(depth_hr)
    lr, valid = fill_invalid(depth_lr)
    mask = None if valid.all() else valid.astype(np.float32)
    hr_whole = bool(hr_valid.all())
    if hr_whole:  # fill_invalid handed back the caller's array: x is updated in place below
        x = x.copy()
    with _one_blas_thread():
        for _ in range(steps):
            r = lr - a_x.right(a_y.left(x))
            if mask is not None:
                r *= mask
            step = u_y.left(u_x.right(r))
            if gate is not None:
                step *= gate
            x += step
    if not hr_whole:
        x[~hr_valid] = np.nan
    return x


__all__ = ["PROJECTION_STEPS", "project_averaged", "projection_matrices"]
