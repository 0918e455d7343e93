"""SDDR depth refiner (docs/architecture.md, METHODS 3: "Self-Distilled Depth Refinement", NeurIPS 2024).

Refines a predicted depth from two inferences of a depth predictor: one at low resolution
(consistent, blurry edges) and one at high resolution (sharp edges, local inconsistencies).

Inputs: ``low``, ``high``: ``(B, 1, H, W) float32``, each normalised to [0, 1] over the frame
(see :func:`depth_refine_ros.core.net_input.minmax_normalise`), H and W multiples of
:attr:`SddrRefiner.size_multiple`.
Outputs: ``d0`` ``(B, 1, H, W)`` refined depth in the same normalised units, and
``g0`` ``(B, 1, H, W)`` its gradient magnitude (central differences, the paper's G0).

Choices (the paper's code details are not in docs/architecture.md):
    * The shared encoder is a NAFNet encoder (stem + ``levels`` stride-2 stages) applied to ``low``
      and to ``high`` separately with the same weights.
    * Each decoder level predicts ``Omega = sigmoid(conv3x3([x_up, F_low, F_high]))`` per channel
      and fuses ``F = (1 - Omega) F_low + Omega F_high``; the bottleneck fuses the same way.
    * ``d0 = low + conv3x3(x)`` (residual on the consistent low-resolution inference).
    * :meth:`SddrRefiner.forward_with_masks` also returns every Omega for the fusion loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from depth_refine_ros.models.nafnet import naf_stack


@dataclass(frozen=True)
class SddrConfig:
    """Refiner configuration (saved in checkpoints and model cards).

    Attributes:
        width: channels of the first level (doubled per level).
        levels: number of stride-2 encoder stages.
        enc_blocks: NAF blocks per encoder level.
        dec_blocks: NAF blocks per decoder level.
    """

    width: int = 16
    levels: int = 3
    enc_blocks: int = 1
    dec_blocks: int = 1


SDDR_PRESETS: dict[str, SddrConfig] = {
    # small: the shipped CPU refiner (sddr_small), about half the cost of base at 192 x 256
    "small": SddrConfig(width=12),
    "base": SddrConfig(),
    "large": SddrConfig(width=32, levels=4, enc_blocks=2, dec_blocks=2),
}


def gradient_magnitude(d: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude ``(B, 1, H, W) -> (B, 1, H, W)`` (replicate border)."""
    p = F.pad(d, (1, 1, 1, 1), mode="replicate")
    gx = (p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]) * 0.5
    gy = (p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]) * 0.5
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


class _MaskFuse(nn.Module):
    def __init__(self, c: int, extra: int) -> None:
        super().__init__()
        self.mask = nn.Conv2d(2 * c + extra, c, 3, padding=1)

    def forward(self, f_low, f_high, x=None):
        inp = torch.cat([f_low, f_high] if x is None else [x, f_low, f_high], 1)
        omega = torch.sigmoid(self.mask(inp))
        return (1 - omega) * f_low + omega * f_high, omega


class SddrRefiner(nn.Module):
    """The refinement network; see the module docstring."""

    def __init__(self, cfg: SddrConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.width
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.enc, self.downs, widths = nn.ModuleList(), nn.ModuleList(), []
        for _ in range(cfg.levels):
            self.enc.append(naf_stack(c, cfg.enc_blocks))
            widths.append(c)
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.bottom = _MaskFuse(c, 0)
        self.ups, self.fuses, self.dec = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for w in reversed(widths):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.PixelShuffle(2)))
            c = w
            self.fuses.append(_MaskFuse(c, c))
            self.dec.append(nn.Sequential(nn.Conv2d(2 * c, c, 1), naf_stack(c, cfg.dec_blocks)))
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    @property
    def size_multiple(self) -> int:
        """H and W of the inputs must be multiples of this."""
        return 2 ** self.cfg.levels

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, feats = self.stem(x), []
        for blocks, down in zip(self.enc, self.downs, strict=True):
            x = blocks(x)
            feats.append(x)
            x = down(x)
        feats.append(x)
        return feats

    def forward_with_masks(self, low: torch.Tensor, high: torch.Tensor):
        """Like :meth:`forward`, plus the list of Omega masks (coarsest first) for training."""
        fl, fh = self._encode(low), self._encode(high)
        x, omega = self.bottom(fl[-1], fh[-1])
        masks = [omega]
        for i, (up, fuse, dec) in enumerate(zip(self.ups, self.fuses, self.dec, strict=True)):
            lvl = len(fl) - 2 - i
            xu = up(x)
            f, omega = fuse(fl[lvl], fh[lvl], xu)
            masks.append(omega)
            x = dec(torch.cat([xu, f], 1))
        d0 = low + self.head(x)
        return d0, gradient_magnitude(d0), masks

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d0, g0, _ = self.forward_with_masks(low, high)
        return d0, g0
