"""An unrolled weighted-least-squares (WLS) refinement with learned weights (docs/architecture.md).

The network predicts, per output pixel, a first estimate ``u``, a data confidence ``c`` and the
smoothness weights of the links to the right and lower neighbours. This module then minimises

    E(x) = sum_p c_p (x_p - u_p)^2 + lam * sum_(p,q) w_pq (x_p - x_q)^2

over the 4-connected grid with ``iters`` fixed Jacobi sweeps, started at ``u``. Each sweep is a
weighted sum of the four shifted neighbours (pad and slice). The graph exports to ONNX with
dynamic height and width, and its cost is linear in the pixels.

Why Jacobi sweeps and not FGS's row and column solves: an exact tridiagonal solve is sequential
along a row, or needs log2(W) full-image passes. Both cost more than a few sweeps. The net's ``u``
is already close to the answer, so a few pixels of propagation suffice.

The link weight mixes the net's prediction with the grey-level difference across the link. So the
solve sees full-resolution edges even where the net works at a quarter of the output size:
``w_pq = exp(k_pq - alpha * |grey_p - grey_q|)``, with grey the mean of R, G and B and
``alpha >= 0`` learned.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UnrolledWLS(nn.Module):
    """Fixed-iteration Jacobi solve of a learned-weight WLS problem; see the module docstring.

    Learned scalars: ``log_lam`` (smoothness strength), ``alpha_raw`` (RGB edge sensitivity, softplus),
    ``gate_raw`` (10 x it is how much of the solve replaces ``u``; 0 at start, so an untrained solver is the
    identity and a net grown from a plain residual net starts as that net).
    """

    def __init__(self, iters: int) -> None:
        super().__init__()
        if iters < 1:
            raise ValueError(f"iters must be >= 1, not {iters}")
        self.iters = iters
        self.log_lam = nn.Parameter(torch.zeros(()))
        self.alpha_raw = nn.Parameter(torch.full((), 2.0))  # softplus(2) ~ 2.1 per unit of grey difference
        # the gate is read as 10 x this parameter: Adam moves a parameter by about the learning rate per
        # step, and a net grown from a trained one is fine-tuned at 1e-4..5e-4
        self.gate_raw = nn.Parameter(torch.zeros(()))

    def link_weights(self, k_right: torch.Tensor, k_down: torch.Tensor,
                     rgb: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights of each pixel's link to its right and lower neighbour, ``(B, 1, H, W)`` each.

        The last column's right link and the last row's down link are zero (no neighbour there).
        """
        zx = k_right[..., :, :-1]
        zy = k_down[..., :-1, :]
        if rgb is not None:
            # one grey channel: a third of the full-size work of per-channel differences
            g = F.softplus(self.alpha_raw) * rgb.mean(1, keepdim=True)
            zx = zx - (g[..., :, 1:] - g[..., :, :-1]).abs()
            zy = zy - (g[..., 1:, :] - g[..., :-1, :]).abs()
        lam = torch.exp(self.log_lam)
        wx = F.pad(lam * torch.exp(zx), (0, 1, 0, 0))
        wy = F.pad(lam * torch.exp(zy), (0, 0, 0, 1))
        return wx, wy

    def forward(self, u: torch.Tensor, k_conf: torch.Tensor, k_right: torch.Tensor, k_down: torch.Tensor,
                rgb: torch.Tensor | None = None) -> torch.Tensor:
        """Refine ``u``.

        Args:
            u: ``(B, 1, H, W)`` first estimate (any units; the pipeline passes standardised depth).
            k_conf: ``(B, 1, H, W)`` log data confidence (``c = exp(k_conf)``).
            k_right, k_down: ``(B, 1, H, W)`` log link weights to the right / lower neighbour.
            rgb: ``(B, 3, H, W)`` in [0, 1], or None (depth-only: links from the net alone).

        Returns:
            ``(B, 1, H, W)``: ``u + gate * (x - u)`` with ``x`` after ``iters`` Jacobi sweeps.
        """
        wx, wy = self.link_weights(k_right, k_down, rgb)
        # each pixel's four links: left = the left neighbour's right link, up = the upper one's down link.
        # Shifts are pad + slice: in OpenVINO a sweep so written costs a fifth of a one-hot 3x3 conv's
        # (docs/log/2026-12.md).
        a_l = F.pad(wx[..., :, :-1], (1, 0, 0, 0))
        a_u = F.pad(wy[..., :-1, :], (0, 0, 1, 0))
        c = torch.exp(k_conf)
        inv = 1.0 / (c + a_l + wx + a_u + wy)
        b = c * u * inv
        a_l, a_r, a_u, a_d = a_l * inv, wx * inv, a_u * inv, wy * inv
        x = u
        for _ in range(self.iters):
            xp = F.pad(x, (1, 1, 1, 1))
            x = (b + a_l * xp[..., 1:-1, :-2] + a_r * xp[..., 1:-1, 2:]
                 + a_u * xp[..., :-2, 1:-1] + a_d * xp[..., 2:, 1:-1])
        return u + 10.0 * self.gate_raw * (x - u)
