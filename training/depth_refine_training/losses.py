"""Losses (docs/architecture.md, METHODS 1, 2): masked L1 + Sobel for SR, log-L1 + scale-and-shift-invariant
for mono; the per-image least-squares alignment and masked L1 of distillation (METHODS 4)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def sobel(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W) -> (B, 2, H, W)`` horizontal and vertical Sobel responses (replicate border)."""
    k = torch.stack([_SOBEL, _SOBEL.t()])[:, None].to(x)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)


def l1_sobel(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, w_grad: float = 1.0) -> torch.Tensor:
    """``|D - G|_1 + |Sobel D - Sobel G|_1`` over valid pixels (gradients where both neighbours are valid)."""
    m = mask.float()
    l1 = (torch.abs(pred - gt) * m).sum() / m.sum().clamp(min=1)
    mg = (F.avg_pool2d(m, 3, 1, 1) > 0.999).float()
    g = (torch.abs(sobel(pred) - sobel(gt)) * mg).sum() / (2 * mg.sum()).clamp(min=1)
    return l1 + w_grad * g


def log_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean |ln(D + 1) - ln(D_hat + 1)|`` over valid pixels (docs/architecture.md, METHODS 2)."""
    m = mask.float()
    return (torch.abs(torch.log1p(pred) - torch.log1p(gt)) * m).sum() / m.sum().clamp(min=1)


def _scale_shift(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, eps: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row (image) of ``(B, N)`` values ``p``, ``g`` and weights ``m``: the least-squares ``s, t`` of
    ``s * p + t ~ g`` and the weight sum ``n`` (each ``(B,)``); ``eps`` floors the variance of ``p``."""
    n = m.sum(1).clamp(min=1)
    mp, mg = (p * m).sum(1) / n, (g * m).sum(1) / n
    cov = (((p - mp[:, None]) * (g - mg[:, None])) * m).sum(1)
    var = (((p - mp[:, None]) ** 2) * m).sum(1).clamp(min=eps)
    s = cov / var
    return s, mg - s * mp, n


def ssi(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scale-and-shift-invariant L1: per image, least-squares align ``pred`` to ``gt``, then L1."""
    p, g, m = pred.flatten(1), gt.flatten(1), mask.float().flatten(1)
    s, t, n = _scale_shift(p, g, m, 1e-6)
    return ((torch.abs(s[:, None] * p + t[:, None] - g) * m).sum(1) / n).mean()


def align(src: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image, ``s * src + t`` with ``s, t`` the least-squares fit of ``src`` to ``ref`` over
    ``mask`` (all ``(B, 1, H, W)``). ``s, t`` carry no gradient; ``src`` does."""
    with torch.no_grad():
        s, t, _ = _scale_shift(src.flatten(1), ref.flatten(1), mask.float().flatten(1), 1e-8)
    return src * s[:, None, None, None] + t[:, None, None, None]


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``|a - b|`` over ``mask`` (``(B, 1, H, W)``)."""
    m = mask.float()
    return (torch.abs(a - b) * m).sum() / m.sum().clamp(min=1)
