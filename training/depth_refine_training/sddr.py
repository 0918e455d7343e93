"""``depth-refine-train sddr``: self-distillation training of the SDDR refiner (docs/architecture.md, METHODS 3).

Paper: J. Li, Y. Wang, J. Zheng, Z. Huang, K. Xian, Z. Cao, J. Zhang, "Self-Distilled Depth
Refinement with Noisy Poisson Fusion", NeurIPS 2024 (arXiv 2409.17880); the authors' release is
https://github.com/lijia7/SDDR (inference code and weights). This module is our own implementation
from the paper's description; nothing is copied from that repository.

Data (all on one output grid ``hw``, default 192 x 256, the RGB-D-D frames area-downsampled):
    * ``low``: the monocular model (default ``mono_small``) run on the RGB at its ``input_hw``,
      upsampled to the grid; ``high``: the same model at ``high_upscale`` (2) x its input size,
      fitted to ``low`` by robust scale/shift. Exactly what the runtime stage
      (:class:`depth_refine_ros.pipeline.sddr.SddrRefinement`) feeds the refiner, and normalised the
      same way (min-max of ``low``, :class:`depth_refine_ros.backends.net.SddrBackend`).
    * The window inferences of the coarse-to-fine pass (the monocular model on each window's RGB
      crop, 29 windows) are computed once per frame and cached (memory and a ``.pt`` file), so a
      training step runs no monocular inference.
    * Ground truth: RGB-D-D depth (nearest-resampled to the grid), split by capture day: the
      held-out days are :class:`depth_refine_training.config.TrainConfig`'s ``val_groups`` default.

Pseudo-labels (coarse-to-fine self-distillation, the refiner being trained is its own teacher, no
gradient): ``G_0`` = the current ``G0`` of the refiner smoothed by a bilateral filter (5 x 5,
spatial sigma 1.5 px, range sigma = the map's 95th percentile, so weak gradient noise is averaged
and strong edges are kept); then :func:`depth_refine_ros.pipeline.sddr.coarse_to_fine` (the code
the two-stage inference runs): for s = 1..3, (s+1)^2 windows overlapping by a quarter, the refiner
re-run per window on the previous result and that window's own monocular inference, the window's
gradient map fitted to ``G_{s-1}`` by least squares ``beta1 grad(D_s) + beta0``, feather-blended
into ``G_s``. ``G_S`` (s = 3) is the pseudo-label.

Loss ``L = L_gt + w_grad L_grad + w_fusion L_fusion`` (paper weights 0.5, 0.1):
    * ``L_gt``: scale-and-shift-invariant L1 (:func:`depth_refine_training.losses.ssi`) of ``D0``
      to the ground truth min-max normalised per frame (so every term is in normalised depth units).
    * ``L_grad`` (:func:`edge_region_loss`): edge regions are the top ``top_frac`` (5 %) pixels of
      ``G_S``, grouped by 8-connected components (the paper clusters with k-means; components need
      no cluster count and keep each contiguous edge, the set over which an affine fit of gradient
      magnitudes is meaningful; components under ``MIN_REGION_PX`` px are dropped). Per region,
      ``beta1 G0 + beta0`` is the least-squares fit of the network's ``G0`` to ``G_S`` (the betas are
      not differentiated), and the loss is the mean L1 between it and ``G_S``.
    * ``L_fusion`` (:func:`fusion_loss`): our reading of the paper's quantile hinge: per image and
      decoder level, pixels are split into ``levels`` (4) equal-count bins by the quantiles of
      ``G_S`` (area-resampled to the level), and the mean ``Omega`` (over channels) of each bin must
      exceed the next lower bin's by the margin ``a`` (0.02): ``sum relu(mean_k - mean_{k+1} + a)``.
      ``Omega`` is thus pushed up where the pseudo-label has edges (take the high-resolution
      features) and down where it is flat (take the consistent low-resolution ones).

Not done here: the paper's augmentations and its large mixed-dataset training; frames are not
flipped (the cached window inferences belong to the unflipped frame).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time
import types
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from depth_refine_ros.backends.net import Engine, SddrBackend
from depth_refine_ros.core import metrics
from depth_refine_ros.core.net_input import fit_scale_shift, minmax_normalise
from depth_refine_ros.models import build_model, config_to_dict, preset_config
from depth_refine_ros.pipeline.sddr import coarse_to_fine, fit_high, windows
from depth_refine_training import loop, losses
from depth_refine_training.config import TrainConfig, parse_config_command, setting

MIN_REGION_PX = 8
"""Edge regions smaller than this (px) get no affine fit (two unknowns need a few points)."""


@dataclass
class SddrTrainConfig:
    """Everything a run depends on (saved in every checkpoint and the exported card).

    Attributes:
        data: RGB-D-D folder. val_groups: held-out capture days (never trained on).
        mono: monocular model giving the low/high inferences (installed name or directory).
        hw: output grid ``(H, W)`` (multiples of the refiner's size multiple).
        high_upscale: input-size factor of the high-resolution inference. overlap: window overlap.
        preset: refiner preset (``depth_refine_ros.models.sddr.SDDR_PRESETS``).
        steps, batch, lr, weight_decay: AdamW, cosine decay to 1 % of lr.
        w_grad, w_fusion: loss weights (0 turns a term and, when both are 0, the pseudo-labels off).
        top_frac: edge fraction of ``G_S`` for ``L_grad``. margin, levels: ``L_fusion``'s a and bins.
        max_frames: training frames used (evenly spaced over the training days; 0 = all).
        val_limit: held-out frames validated (evenly spaced; 0 = all).
        val_every: steps between validations and checkpoints.
        time_limit_min: stop (validated, saved, resumable) after this many minutes (0 = no limit).
        stop_step: stop (validated, saved, resumable) after this step, the schedule still planned
            for ``steps`` (0 = run to ``steps``).
        threads: torch and onnxruntime threads. seed: batch order and initialisation.
        out: run directory (``last.pt``, ``log.csv``, ``STOP``). cache: precomputed inferences file.
        export, name: the exported model directory (default ``<out>/model``) and its name.
        evaluate: after training, score the exported refiner through the runtime stage (one_stage,
            two_stage) against no refinement. eval_only: only that, for an existing model directory.
    """

    data: str = setting("../shared/data/rgbdd", "RGB-D-D folder")
    val_groups: list[str] = setting(list(TrainConfig().val_groups), "held-out capture days (never trained on)")
    mono: str = setting("mono_small", "monocular model: installed name or directory")
    hw: tuple[int, int] = setting((192, 256), "output grid [H, W]")
    high_upscale: float = setting(2.0, "input-size factor of the high-resolution inference")
    overlap: float = setting(0.25, "overlap of the coarse-to-fine windows")
    preset: str = setting("small", "refiner preset (small, base, large)")
    steps: int = setting(400, "AdamW steps (cosine decay to 1 % of lr)")
    batch: int = setting(2, "batch size")
    lr: float = setting(1e-3, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    w_grad: float = setting(0.5, "weight of L_grad (0: off)")
    w_fusion: float = setting(0.1, "weight of L_fusion (0: off; with w_grad=0 too: L_gt only, the ablation "
                                   "baseline without pseudo-labels)")
    top_frac: float = setting(0.05, "edge fraction of G_S for L_grad")
    margin: float = setting(0.02, "L_fusion's margin a")
    levels: int = setting(4, "L_fusion's quantile bins")
    max_frames: int = setting(48, "training frames (0 = all)")
    val_limit: int = setting(16, "held-out frames (0 = all)")
    val_every: int = setting(100, "steps between validations and checkpoints")
    time_limit_min: float = setting(0.0, "stop (validated, saved, resumable) after this many minutes (0 = no limit)")
    threads: int = setting(1, "torch and onnxruntime threads")
    seed: int = setting(0, "batch order and initialisation")
    out: str = setting("runs/sddr/small", "run directory (resumes from its last.pt)")
    cache: str = setting("", "precomputed inferences (default: runs/sddr/cache_<H>x<W>_<max_frames>_<val_limit>.pt)")
    stop_step: int = setting(0, "stop (validated, saved, resumable) after this step, the schedule planned for steps")
    export: str = setting("", "model directory to write (default: <out>/model)")
    name: str = setting("", "exported model's name (default: the directory's)")
    evaluate: bool = setting(True, "evaluate the exported refiner through the runtime stage on the held-out frames")
    eval_only: str = setting("", "only evaluate this sddr model directory (no training)")


# ---------------------------------------------------------------------------------------------- data

def _evenly(items: list, n: int) -> list:
    """``n`` items evenly spaced over ``items`` (all when ``n`` is 0 or too large)."""
    if not n or n >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


def prepare_frame(rgb: np.ndarray, depth: np.ndarray, mono, hw: tuple[int, int], high_upscale: float,
                  overlap: float, with_windows: bool) -> dict:
    """One frame's refiner inputs on the grid ``hw``.

    Args:
        rgb: ``(H0, W0, 3) uint8``. depth: ``(H0, W0) float32`` metres, NaN invalid.
        mono: a :class:`depth_refine_ros.backends.net.MonoBackend`.
        hw: output grid. high_upscale, overlap: as the runtime stage.
        with_windows: also run the monocular model on every coarse-to-fine window (training only).

    Returns:
        ``rgb (h, w, 3) uint8``, ``gt (h, w) float32`` metres (NaN invalid), ``low``, ``high``
        ``(h, w) float32`` min-max normalised with ``low``'s range, ``low_m`` the low inference in
        its own relative units, ``windows``: ``{(y0, y1, x0, x1): (wh, ww) float16}`` relative
        window inferences (empty without ``with_windows``).
    """
    h, w = hw
    rgb_g = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    gt = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
    low = mono.infer({"rgb": rgb_g}, hw, upscale=1.0)["depth"]
    high = fit_high(mono.infer({"rgb": rgb_g}, hw, upscale=high_upscale)["depth"], low)
    low_n, lo, hi = minmax_normalise(low)
    high_n = ((high - lo) / max(hi - lo, 1e-6)).astype(np.float32)
    wins = {}
    if with_windows:
        for s in (1, 2, 3):
            for ys, xs in windows(hw, s + 1, overlap):
                crop = rgb_g[ys, xs]
                rel = mono.infer({"rgb": crop}, crop.shape[:2], upscale=1.0)["depth"]
                wins[(ys.start, ys.stop, xs.start, xs.stop)] = rel.astype(np.float16)
    return {"rgb": rgb_g, "gt": gt.astype(np.float32), "low": low_n, "high": high_n, "low_m": low, "windows": wins}


def build_cache(cfg: SddrTrainConfig, val_only: bool = False) -> dict:
    """Training and validation frames with their monocular inferences, from ``cfg.cache`` if it is
    there (same data, model, grid and frame counts), else computed and saved there (``val_only``:
    only the validation frames, not saved)."""
    from depth_refine_ros.backends import create_model_backend
    from depth_refine_training.data import load_frames

    key = {"data": cfg.data, "mono": cfg.mono, "hw": list(cfg.hw), "high_upscale": cfg.high_upscale,
           "overlap": cfg.overlap, "max_frames": cfg.max_frames, "val_limit": cfg.val_limit,
           "val_groups": sorted(cfg.val_groups)}
    path = pathlib.Path(cfg.cache) if cfg.cache else None
    if path and path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=False)
        if cached.get("key") == key:
            return cached
    mono = create_model_backend("onnxruntime", cfg.mono, kinds=("mono",), threads=cfg.threads)
    groups = set(cfg.val_groups)
    train = [] if val_only else _evenly(load_frames(cfg.data, exclude=groups), cfg.max_frames)
    val = _evenly(load_frames(cfg.data, groups=groups), cfg.val_limit)
    t0 = time.time()
    out = {"key": key, "train": [], "val": [], "train_names": [f.name for f in train],
           "val_names": [f.name for f in val]}
    for split, frames, win in (("train", train, True), ("val", val, False)):
        for i, f in enumerate(frames):
            out[split].append(prepare_frame(f.rgb, f.depth, mono, cfg.hw, cfg.high_upscale, cfg.overlap, win))
            sys.stderr.write(f"\rcache {split}: {i + 1}/{len(frames)} frames, {time.time() - t0:.0f} s")
        sys.stderr.write("\n")
    if path and not val_only:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, path)
    return out


# --------------------------------------------------------------------------------- pseudo-labels

class _LiveEngine(Engine):
    """Runs the network being trained (no gradient) behind the runtime's SDDR backend, so the
    pseudo-labels see exactly the runtime's padding and normalisation."""

    name = "torch-live"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            d0, g0 = self.model(torch.from_numpy(feeds["low"]), torch.from_numpy(feeds["high"]))
        return [d0.numpy(), g0.numpy()]

    def describe(self) -> str:
        return "the network in training (torch, CPU)"


def live_backend(model: torch.nn.Module) -> SddrBackend:
    """An :class:`SddrBackend` around an in-memory refiner (no model directory)."""
    card = types.SimpleNamespace(size_multiple=model.size_multiple, name="training", describe=lambda: "training")
    return SddrBackend(card, _LiveEngine(model))  # type: ignore[arg-type]


def smooth_edges(g: np.ndarray) -> np.ndarray:
    """``G_0``: edge-preserving smoothing of a gradient map ``(H, W) float32`` (bilateral 5 x 5,
    spatial sigma 1.5 px, range sigma = the map's 95th percentile)."""
    g = np.ascontiguousarray(g, dtype=np.float32)
    sigma = float(max(np.percentile(g, 95), 1e-6))
    return cv2.bilateralFilter(g, 5, sigma, 1.5)


def pseudo_label(backend: SddrBackend, d0: np.ndarray, g0: np.ndarray, win_rel: dict,
                 overlap: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Coarse-to-fine pseudo-label ``G_S`` of one frame (see the module docstring).

    Args:
        backend: the refiner (e.g. :func:`live_backend` of the network in training).
        d0: ``(H, W) float32`` the refiner's one-stage output (normalised units).
        g0: ``(H, W) float32`` its gradient magnitude.
        win_rel: ``{(y0, y1, x0, x1): relative monocular inference of that window}``.
        overlap: window overlap (as the cache was built).

    Returns:
        ``(G_S, D_S)``, ``(H, W) float32``.
    """
    def refine(win: np.ndarray, ys: slice, xs: slice) -> tuple[np.ndarray, np.ndarray]:
        rel = win_rel[(ys.start, ys.stop, xs.start, xs.stop)].astype(np.float32)
        out = backend.infer({"low": win, "high": fit_high(rel, win)}, win.shape)
        return out["depth"], out["edges"]

    ds, gs = coarse_to_fine(d0.astype(np.float32), refine, overlap, smooth_edges(g0))
    return gs.astype(np.float32), ds.astype(np.float32)


def edge_regions(gs: np.ndarray, top_frac: float = 0.05, min_px: int = MIN_REGION_PX) -> np.ndarray:
    """Edge regions of a pseudo-label: the top ``top_frac`` pixels of ``gs`` ``(H, W)``, split into
    8-connected components; returns ``(H, W) int32`` labels, 0 = no region, 1..n regions of at
    least ``min_px`` pixels."""
    thr = np.quantile(gs, 1.0 - top_frac)
    n, lab = cv2.connectedComponents((gs > thr).astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(gs.shape, np.int32)
    sizes = np.bincount(lab.ravel(), minlength=n)
    keep = sizes >= min_px
    keep[0] = False
    remap = np.zeros(n, np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1)
    return remap[lab]


def edge_region_loss(g0: torch.Tensor, gs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``L_grad``: per region, L1 between ``G_S`` and the least-squares affine fit of ``G0``.

    Args:
        g0: ``(B, 1, H, W)`` the network's gradient map (differentiated).
        gs: ``(B, 1, H, W)`` pseudo-label.
        labels: ``(B, H, W) int64`` regions, 0 = none; ids need not be unique across images.

    Returns:
        Scalar: mean over region pixels of ``|beta1 G0 + beta0 - G_S|`` (0 when there is no region).
    """
    b = labels.shape[0]
    offset = (labels.flatten(1).amax(1).cumsum(0) - labels.flatten(1).amax(1)).view(b, 1, 1)
    lab = torch.where(labels > 0, labels + offset, torch.zeros_like(labels))
    sel = lab > 0
    if not sel.any():
        return g0.sum() * 0.0
    ids, x, y = lab[sel], g0[:, 0][sel], gs[:, 0][sel]
    n_ids = int(ids.max()) + 1
    xd = x.detach().double()
    yd = y.double()

    def _sum(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n_ids, dtype=torch.float64).index_add_(0, ids, v)

    n, sx, sy, sxx, sxy = _sum(torch.ones_like(xd)), _sum(xd), _sum(yd), _sum(xd * xd), _sum(xd * yd)
    den = n * sxx - sx * sx
    beta1 = torch.where(den.abs() > 1e-12, (n * sxy - sx * sy) / den.clamp(min=1e-12), torch.zeros_like(den))
    beta0 = (sy - beta1 * sx) / n.clamp(min=1)
    fit = beta1[ids].to(x.dtype) * x + beta0[ids].to(x.dtype)
    return torch.abs(fit - y).mean()


def fusion_loss(masks: list[torch.Tensor], gs: torch.Tensor, margin: float = 0.02, levels: int = 4) -> torch.Tensor:
    """``L_fusion``: quantile hinge on the fusion masks (see the module docstring).

    Args:
        masks: the refiner's ``Omega`` list, each ``(B, C, h, w)`` in [0, 1].
        gs: ``(B, 1, H, W)`` pseudo-label; ``H, W`` multiples of every ``h, w``.
        margin: ``a``. levels: number of quantile bins.

    Returns:
        Scalar: mean over levels and images of ``sum_k relu(mean_k - mean_{k+1} + a)``.
    """
    total = gs.new_zeros(())
    q = torch.linspace(0, 1, levels + 1, dtype=gs.dtype)[1:-1]
    for om in masks:
        o = om.mean(1).flatten(1)  # (B, N)
        g = F.adaptive_avg_pool2d(gs, om.shape[-2:]).flatten(1)
        thr = torch.quantile(g, q, dim=1)  # (levels - 1, B)
        bins = (g[None] > thr[:, :, None]).sum(0)  # (B, N) in 0..levels-1
        onehot = F.one_hot(bins, levels).to(o.dtype)  # (B, N, levels)
        cnt = onehot.sum(1)
        mean = (onehot * o[:, :, None]).sum(1) / cnt.clamp(min=1)
        both = (cnt[:, :-1] > 0) & (cnt[:, 1:] > 0)
        hinge = torch.relu(mean[:, :-1] - mean[:, 1:] + margin) * both
        total = total + hinge.sum(1).mean()
    return total / max(len(masks), 1)


# ------------------------------------------------------------------------------------------ scoring

def score(pred_rel: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Metrics of a relative prediction after robust scale/shift alignment to ``gt`` (metres):
    AbsRel, delta1, DBE accuracy/completeness (px), edge F-score, boundary-band RMSE (m)."""
    s, t, _, _ = fit_scale_shift(pred_rel, np.where(metrics.valid_mask(gt), gt, np.nan))
    pred = (pred_rel * s + t).astype(np.float32)
    st, em, bs = metrics.standard(pred, gt), metrics.edge_metrics(pred, gt), metrics.boundary_split(pred, gt)
    return {"absrel": st["absrel"], "delta1": st["delta1"], "dbe_acc": em["dbe_acc"], "dbe_comp": em["dbe_comp"],
            "edge_f": em["edge_f"], "rmse_boundary_m": bs["rmse_boundary"]}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


@torch.no_grad()
def validate(model: torch.nn.Module, val: list[dict]) -> dict[str, float]:
    """One-stage refiner (torch) and the unrefined low/high inferences on the cached held-out frames."""
    model.eval()
    rows: dict[str, list] = {"low": [], "high": [], "one_stage": []}
    for f in val:
        d0, _ = model(torch.from_numpy(f["low"])[None, None], torch.from_numpy(f["high"])[None, None])
        rows["low"].append(score(f["low"], f["gt"]))
        rows["high"].append(score(f["high"], f["gt"]))
        rows["one_stage"].append(score(d0[0, 0].numpy(), f["gt"]))
    model.train()
    return {f"{name}_{k}": v for name, r in rows.items() for k, v in _mean(r).items()}


def evaluate(model_dir: str, cfg: SddrTrainConfig, val: list[dict] | None = None,
             modes: tuple[str, ...] = ("one_stage", "two_stage")) -> dict[str, dict[str, float]]:
    """Held-out evaluation through the runtime stage (onnxruntime, ``cfg.threads`` threads).

    Methods: ``none_low`` (the monocular model at its input size), ``none_high`` (at
    ``high_upscale`` x), and :class:`~depth_refine_ros.pipeline.sddr.SddrRefinement` in each of
    ``modes`` refining ``none_low``. Every output is aligned to the ground truth by robust
    scale/shift before scoring (the monocular model is relative). ``ms`` is the wall time per frame
    of the refinement stage (high-res inference + refiner [+ windows]), or of the monocular
    inference for the ``none_*`` rows; ``cpu_ms`` the process CPU time for the same (the better
    measure on a shared machine, where wall time includes waiting for a core).
    """
    from depth_refine_ros.backends import create_model_backend
    from depth_refine_ros.pipeline.sddr import SddrRefinement

    if val is None:
        val = build_cache(cfg, val_only=True)["val"]
    mono = create_model_backend("onnxruntime", cfg.mono, kinds=("mono",), threads=cfg.threads)
    refiner = create_model_backend("onnxruntime", model_dir, kinds=("sddr",), threads=cfg.threads)
    stages = {m: SddrRefinement(refiner, mono, m, cfg.high_upscale, cfg.overlap) for m in modes}
    rows: dict[str, list] = {k: [] for k in ("none_low", "none_high", *modes)}
    times: dict[str, list] = {k: [] for k in rows}
    cpu: dict[str, list] = {k: [] for k in rows}
    stages[modes[0]].apply(val[0]["low_m"], val[0]["rgb"])  # warm-up (session creation, allocations)
    for f in val:
        rgb, low = f["rgb"], f["low_m"]
        t, c = time.perf_counter(), time.process_time()
        mono.infer({"rgb": rgb}, low.shape, upscale=1.0)
        times["none_low"].append(time.perf_counter() - t)
        cpu["none_low"].append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        high = fit_high(mono.infer({"rgb": rgb}, low.shape, upscale=cfg.high_upscale)["depth"], low)
        times["none_high"].append(time.perf_counter() - t)
        cpu["none_high"].append(time.process_time() - c)
        rows["none_low"].append(score(low, f["gt"]))
        rows["none_high"].append(score(high, f["gt"]))
        for m, st in stages.items():
            t, c = time.perf_counter(), time.process_time()
            out = st.apply(low, rgb)
            times[m].append(time.perf_counter() - t)
            cpu[m].append(time.process_time() - c)
            rows[m].append(score(out, f["gt"]))
    return {k: {**_mean(r), "ms": float(np.median(times[k]) * 1000), "cpu_ms": float(np.median(cpu[k]) * 1000),
                "frames": len(r)} for k, r in rows.items()}


# ----------------------------------------------------------------------------------------- training

def _batch(frames: list[dict], idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    low = torch.from_numpy(np.stack([frames[i]["low"] for i in idx]))[:, None]
    high = torch.from_numpy(np.stack([frames[i]["high"] for i in idx]))[:, None]
    gts, masks = [], []
    for i in idx:
        gt = frames[i]["gt"]
        v = metrics.valid_mask(gt)
        lo, hi = (float(gt[v].min()), float(gt[v].max())) if v.any() else (0.0, 1.0)
        gts.append(np.where(v, (gt - lo) / max(hi - lo, 1e-6), 0).astype(np.float32))
        masks.append(v)
    return low, high, torch.from_numpy(np.stack(gts))[:, None], torch.from_numpy(np.stack(masks))[:, None]


class SddrTask(loop.Task):
    """The refiner on the shared loop: batches drawn per step from the cached frames, AdamW with a
    cosine schedule, ``L_gt + w_grad L_grad + w_fusion L_fusion`` (pseudo-labels from the network in
    training, no gradient), validation of the one-stage output on the cached held-out frames."""

    def __init__(self, cfg: SddrTrainConfig) -> None:
        self.cfg = cfg

    def save_config(self, out: pathlib.Path) -> None:
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(self.cfg), indent=1))

    def build(self, ctx: loop.Context) -> None:
        cfg = self.cfg
        self.data = build_cache(cfg)
        self.train_frames, self.val_frames = self.data["train"], self.data["val"]
        self.mcfg = preset_config("sddr", cfg.preset)
        self.model = build_model("sddr", self.mcfg)
        if cfg.hw[0] % self.model.size_multiple or cfg.hw[1] % self.model.size_multiple:
            raise ValueError(f"hw {cfg.hw} must be multiples of {self.model.size_multiple}")

    def optimiser(self, params):
        return loop.adamw_cosine(params, self.cfg.lr, self.cfg.weight_decay, self.cfg.steps)

    def start(self, step: int) -> None:
        self.teacher = live_backend(self.model)
        self.model.train()

    def batches(self, start: int):
        step = start
        while True:  # one seeded draw per step: a resumed run draws the same batches as an unbroken one
            idx = np.random.default_rng([self.cfg.seed, step]).choice(len(self.train_frames), self.cfg.batch,
                                                                      replace=False)
            yield idx, _batch(self.train_frames, idx)
            step += 1

    def loss(self, batch, step: int):
        cfg = self.cfg
        idx, (low, high, gt, mask) = batch
        d0, g0, masks = self.model.forward_with_masks(low, high)
        l_gt = losses.ssi(d0, gt, mask)
        l_grad = l_fus = d0.new_zeros(())
        if cfg.w_grad > 0 or cfg.w_fusion > 0:  # the self-distillation terms
            gs_list = []
            for j, i in enumerate(idx):
                gs, _ = pseudo_label(self.teacher, d0[j, 0].detach().numpy(), g0[j, 0].detach().numpy(),
                                     self.train_frames[i]["windows"], cfg.overlap)
                gs_list.append(gs)
            gs_t = torch.from_numpy(np.stack(gs_list))[:, None]
            if cfg.w_grad > 0:
                labels = torch.from_numpy(np.stack([edge_regions(g, cfg.top_frac) for g in gs_list]).astype(np.int64))
                l_grad = edge_region_loss(g0, gs_t, labels)
            if cfg.w_fusion > 0:
                l_fus = fusion_loss(masks, gs_t, cfg.margin, cfg.levels)
        loss = l_gt + cfg.w_grad * l_grad + cfg.w_fusion * l_fus
        return loss, {k: float(v.detach()) for k, v in (("gt", l_gt), ("grad", l_grad), ("fusion", l_fus))}

    def validate(self) -> dict[str, float]:
        return validate(self.model, self.val_frames)

    def report(self, metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if k.startswith("one_stage")}

    def checkpoint(self, metrics: dict[str, float]) -> dict:
        return {"kind": "sddr", "preset": self.cfg.preset, "model_config": config_to_dict(self.mcfg),
                "train_config": dataclasses.asdict(self.cfg), "metrics": metrics,
                "train_frames": self.data["train_names"], "val_frames": self.data["val_names"]}


def train(cfg: SddrTrainConfig) -> dict:
    """Train (resuming from ``cfg.out/last.pt``); returns the run folder, step and last validation.

    A ``STOP`` file in ``cfg.out``, ``cfg.time_limit_min`` or ``cfg.stop_step`` ends the run at the
    current step, validated and saved.
    """
    torch.set_num_threads(cfg.threads)
    return loop.run(SddrTask(cfg), loop.LoopConfig(
        out=cfg.out, steps=cfg.steps, seed=cfg.seed, stop_step=cfg.stop_step, time_limit_min=cfg.time_limit_min,
        val_every=cfg.val_every, show_every=5, csv_eol="\n"))


def export(ckpt: str | pathlib.Path, out_dir: str | pathlib.Path, name: str | None = None,
           evaluation: dict | None = None):
    """Checkpoint -> model directory (kind ``sddr``) whose card records the data, held-out days,
    steps, losses, training-time validation and (optionally) the runtime evaluation."""
    from depth_refine_ros.models import config_from_dict
    from depth_refine_ros.models.export import write_model_dir

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = config_from_dict("sddr", ck["model_config"])
    model = build_model("sddr", cfg)
    model.load_state_dict(ck["model"])
    tc = ck["train_config"]
    terms = ["L_gt (ssi)"] + ([f"{tc['w_grad']} L_grad"] if tc["w_grad"] > 0 else []) + \
        ([f"{tc['w_fusion']} L_fusion (a {tc['margin']}, {tc['levels']} quantile bins)"] if tc["w_fusion"] > 0 else [])
    training = {"status": "trained", "method": "SDDR self-distillation (Li et al., NeurIPS 2024; docs/architecture.md "
                                               "METHODS 3)",
                "data": tc["data"], "held_out_groups": tc["val_groups"], "train_frames": len(ck["train_frames"]),
                "predictor": tc["mono"], "grid_hw": list(tc["hw"]), "high_upscale": tc["high_upscale"],
                "steps": ck["step"], "schedule_steps": tc["steps"], "batch": tc["batch"], "lr": tc["lr"],
                "seed": tc["seed"],
                "losses": " + ".join(terms),
                "validation": {k: round(float(v), 4) for k, v in ck["metrics"].items()},
                "validation_note": f"{len(ck['val_frames'])} held-out frames, torch one-stage, outputs aligned to "
                                   "ground truth by scale/shift; last checkpoint (no selection on them)",
                "config": tc}
    if evaluation:
        training["evaluation"] = {m: {k: round(float(v), 4) for k, v in r.items()} for m, r in evaluation.items()}
    return write_model_dir(model, "sddr", cfg, out_dir, name=name, preset=ck["preset"], training=training)


def format_table(ev: dict[str, dict[str, float]]) -> str:
    """A markdown table of :func:`evaluate`'s result."""
    cols = ("absrel", "delta1", "dbe_acc", "dbe_comp", "edge_f", "rmse_boundary_m", "ms", "cpu_ms")
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m, r in ev.items():
        lines.append(f"| {m} | " + " | ".join(f"{r[c]:.4g}" if c in r else "-" for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``depth-refine-train sddr [--config YAML] [key=value ...]`` (e.g. ``steps=30 out=DIR``); returns the exit
    code."""
    try:
        cfg = parse_config_command(
            "depth-refine-train sddr",
            "Self-distillation training of the SDDR refiner (METHODS 3) on RGB-D-D, on the inferences of a monocular "
            "model; then export (model directory, kind sddr) and a held-out evaluation through the runtime stage "
            "(one_stage, two_stage) against no refinement.", SddrTrainConfig, argv)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train sddr: {e}", file=sys.stderr)
        return 2
    if not cfg.cache:
        cfg.cache = f"runs/sddr/cache_{cfg.hw[0]}x{cfg.hw[1]}_{cfg.max_frames}_{cfg.val_limit}.pt"
    torch.set_num_threads(cfg.threads)
    if cfg.eval_only:
        ev = evaluate(cfg.eval_only, cfg, build_cache(cfg, val_only=True)["val"])
        print(format_table(ev))
        print(json.dumps(ev))
        return 0
    result = train(cfg)
    ckpt = pathlib.Path(cfg.out) / "last.pt"
    if (pathlib.Path(cfg.out) / "STOP").exists():
        print(json.dumps(result))
        return 0  # stopped on request: resume with the same command (a time limit still exports)
    target = cfg.export or str(pathlib.Path(cfg.out) / "model")
    md = export(ckpt, target, cfg.name or None)
    if cfg.evaluate:
        ev = evaluate(str(md.path), cfg, build_cache(cfg)["val"])
        (pathlib.Path(cfg.out) / "eval.json").write_text(json.dumps(ev, indent=1))
        print(format_table(ev))
        md = export(ckpt, target, cfg.name or None, evaluation=ev)
        result["evaluation"] = ev
    print(f"wrote {md.path}: {md.describe()}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
