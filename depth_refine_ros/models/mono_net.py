"""Monocular depth estimator: dilated-ResNet Dense Feature Extractor + Depth Map Generator
(docs/architecture.md, METHODS 2).

Hao et al., "Detail Preserving Depth Estimation from a Single Image Using Attention Guided
Networks" (3DV 2018). Written here without torchvision (no CPU build of it exists for us).

Input ``rgb``: ``(B, 3, H, W) float32`` in [0, 1] (ImageNet mean/std normalisation is applied
inside), H and W multiples of 4. Output: ``(B, 1, H/2, W/2) float32`` positive depth. Trained with a
metric log loss it is metric for the training camera; the nodes treat it as relative (affine
invariant) and fit scale/shift to measured depth when they have it.

Choices the paper leaves open (written down here):
    * The residual blocks are torchvision's BasicBlock (resnet18-ish) or Bottleneck (resnet50-ish)
      with the 3x3 conv dilated; the first block of a stage gets a 1x1 projection when the width
      changes. BatchNorm everywhere (it folds into the convs in ONNX).
    * AFB's squeeze ratio is 4; the CRB residual block has two dilated 3x3 convs.
    * The output is ``softplus`` of a 3x3 conv so depth stays positive without a hard clamp.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class MonoConfig:
    """Monocular estimator configuration (saved in checkpoints and model cards).

    Attributes:
        block: ``basic`` (resnet18/34-ish) or ``bottleneck`` (resnet50-ish).
        layers: residual blocks per Res-Block 1..4.
        widths: base widths of Res-Blocks 1..4 (bottleneck outputs are 4x these).
        dilations: dilation rates of Res-Blocks 1..4 (the paper: 1, 2, 4, 8).
        stem_width: channels of the 7x7 stride-2 stem.
        reduce: channels after each Channel Reduce Block.
        input_hw: the (H, W) the nodes resize RGB to before inference (multiples of 4).
    """

    block: str = "basic"
    layers: tuple[int, int, int, int] = (2, 2, 2, 2)
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    dilations: tuple[int, int, int, int] = (1, 2, 4, 8)
    stem_width: int = 64
    reduce: int = 64
    input_hw: tuple[int, int] = (192, 256)


MONO_PRESETS: dict[str, MonoConfig] = {
    # small enough to run per frame on 2 CPU cores and to sit inside the SR net as its prior
    "tiny": MonoConfig(layers=(1, 1, 1, 1), widths=(16, 24, 32, 48), stem_width=16, reduce=16,
                       input_hw=(96, 128)),
    # shippable size (<= 20 MB) with the full DFE/DMG structure
    "small": MonoConfig(widths=(32, 64, 96, 128), stem_width=32, reduce=48),
    "resnet18": MonoConfig(),
    "resnet50": MonoConfig(block="bottleneck", layers=(3, 4, 6, 3), reduce=128),
}


def _bn_relu(c: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two dilated 3x3 convs with a residual (projection when widths differ)."""

    expansion = 1

    def __init__(self, cin: int, width: int, dilation: int) -> None:
        super().__init__()
        cout = width
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, padding=dilation, dilation=dilation, bias=False), _bn_relu(width),
            nn.Conv2d(width, cout, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout))
        self.proj = (nn.Identity() if cin == cout
                     else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.proj(x))


class Bottleneck(nn.Module):
    """1x1 -> dilated 3x3 -> 1x1 (x4 expansion) with a residual."""

    expansion = 4

    def __init__(self, cin: int, width: int, dilation: int) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), _bn_relu(width),
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False), _bn_relu(width),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.proj = (nn.Identity() if cin == cout
                     else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.proj(x))


class ChannelReduceBlock(nn.Module):
    """CRB: 1x1 conv to ``cout`` then a residual block of two 3x3 convs with the stage's dilation."""

    def __init__(self, cin: int, cout: int, dilation: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn_relu(cout))
        self.res = BasicBlock(cout, cout, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.reduce(x))


class AttentionFuseBlock(nn.Module):
    """AFB: SE-style weights from [current, previous] reweight the current features, plus previous."""

    def __init__(self, c: int, ratio: int = 4) -> None:
        super().__init__()
        self.weights = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * c, max(c // ratio, 4), 1),
                                     nn.ReLU(inplace=True), nn.Conv2d(max(c // ratio, 4), c, 1), nn.Sigmoid())

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        return cur * self.weights(torch.cat([cur, prev], 1)) + prev


class MonoDepthNet(nn.Module):
    """DFE + DMG monocular depth network; see the module docstring for shapes."""

    def __init__(self, cfg: MonoConfig) -> None:
        super().__init__()
        self.cfg = cfg
        block = BasicBlock if cfg.block == "basic" else Bottleneck
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem_width, 7, stride=2, padding=3, bias=False),
                                  _bn_relu(cfg.stem_width), nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin, outs = [], cfg.stem_width, []
        for n, w, d in zip(cfg.layers, cfg.widths, cfg.dilations, strict=True):
            blocks = []
            for _ in range(n):
                blocks.append(block(cin, w, d))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
            outs.append(cin)
        self.stages = nn.ModuleList(stages)
        r = cfg.reduce
        self.crb_in = nn.ModuleList([ChannelReduceBlock(c, r, d) for c, d in zip(outs, cfg.dilations, strict=True)])
        self.afb = nn.ModuleList([AttentionFuseBlock(r) for _ in range(3)])
        self.crb_out = nn.ModuleList([ChannelReduceBlock(r, r, d) for d in cfg.dilations[:3]])
        self.head = nn.Conv2d(r, 1, 3, padding=1)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.stem((rgb - self.mean) / self.std)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        prev = self.crb_in[3](feats[3])
        for i in (2, 1, 0):  # top-down: Res-Block 3, 2, 1
            prev = self.crb_out[i](self.afb[i](self.crb_in[i](feats[i]), prev))
        out = F.interpolate(self.head(prev), scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.softplus(out)
