"""Cost of a network without running a backend: forward FLOPs counted by torch."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from depth_refine_ros.models import build_model


def forward_gflops(kind: str, config: dict[str, Any], inputs: list[str], hw: tuple[int, int]) -> float:
    """Forward GFLOPs of a ``kind`` network built from ``config`` on ``(1, C, H, W)`` random inputs.

    Args:
        kind: registry kind (``sr``, ``depth_sr``, ``mono``, ``sddr``).
        config: the network's config as a dict (a model card's ``config``).
        inputs: graph input names in order; ``rgb`` has 3 channels, every other input 1.
        hw: ``(H, W)`` of every input (padded to the network's size multiple by the caller).
    """
    model = build_model(kind, config).eval()
    args = [torch.rand(1, 3 if n == "rgb" else 1, *hw) for n in inputs]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*args)
    return fc.get_total_flops() / 1e9
