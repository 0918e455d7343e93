"""NAFNet building blocks (Chen et al., "Simple Baselines for Image Restoration", megvii NAFNet).

All modules keep the spatial size and map ``(B, C, H, W) float32 -> (B, C, H, W) float32``.
"""
from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of a ``(B, C, H, W)`` tensor, with a per-channel affine.

    Written with plain mean/var (not ``F.layer_norm`` on a permuted tensor) so it exports to
    ONNX as a handful of elementwise ops and runs the same in every backend.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class SimpleGate(nn.Module):
    """Split channels in two halves and multiply them: ``(B, 2C, H, W) -> (B, C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """One NAFNet block (docs/architecture.md, METHODS 1).

    LayerNorm2d -> 1x1 C->2C -> depthwise 3x3 -> SimpleGate -> simplified channel attention ->
    1x1 -> residual scaled by a zero-initialised ``beta``; then LayerNorm2d -> 1x1 C->2C ->
    SimpleGate -> 1x1 -> residual scaled by a zero-initialised ``gamma``. Zero init makes a fresh
    block the identity, which is why deep NAFNets train without warm-up.

    Args:
        channels: C.
        dilation: dilation of the depthwise conv (1 = the original block).
    """

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        c, dw = channels, channels * 2
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=dilation, dilation=dilation, groups=dw)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.conv2(self.conv1(self.norm1(x))))
        y = self.conv3(y * self.sca(y))
        x = x + y * self.beta
        y = self.conv5(self.gate(self.conv4(self.norm2(x))))
        return x + y * self.gamma


def naf_stack(channels: int, n: int) -> nn.Sequential:
    """``n`` NAF blocks of width ``channels`` (identity when ``n == 0``)."""
    return nn.Sequential(*[NAFBlock(channels) for _ in range(n)])
