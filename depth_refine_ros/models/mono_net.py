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

Ablation variants (the paper's Table: baseline -> + DFE -> + AFB -> + dilated CRB) are config
switches, listed in :data:`MONO_ABLATION`; the defaults are the full network.
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
        strides: stride of the first block of Res-Blocks 1..4. ``(1, 1, 1, 1)`` (the DFE) keeps every
            stage at 1/4 of the input; ``(1, 2, 2, 2)`` is a plain ResNet (1/4, 1/8, 1/16, 1/32), and
            the decoder then upsamples (bilinear) the coarser map to the finer one before fusing.
        fuse: how the decoder merges a stage into the top-down path: ``afb`` (Attention Fuse Block)
            or ``add`` (a plain skip addition, no attention weights).
        crb_dilated: the CRBs' residual 3x3 convs use the stage's dilation (else dilation 1).

    Ablation variants (:data:`MONO_ABLATION`; parameters differ only by the three AFBs' small
    squeeze-excitation convs, since dilation and stride add no weights):
        ``baseline``: strided ResNet encoder, dilations 1, ``fuse='add'``, CRBs undilated: an
            encoder-decoder of upsample + conv blocks with skip additions.
        ``dfe``: the dilated, unstrided encoder (the DFE) with that plain decoder.
        ``dfe_afb``: + Attention Fuse Blocks (CRBs still undilated).
        ``full``: + dilated CRBs: the paper's network and the default.
    """

    block: str = "basic"
    layers: tuple[int, int, int, int] = (2, 2, 2, 2)
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    dilations: tuple[int, int, int, int] = (1, 2, 4, 8)
    stem_width: int = 64
    reduce: int = 64
    input_hw: tuple[int, int] = (192, 256)
    strides: tuple[int, int, int, int] = (1, 1, 1, 1)
    fuse: str = "afb"
    crb_dilated: bool = True

    def __post_init__(self) -> None:
        # YAML overrides arrive as lists; tuples keep configs equal to their model-card round trip
        for f in ("layers", "widths", "dilations", "input_hw", "strides"):
            object.__setattr__(self, f, tuple(getattr(self, f)))
        if self.block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', not {self.block!r}")
        if self.fuse not in ("afb", "add"):
            raise ValueError(f"fuse must be 'afb' or 'add', not {self.fuse!r}")


# Overrides (on any preset) for the ablation's four arms, in the paper's order.
MONO_ABLATION: dict[str, dict] = {
    "baseline": {"strides": (1, 2, 2, 2), "dilations": (1, 1, 1, 1), "fuse": "add", "crb_dilated": False},
    "dfe": {"fuse": "add", "crb_dilated": False},
    "dfe_afb": {"crb_dilated": False},
    "full": {},
}


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


def _proj(cin: int, cout: int, stride: int) -> nn.Module:
    if cin == cout and stride == 1:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two dilated 3x3 convs (the first strided) with a residual (projection when shapes differ)."""

    expansion = 1

    def __init__(self, cin: int, width: int, dilation: int, stride: int = 1) -> None:
        super().__init__()
        cout = width
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            _bn_relu(width),
            nn.Conv2d(width, cout, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout))
        self.proj = _proj(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.proj(x))


class Bottleneck(nn.Module):
    """1x1 -> dilated (strided) 3x3 -> 1x1 (x4 expansion) with a residual."""

    expansion = 4

    def __init__(self, cin: int, width: int, dilation: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), _bn_relu(width),
            nn.Conv2d(width, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            _bn_relu(width),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.proj = _proj(cin, cout, stride)

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
    """DFE + DMG monocular depth network (or an ablation variant); see the module docstring for shapes."""

    def __init__(self, cfg: MonoConfig) -> None:
        super().__init__()
        self.cfg = cfg
        block = BasicBlock if cfg.block == "basic" else Bottleneck
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem_width, 7, stride=2, padding=3, bias=False),
                                  _bn_relu(cfg.stem_width), nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin, outs = [], cfg.stem_width, []
        for n, w, d, st in zip(cfg.layers, cfg.widths, cfg.dilations, cfg.strides, strict=True):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, d, st if j == 0 else 1))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
            outs.append(cin)
        self.stages = nn.ModuleList(stages)
        r = cfg.reduce
        crb_d = cfg.dilations if cfg.crb_dilated else (1, 1, 1, 1)
        self.crb_in = nn.ModuleList([ChannelReduceBlock(c, r, d) for c, d in zip(outs, crb_d, strict=True)])
        if cfg.fuse == "afb":  # no module at all for 'add', so the default's state_dict keys stay as they were
            self.afb = nn.ModuleList([AttentionFuseBlock(r) for _ in range(3)])
        self.crb_out = nn.ModuleList([ChannelReduceBlock(r, r, d) for d in crb_d[:3]])
        self.head = nn.Conv2d(r, 1, 3, padding=1)
        # decided from the config, not from traced shapes, so the ONNX graph has no shape-dependent branch
        self._upsample = tuple(s > 1 for s in cfg.strides[1:])  # stage i+1 coarser than stage i

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.stem((rgb - self.mean) / self.std)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        prev = self.crb_in[3](feats[3])
        for i in (2, 1, 0):  # top-down: Res-Block 3, 2, 1
            cur = self.crb_in[i](feats[i])
            if self._upsample[i]:
                prev = F.interpolate(prev, size=cur.shape[-2:], mode="bilinear", align_corners=False)
            fused = self.afb[i](cur, prev) if self.cfg.fuse == "afb" else cur + prev
            prev = self.crb_out[i](fused)
        out = F.interpolate(self.head(prev), scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.softplus(out)
