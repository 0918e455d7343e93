"""Training side of a net with a projection gate (``GuidedSRConfig.consistency``): the same projection onto the
low-res samples that the runtime backend applies after the graph (``core/projection.py``), in torch, so the
loss sees what the node will publish."""
from __future__ import annotations

import functools

import numpy as np
import torch

from depth_refine_ros.core.projection import PROJECTION_STEPS, projection_matrices


@functools.lru_cache(maxsize=32)
def _matrices(big_hw: tuple[int, int], hw: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.array(m, np.float32)) for m in projection_matrices(big_hw, hw))


def project(pred: torch.Tensor, lr: torch.Tensor, lr_valid: torch.Tensor, lr_hw: torch.Tensor,
            steps: int = PROJECTION_STEPS) -> torch.Tensor:
    """The gated projection of each sample's estimate onto its low-res samples.

    Args:
        pred: ``(B, 2, P, Q)``: the net's estimate and gate (normalised depth units, [0, 1]).
        lr: ``(B, 1, L, M)``: each sample's low-res depth (same units, holes filled) at the top left, zero-padded.
        lr_valid: ``(B, 1, L, M)`` bool: where ``lr`` is a sample (not a hole, not padding).
        lr_hw: ``(B, 2)`` int: each sample's low-res height and width.
        steps: back-projection steps (the runtime's).

    Returns:
        ``(B, 1, P, Q)``: the projected estimate, differentiable in ``pred``.
    """
    out = []
    big_hw = tuple(pred.shape[2:])
    for i in range(pred.shape[0]):
        h, w = (int(v) for v in lr_hw[i])
        a_y, a_x, u_y, u_x = (m.to(pred.device) for m in _matrices(big_hw, (h, w)))
        d, m = lr[i, 0, :h, :w], lr_valid[i, 0, :h, :w].to(pred.dtype)
        x, g = pred[i, 0], pred[i, 1]
        for _ in range(steps):
            x = x + g * (u_y @ ((d - a_y @ x @ a_x.T) * m) @ u_x.T)
        out.append(x)
    return torch.stack(out)[:, None]


__all__ = ["project"]
