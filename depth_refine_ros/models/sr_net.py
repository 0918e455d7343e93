"""Guided depth super-resolution: AdaIN-fused dual-encoder NAFNet U-Net (docs/architecture.md, METHODS 1), and its
depth-only variant (docs/architecture.md, METHODS 4: the network that keeps working when RGB is missing).

Inputs (what :mod:`depth_refine_ros.core.net_input` prepares for every backend):
    ``depth``: ``(B, 1, H, W) float32`` low-res depth already upsampled (bicubic) to the output
    size and divided by the frame's depth scale (max valid low-res depth, metres), so values lie
    in (0, 1]. Holes are filled (nearest valid) before upsampling.
    ``rgb``: ``(B, 3, H, W) float32`` in [0, 1] (absent for ``guidance='none'``).
    H and W are multiples of :attr:`GuidedSRNet.size_multiple` (the pipeline pads and crops).
Output: ``(B, 1, H, W) float32``, same normalised units as ``depth``; with ``consistency`` ``(B, 2, H, W)``:
    that, and the projection gate in [0, 1].

Design choices beyond the paper (written down here, as docs/architecture.md's methods section asks):
    * ``work_stride``: the paper runs the whole U-Net at the output resolution (``full`` keeps that:
      stride 1). For real time on 2 CPU cores, ``lite`` runs both encoders and the decoder on a
      4x4 stride-4 "patchify" stem at 1/4 of the output size (the low-res input's own resolution
      at x4), and only a light full-resolution head works at the output size: decoder features
      lifted by 1x1 conv + PixelShuffle(4), plus a 3x3 conv of the full-size RGB and standardised
      depth, ReLU, then ``head_layers`` 3x3 convs with dilations 2, 4, 8 (``head_width`` channels)
      and a 3x3 conv to the residual. Why this much head: on held-out x8 patches a head of one RGB
      conv and one output conv never left bicubic; this one learns at once. It costs ~20 ms at
      640x480 through ONNX Runtime on 2 cores (about 1.1 of the net's 2.9 GFLOPs; measured history
      in docs/log/2026-11.md).
    * Four stages, each: NAF blocks on both paths, fusion -> U-Net skip, then a 2x2 stride-2 conv
      doubling channels on each path. The bottleneck fuses the two paths again and runs the
      middle blocks. Decoder: 1x1 conv C -> 2C, PixelShuffle(2), additive skip, NAF blocks.
    * ``fusion='adain'``: ``F = sigma_d * (F_g - mu_g) / sigma_g + mu_d`` per channel over space
      (eps 1e-5 inside the std). ``fusion='concat'``: 1x1 conv over [F_g, F_d] (the obvious
      alternative, kept so the paper's choice can be tested). Tested: AdaIN keeps only the
      guidance features' structure, which in the paper is a strong relative depth (Depth
      Anything); with RGB guidance the low-res depth's structure never reaches the decoder, and
      on held-out RGB-D-D days the depth-only net beat the AdaIN-guided one at x8/x16. The
      shipped ``sr_lite`` therefore uses ``concat``, grown out of the depth-only net
      (``training/experiments/grow_guidance.py``); ``adain`` stays the preset default, the
      paper's design, for a strong prior.
    * ``guidance``: ``rgb`` (the guidance path sees RGB), ``rgb+prior`` (RGB plus a relative depth
      from an embedded :class:`MonoDepthNet` run at ``prior_stride`` of the output size,
      normalised per image to zero mean / unit mean-absolute-deviation), or ``none`` (depth-only,
      a single encoder path; the head then sees depth features instead of RGB). With ``prior_import``
      (a model directory that ``depth-refine import`` made from a Depth Anything checkpoint) the
      embedded prior is that foundation network instead, frozen (docs/foundation_models.md): it is
      rebuilt with ``transformers``, which only training imports
      (``depth_refine_training.foundation_prior``), and passed in as ``prior``; the exported ONNX graph
      contains it, so the runtime backends run it unchanged, but :func:`build_model` alone refuses
      (:class:`ImportedPriorError`).
    * Global residual: the output is ``depth + sd * head(...)``, where the depth is first
      standardised per image (``(depth - mean) / (sd + 1e-3)``) for both encoder and head; the
      head's last conv starts at zero, so the untrained net is exactly the bicubic input.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from depth_refine_ros.models.mono_net import MONO_PRESETS, MonoConfig, MonoDepthNet
from depth_refine_ros.models.nafnet import naf_stack
from depth_refine_ros.models.wls import UnrolledWLS


@dataclass(frozen=True)
class GuidedSRConfig:
    """SR network configuration (saved in checkpoints and model cards).

    Attributes:
        width: channels C of the first stage (doubled at each of the 4 downsamplings).
        enc_blocks: NAF blocks per encoder stage (on each path).
        middle_blocks: NAF blocks at the bottleneck.
        dec_blocks: NAF blocks per decoder stage (deepest first).
        work_stride: the U-Net runs at output / work_stride (1 = the paper).
        head_width: channels of the full-resolution head (only used when work_stride > 1).
        head_layers: extra ``head_width`` 3x3 conv + ReLU layers in that head.
        head_stride: the head runs at output / head_stride (1 = full resolution; 2 = half, its
            last conv predicting the 2x2 sub-pixels, PixelShuffle(2) to the output; must divide
            ``work_stride``).
        fusion: ``adain`` or ``concat``.
        guidance: ``rgb``, ``rgb+prior`` or ``none``.
        prior: the embedded monocular net's config (``guidance='rgb+prior'`` only).
        prior_stride: the prior runs on RGB average-pooled by this factor.
        prior_import: ``""``, or an imported Depth Anything model directory (card kind ``mono``, output
            relative inverse depth) whose network is the embedded prior, frozen (``guidance='rgb+prior'``
            only; ``prior`` is then unused). Recorded as given (the path at training time).
        solver_iters: 0 = the head's output is the residual. Above 0, the head also predicts a data
            confidence and link weights, and :class:`~depth_refine_ros.models.wls.UnrolledWLS`
            refines the estimate with this many Jacobi sweeps (needs ``work_stride > 1``).
        consistency: the net also predicts a gate in [0, 1] (an image-wide part from the bottleneck, a per-pixel
            part from the head), output as a second channel. The backend then
            projects the estimate back onto the low-res samples by that much per pixel
            (:func:`depth_refine_ros.core.projection.project_averaged`): fully where the input is clean block
            averages, not at all where it is noisy or aliased (needs ``work_stride > 1``, no solver).
        guide_detail: the head's sub-pixels also get the image's own detail inside each head cell, times a
            gain the head predicts per cell (a local linear model, as in the guided filter). A fixed-start
            ``head_stride x head_stride`` stride conv reads each cell's RGB as grey level minus the cell's
            mean; the head's last conv gains one channel, the gain, which starts at zero (needs
            ``head_stride > 1``, RGB guidance and no solver).
    """

    width: int = 16
    enc_blocks: tuple[int, ...] = (1, 1, 1, 2)
    middle_blocks: int = 1
    dec_blocks: tuple[int, ...] = (1, 1, 1, 1)
    work_stride: int = 4
    head_width: int = 8
    head_layers: int = 3
    head_stride: int = 1
    fusion: str = "adain"
    guidance: str = "rgb"
    prior: MonoConfig | None = None
    prior_stride: int = 4
    prior_import: str = ""
    solver_iters: int = 0
    consistency: bool = False
    guide_detail: bool = False

    def __post_init__(self) -> None:
        if self.fusion not in ("adain", "concat"):
            raise ValueError(f"fusion must be adain or concat, not {self.fusion!r}")
        if self.guidance not in ("rgb", "rgb+prior", "none"):
            raise ValueError(f"guidance must be rgb, rgb+prior or none, not {self.guidance!r}")
        if self.head_stride < 1 or (self.work_stride > 1 and self.work_stride % self.head_stride):
            raise ValueError(f"head_stride {self.head_stride} must divide work_stride {self.work_stride}")
        if self.solver_iters < 0 or (self.solver_iters and self.work_stride == 1):
            raise ValueError(f"solver_iters {self.solver_iters} needs work_stride > 1 and must be >= 0")
        if self.consistency and (self.work_stride == 1 or self.solver_iters):
            raise ValueError("consistency needs work_stride > 1 and no solver")
        if self.guide_detail and (self.head_stride == 1 or self.work_stride == 1 or self.solver_iters
                                  or self.guidance == "none"):
            raise ValueError("guide_detail needs head_stride > 1, RGB guidance and no solver")
        if self.prior_import and self.guidance != "rgb+prior":
            raise ValueError(f"prior_import needs guidance 'rgb+prior', not {self.guidance!r}")
        if self.prior_import and self.prior is not None:
            raise ValueError("prior_import replaces the embedded MonoDepthNet: give prior or prior_import, not both")
        if self.guidance == "rgb+prior" and self.prior is None and not self.prior_import:
            object.__setattr__(self, "prior", MONO_PRESETS["tiny"])
        if isinstance(self.prior, dict):
            object.__setattr__(self, "prior", MonoConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                            for k, v in self.prior.items()}))


SR_PRESETS: dict[str, GuidedSRConfig] = {
    "lite": GuidedSRConfig(),
    # lite's U-Net with the head at half resolution: about 0.6x lite's time through OpenVINO
    # (docs/models.md); concat fusion, as the shipped lite models
    "fast": GuidedSRConfig(head_stride=2, fusion="concat"),
    # the head at the U-Net's own 1/4 resolution, as FDSR: a 4x4 stride-4 conv reads the full-size RGB
    # and depth, 16 channels (the CPU kernels pad 8 to 16 anyway), PixelShuffle(4) back
    "faster": GuidedSRConfig(head_stride=4, head_width=16, fusion="concat"),
    # `faster` plus an unrolled weighted-least-squares solve at the output size (models/wls.py): the head
    # also predicts a data confidence and the links' weights; 6 Jacobi sweeps refine its estimate
    "faster_wls": GuidedSRConfig(head_stride=4, head_width=16, fusion="concat", solver_iters=6),
    # `faster` plus a learned gate of the projection onto the low-res samples (core/projection.py), run by the
    # backend after the graph: the graph's second output channel
    "faster_consistent": GuidedSRConfig(head_stride=4, head_width=16, fusion="concat", consistency=True),
    # `faster` plus the image's own detail inside each 4x4 cell, times a gain the head predicts per cell
    "faster_detail": GuidedSRConfig(head_stride=4, head_width=16, fusion="concat", guide_detail=True),
    "base": GuidedSRConfig(width=24, enc_blocks=(1, 1, 2, 2), middle_blocks=2, dec_blocks=(1, 1, 1, 1),
                           work_stride=2, head_width=12),
    # about 29 M parameters, the paper's size, at the output resolution
    "full": GuidedSRConfig(width=32, enc_blocks=(2, 2, 4, 6), middle_blocks=10, dec_blocks=(2, 2, 2, 2),
                           work_stride=1),
}


def adain(guide: torch.Tensor, depth: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN: the guidance features' structure with the depth features' per-channel statistics.

    Args:
        guide, depth: ``(B, C, H, W)``.

    Returns:
        ``sigma_d * (guide - mu_g) / sigma_g + mu_d``, ``(B, C, H, W)``.
    """
    mu_g = guide.mean((2, 3), keepdim=True)
    mu_d = depth.mean((2, 3), keepdim=True)
    sd_g = torch.sqrt((guide - mu_g).pow(2).mean((2, 3), keepdim=True) + eps)
    sd_d = torch.sqrt((depth - mu_d).pow(2).mean((2, 3), keepdim=True) + eps)
    return sd_d * (guide - mu_g) / sd_g + mu_d


class Fuse(nn.Module):
    """One fusion point (AdaIN has no weights; concat has a 1x1 conv)."""

    def __init__(self, c: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv2d(2 * c, c, 1) if mode == "concat" else None

    def forward(self, guide: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return adain(guide, depth)
        return self.conv(torch.cat([guide, depth], 1))


class _Encoder(nn.Module):
    """One encoder path: stem + 4 x (NAF blocks, 2x2 stride-2 conv doubling channels)."""

    def __init__(self, cin: int, cfg: GuidedSRConfig) -> None:
        super().__init__()
        s, c = cfg.work_stride, cfg.width
        # s x s stride-s "patchify" conv == PixelUnshuffle(s) + 1x1 conv, without the full-size
        # transpose that PixelUnshuffle costs in ONNX Runtime (3.5 ms of 54 at 640x512, measured)
        self.stem = nn.Conv2d(cin, c, s, stride=s) if s > 1 else nn.Conv2d(cin, c, 3, padding=1)
        self.blocks, self.downs = nn.ModuleList(), nn.ModuleList()
        for n in cfg.enc_blocks:
            self.blocks.append(naf_stack(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2


def _cell_detail_conv(s: int) -> nn.Conv2d:
    """An ``s x s`` stride-``s`` conv, RGB ``(B, 3, H, W)`` -> ``(B, s^2, H/s, W/s)``: each output channel
    ``i * s + j`` starts as the grey level (mean of R, G and B) of the cell's pixel ``(i, j)`` minus the
    cell's mean grey level. The weights train, so the net may learn another detail basis."""
    conv = nn.Conv2d(3, s * s, s, stride=s, bias=False)
    with torch.no_grad():
        w = torch.full((s * s, 3, s, s), -1.0 / (3 * s * s))
        for k in range(s * s):
            w[k, :, k // s, k % s] += 1.0 / 3
        conv.weight.copy_(w)
    return conv


class ImportedPriorError(ValueError):
    """An SR net whose prior is an imported foundation model cannot be rebuilt from its config alone."""


STD_EPS = 1e-3
"""Added to the per-image depth standard deviation (input units: the pipeline scales depth to ~1)."""


class GuidedSRNet(nn.Module):
    """The SR network; see the module docstring for inputs, outputs and choices.

    Args:
        cfg: the configuration.
        prior: the embedded prior module when ``cfg.prior_import`` is set (built by training from the
            imported directory): ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 1, h, w)`` relative depth at the same
            size. Ignored otherwise.

    Raises:
        ImportedPriorError: ``cfg.prior_import`` is set and no ``prior`` is given.
    """

    def __init__(self, cfg: GuidedSRConfig, prior: nn.Module | None = None) -> None:
        super().__init__()
        if cfg.prior_import and prior is None:
            raise ImportedPriorError(
                f"this SR net embeds the imported foundation model {cfg.prior_import!r} as its prior; its network "
                "is rebuilt with transformers, which the runtime never imports (docs/foundation_models.md): run "
                "the model directory's ONNX graph (backend onnxruntime, openvino or tensorrt); training rebuilds "
                "it (depth_refine_training.foundation_prior.build_sr)")
        self.cfg = cfg
        self.guided = cfg.guidance != "none"
        self.depth_enc = _Encoder(1, cfg)
        if self.guided:
            self.guide_enc = _Encoder(4 if cfg.guidance == "rgb+prior" else 3, cfg)
            widths = [cfg.width * 2**i for i in range(len(cfg.enc_blocks) + 1)]
            self.fuse = nn.ModuleList([Fuse(c, cfg.fusion) for c in widths])
            self.prior = (prior if cfg.prior_import else MonoDepthNet(cfg.prior) if cfg.guidance == "rgb+prior"
                          else None)
        c = cfg.width * 2 ** len(cfg.enc_blocks)
        self.middle = naf_stack(c, cfg.middle_blocks)
        self.ups, self.dec = nn.ModuleList(), nn.ModuleList()
        for n in cfg.dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.PixelShuffle(2)))
            c //= 2
            self.dec.append(naf_stack(c, n))
        s = cfg.work_stride
        if s == 1:
            self.head = nn.Conv2d(c, 1, 3, padding=1)
        else:
            hw, hs = cfg.head_width, cfg.head_stride
            up = s // hs
            self.head_up = nn.Sequential(nn.Conv2d(c, hw * up * up, 1), nn.PixelShuffle(up))
            # the head sees RGB and the standardised depth at its own resolution: edge placement is
            # decided here (measured: an RGB-only one-conv head left the net at bicubic). At half
            # resolution a 2x2 stride-2 conv reads the full-size input (every pixel, no resize).
            cin = 4 if self.guided else 1
            self.head_guide = (nn.Conv2d(cin, hw, 3, padding=1) if hs == 1 else nn.Conv2d(cin, hw, hs, stride=hs))
            layers: list[nn.Module] = [nn.ReLU()]
            for i in range(cfg.head_layers):
                # dilations 2, 4, 8, ... output pixels: context for edges at x8..x16
                dil = max(1, 2 ** (i + 1) // hs)
                layers += [nn.Conv2d(hw, hw, 3, padding=dil, dilation=dil), nn.ReLU()]
            # the residual's sub-pixels first: a net grown from a plain one keeps its function
            # (training's load_init copies the old channels into the leading slice)
            n_out = 4 if cfg.solver_iters else 2 if cfg.consistency else 1
            # guide_detail: one more channel after the sub-pixels, the per-cell gain (never pixel-shuffled)
            layers.append(nn.Conv2d(hw, hs * hs * n_out + int(cfg.guide_detail), 3, padding=1))
            if hs > 1:
                layers.append(nn.PixelShuffle(hs))
            self.head = nn.Sequential(*layers)
        self.detail = _cell_detail_conv(cfg.head_stride) if cfg.guide_detail else None
        # The net predicts a residual on the upsampled depth: a zero last layer makes the untrained
        # net exactly the classical upsampler, so training starts from bicubic, never below it.
        self.solver = UnrolledWLS(cfg.solver_iters) if cfg.solver_iters else None
        if cfg.consistency:
            # the gate's image-wide part, from the bottleneck's mean features: whether an input is clean block
            # averages or noisy / aliased shows over the whole image more than in one pixel's neighbourhood
            self.gate_image = nn.Linear(cfg.width * 2 ** len(cfg.enc_blocks), 1)
            nn.init.zeros_(self.gate_image.weight)
            nn.init.zeros_(self.gate_image.bias)
        last = self.head if isinstance(self.head, nn.Conv2d) else \
            [m for m in self.head if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    @property
    def size_multiple(self) -> int:
        """H and W of the inputs must be multiples of this."""
        m = self.cfg.work_stride * 2 ** len(self.cfg.enc_blocks)
        if self.cfg.guidance == "rgb+prior":
            m = max(m, self.cfg.prior_stride * 4)
        return m

    def _relative_prior(self, rgb: torch.Tensor) -> torch.Tensor:
        k = self.cfg.prior_stride
        small = F.avg_pool2d(rgb, k) if k > 1 else rgb
        # MonoDepthNet answers at half its input size; an imported prior at its input size
        up = k if self.cfg.prior_import else 2 * k
        rel = F.interpolate(self.prior(small), scale_factor=float(up), mode="bilinear", align_corners=False)
        # affine-invariant normalisation; the median would need a sort, mean/MAD export everywhere
        mu = rel.mean((2, 3), keepdim=True)
        mad = (rel - mu).abs().mean((2, 3), keepdim=True) + 1e-6
        return (rel - mu) / mad

    def _depth_and_gate(self, depth: torch.Tensor, sd: torch.Tensor, gate_logit: torch.Tensor,
                        q: torch.Tensor) -> torch.Tensor:
        """The consistency head's output ``(B, 2, H, W)`` from its last conv's ``q`` ``(B, 2 s^2, H/s, W/s)``,
        ``s`` the head's stride (1: ``q`` is already full size).

        The same function as pixel-shuffling ``q`` first and then splitting the channels (pixel shuffle
        only moves values), but the split and the sigmoid run on the 16-channel quarter-size tensor:
        OpenVINO runs those on 1-channel full-size maps several times slower.
        """
        s, n = self.cfg.head_stride, q.shape[1] // 2
        res = F.pixel_shuffle(q[:, :n], s)
        # the gate = sigmoid(image-wide logit + 4 x the head's per-pixel one), 0.5 at start: half-open, so
        # training pushes it both ways at once (shut on noisy input, open on clean). Started shut (0.05,
        # no image-wide part) it only ever shut further (docs/log/2026-12.md). x4: Adam's small steps on
        # the head's last conv move it within a few hundred steps
        gate = F.pixel_shuffle(torch.sigmoid(gate_logit + 4.0 * q[:, n:]), s)
        return torch.cat([depth + res * sd, gate], 1)

    def _add_detail(self, q: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """The residual's sub-pixels plus the gain times the image's detail in each cell.

        Args:
            q: the head's last conv, ``(B, s^2 n + 1, H/s, W/s)``: ``n`` groups of ``s^2`` sub-pixels (the
                residual first), then the gain ``a``.
            rgb: ``(B, 3, H, W)`` in [0, 1].

        Returns:
            ``q`` without the gain channel, the residual's sub-pixels plus ``a * detail``,
            ``(B, s^2 n, H/s, W/s)``. Before the pixel shuffle, so the product runs on ``s^2``-channel
            quarter-size tensors, not on 1-channel full-size maps.
        """
        n = self.cfg.head_stride ** 2
        res = q[:, :n] + q[:, -1:] * self.detail(rgb)
        return torch.cat([res, q[:, n:-1]], 1) if q.shape[1] > n + 1 else res

    def forward(self, depth: torch.Tensor, rgb: torch.Tensor | None = None) -> torch.Tensor:
        # Standardise the depth per image and predict the residual in those units. Why: the
        # corrections are ~0.5 % of the depth; on raw (max-normalised) depth a net barely moves
        # off the bicubic input (measured: no gain in 1000 steps), standardised it learns at once.
        mu = depth.mean((2, 3), keepdim=True)
        sd = (depth - mu).pow(2).mean((2, 3), keepdim=True).sqrt() + STD_EPS
        dn = (depth - mu) / sd
        d = self.depth_enc.stem(dn)
        if self.guided:
            g_in = rgb if self.prior is None else torch.cat([rgb, self._relative_prior(rgb)], 1)
            g = self.guide_enc.stem(g_in)
        skips = []
        for i in range(len(self.cfg.enc_blocks)):
            d = self.depth_enc.blocks[i](d)
            if self.guided:
                g = self.guide_enc.blocks[i](g)
                skips.append(self.fuse[i](g, d))
                g = self.guide_enc.downs[i](g)
            else:
                skips.append(d)
            d = self.depth_enc.downs[i](d)
        x = self.fuse[-1](g, d) if self.guided else d
        x = self.middle(x)
        gate_logit = self.gate_image(x.mean((2, 3)))[:, :, None, None] if self.cfg.consistency else None
        for up, dec, skip in zip(self.ups, self.dec, reversed(skips), strict=True):
            x = dec(up(x) + skip)
        if self.cfg.work_stride == 1:
            return depth + self.head(x) * sd
        guide_full = self.head_guide(torch.cat([rgb, dn], 1) if self.guided else dn)
        if self.cfg.consistency or self.detail is not None:
            # the head's last conv, before its pixel shuffle (none at head_stride 1)
            head = self.head[:-1] if self.cfg.head_stride > 1 else self.head
            q = head(self.head_up(x) + guide_full)
            if self.detail is not None:
                q = self._add_detail(q, rgb)
            if not self.cfg.consistency:
                return depth + F.pixel_shuffle(q, self.cfg.head_stride) * sd
            return self._depth_and_gate(depth, sd, gate_logit, q)
        h = self.head(self.head_up(x) + guide_full)
        if self.solver is None:
            return depth + h * sd
        # solve in standardised units; depth + (x - dn) * sd is exactly the plain net while the gate is 0
        u = dn + h[:, 0:1]
        refined = self.solver(u, h[:, 1:2], h[:, 2:3], h[:, 3:4], rgb if self.guided else None)
        return depth + (refined - dn) * sd

