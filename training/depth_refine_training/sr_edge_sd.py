"""SDDR's edge self-distillation as an extra loss for the guided SR net (``w_edge_sd``, issue 12).

SDDR (J. Li et al., "Self-Distilled Depth Refinement with Noisy Poisson Fusion", NeurIPS 2024;
docs/architecture.md, METHODS 3; authors' release https://github.com/lijia7/SDDR, nothing copied
from it) trains its refiner on a pseudo-label edge map ``G_S`` that the refiner itself makes by a
coarse-to-fine pass over overlapping windows. Here the same construction is applied to the SR net:

1. ``D_0`` = the SR net's output on the batch (detached), ``G_0`` = :func:`depth_refine_training.sddr.smooth_edges`
   of its Sobel gradient magnitude.
2. :func:`depth_refine_ros.pipeline.sddr.coarse_to_fine` (the code SDDR's two-stage inference and
   its trainer run) for s = 1..3 ((s+1)^2 windows overlapping by a quarter, 29 in all): each
   window's refinement is the same SR net run (no gradient, the net left in training mode) on that
   window's crop of the batch's inputs; the window's gradient map is fitted to ``G_{s-1}`` by least
   squares and feather-blended into ``G_s``. ``G_S`` (s = 3) is the pseudo-label.
3. ``L_grad`` = :func:`depth_refine_training.sddr.edge_region_loss` between the net's differentiated
   gradient map and ``G_S`` over :func:`depth_refine_training.sddr.edge_regions` (top 5 % of ``G_S``,
   8-connected components).

Window inputs: the batch's depth input is already the runtime-prepared one (the degraded low-res
depth bicubic-upsampled to the patch grid and divided by the frame's scale,
:func:`depth_refine_ros.core.net_input.sr_inputs`), so a window's input is simply the crop of it and
of the RGB at the window's pixels: any window offset is valid, no window has to sit on multiples
of the scale factor and no low-res input is re-derived. Each crop is edge-padded (bottom/right,
as :func:`depth_refine_ros.core.net_input.pad_to` does at run time) to the net's size multiple and
the output cropped back. The windows of one level all have one size, so every level is one batched
forward pass over all images and windows.

What differs between a window's run and the whole-patch run is only the context the net sees (and
its per-input depth standardisation): unlike SDDR's windows, which re-run the monocular model at a
higher effective resolution, an SR window sees the same pixels at the same resolution.

Layers: ``coarse_to_fine`` is the runtime's SDDR stage (``pipeline/sddr.py``), imported directly: a
named exception to training's floors, like the SDDR trainer's (test/repo/test_layers.py,
docs/architecture.md#layers), so the pseudo-label is made by the same window pass as at run time.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from depth_refine_ros.pipeline.sddr import coarse_to_fine, windows
from depth_refine_training import losses
from depth_refine_training.sddr import edge_region_loss, edge_regions, smooth_edges

LEVELS = (1, 2, 3)
"""The coarse-to-fine levels s ((s+1)^2 windows each), SDDR's."""
OVERLAP = 0.25
"""Window overlap, a fraction of the window size (SDDR's, as the runtime stage)."""
GRAD_EPS = 1e-8
"""Added under the square root of the gradient magnitude (finite derivative on flat depth)."""


def grad_mag(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude (:func:`depth_refine_training.losses.sobel`, replicate border).

    Args:
        x: ``(B, 1, H, W) float32`` depth (the SR net's normalised units: metres / frame scale).

    Returns:
        ``(B, 1, H, W) float32``, units of ``x`` per pixel; differentiable.
    """
    return torch.sqrt(losses.sobel(x).pow(2).sum(1, keepdim=True) + GRAD_EPS)


@torch.no_grad()
def window_outputs(model: torch.nn.Module, depth: torch.Tensor, rgb: torch.Tensor,
                   levels: tuple[int, ...] = LEVELS, overlap: float = OVERLAP
                   ) -> dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]]:
    """The SR net run on every coarse-to-fine window's crop of the inputs (no gradient).

    Args:
        model: the guided SR net (``model(depth, rgb)``, inputs multiples of ``model.size_multiple``).
        depth: ``(B, 1, H, W) float32`` the batch's depth input (upsampled low-res depth / scale).
        rgb: ``(B, 3, H, W) float32`` in [0, 1].
        levels, overlap: as :func:`depth_refine_ros.pipeline.sddr.coarse_to_fine`.

    Returns:
        ``{(y0, y1, x0, x1): (depth, gradient magnitude)}``, each ``(B, y1 - y0, x1 - x0) float32``
        numpy in the input's units (per pixel for the gradient).
    """
    hw = tuple(depth.shape[-2:])
    m = model.size_multiple
    out = {}
    for s in levels:
        wins = windows(hw, s + 1, overlap)
        h, w = wins[0][0].stop - wins[0][0].start, wins[0][1].stop - wins[0][1].start
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        d = torch.cat([depth[:, :, ys, xs] for ys, xs in wins])  # (n * B, 1, h, w), window-major
        g = torch.cat([rgb[:, :, ys, xs] for ys, xs in wins])
        if ph or pw:
            d, g = F.pad(d, (0, pw, 0, ph), mode="replicate"), F.pad(g, (0, pw, 0, ph), mode="replicate")
        pred = model(d, g)[:, :, :h, :w].float()
        edges = grad_mag(pred)
        b = depth.shape[0]
        for i, (ys, xs) in enumerate(wins):
            out[(ys.start, ys.stop, xs.start, xs.stop)] = (pred[i * b:(i + 1) * b, 0].cpu().numpy(),
                                                          edges[i * b:(i + 1) * b, 0].cpu().numpy())
    return out


def pseudo_labels(model: torch.nn.Module, depth: torch.Tensor, rgb: torch.Tensor, pred: torch.Tensor,
                  levels: tuple[int, ...] = LEVELS, overlap: float = OVERLAP,
                  pred_grad: torch.Tensor | None = None) -> np.ndarray:
    """Self-distilled edge pseudo-labels ``G_S`` of a batch (steps 1 and 2 of the module docstring).

    Args:
        model: the SR net in training (run without gradient on the windows).
        depth: ``(B, 1, H, W) float32`` depth input. rgb: ``(B, 3, H, W) float32`` RGB input.
        pred: ``(B, 1, H, W)`` the net's output on the whole batch (only its values are used).
        levels, overlap: coarse-to-fine levels and window overlap.
        pred_grad: ``(B, 1, H, W)`` :func:`grad_mag` of ``pred`` when the caller already has it.

    Returns:
        ``(B, H, W) float32`` ``G_S``, units of ``pred`` per pixel.
    """
    d0 = pred.detach().float()
    g0 = (grad_mag(d0) if pred_grad is None else pred_grad.detach().float())[:, 0].cpu().numpy()
    d0 = d0[:, 0].cpu().numpy()
    wins = window_outputs(model, depth, rgb, levels, overlap)
    out = np.empty_like(d0)
    for b in range(d0.shape[0]):
        def refine(win: np.ndarray, ys: slice, xs: slice, b: int = b) -> tuple[np.ndarray, np.ndarray]:
            d, e = wins[(ys.start, ys.stop, xs.start, xs.stop)]
            return d[b], e[b]

        _, gs = coarse_to_fine(d0[b], refine, overlap, smooth_edges(g0[b]), levels)
        out[b] = gs
    return out


def edge_sd_loss(model: torch.nn.Module, depth: torch.Tensor, rgb: torch.Tensor, pred: torch.Tensor,
                 top_frac: float = 0.05) -> torch.Tensor:
    """``L_grad`` of the SR net against its self-distilled pseudo-label (step 3 of the module docstring).

    Args:
        model: the SR net (unwrapped, not DDP). depth, rgb: the batch's inputs (see :func:`pseudo_labels`).
        pred: ``(B, 1, H, W)`` the net's output on the batch, with its graph (differentiated here).
        top_frac: fraction of ``G_S`` pixels forming the edge regions (SDDR: 5 %).

    Returns:
        Scalar tensor (normalised depth per pixel; 0 when no image has an edge region).
    """
    g = grad_mag(pred)  # differentiated below; its detached values start the pseudo-label
    gs = pseudo_labels(model, depth, rgb, pred, pred_grad=g)
    labels = torch.from_numpy(np.stack([edge_regions(x, top_frac) for x in gs]).astype(np.int64))
    return edge_region_loss(g.cpu(), torch.from_numpy(gs)[:, None], labels).to(pred.device)
