"""The supervised tasks ``sr``, ``depth_sr`` and ``mono`` as parts of the shared loop
(:mod:`depth_refine_training.loop`: seeding, DDP under ``torchrun``, checkpoint and resume,
stops, validation, logs), and their validation and ``init`` helpers.
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys

import numpy as np
import torch

from depth_refine_ros.core import net_input
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.core.projection import project_averaged
from depth_refine_ros.models import config_to_dict, preset_config
from depth_refine_training import consistency, loop, losses
from depth_refine_training.config import TrainConfig, save_config
from depth_refine_training.data import MonoCrops, SRPatches, load_frames, load_sources
from depth_refine_training.foundation_prior import build_sr, prior_record
from depth_refine_training.loop import param_hash

__all__ = ["Supervised", "load_init", "param_hash", "train", "validate_mono", "validate_sr"]


@torch.no_grad()
def validate_sr(model, frames, scales: list[int], device, guided: bool) -> dict[str, float]:
    """RMSE/MAE (cm) on whole held-out frames, bicubic-downsampled input; bicubic baseline too."""
    model.eval()
    m = model.size_multiple
    out: dict[str, list[float]] = {}
    for s in scales:
        for f in frames:
            lr = degrade("bicubic", f.depth, s)
            hw = (lr.shape[0] * s, lr.shape[1] * s)
            gt = f.depth[: hw[0], : hw[1]]
            feeds, scale, _ = net_input.sr_inputs(lr, f.rgb[: hw[0], : hw[1]], hw, m, guided)
            args = [torch.from_numpy(feeds["depth"]).to(device)]
            if guided:
                args.append(torch.from_numpy(feeds["rgb"]).to(device))
            out_t = model(*args).float().cpu().numpy()
            pred = out_t[0, 0, : hw[0], : hw[1]] * scale
            if out_t.shape[1] == 2:  # a projection gate: as the runtime backend applies it
                pred = project_averaged(pred, lr, gate=out_t[0, 1, : hw[0], : hw[1]])
            bic = feeds["depth"][0, 0, : hw[0], : hw[1]] * scale
            valid = np.isfinite(gt)
            for name, p in (("", pred), ("bicubic_", bic)):
                e = (p - gt)[valid]
                out.setdefault(f"{name}rmse_cm_x{s}", []).append(float(np.sqrt(np.mean(e**2)) * 100))
                out.setdefault(f"{name}mae_cm_x{s}", []).append(float(np.mean(np.abs(e)) * 100))
    model.train()
    # RMSE over the set = mean of per-frame RMSE (the RGB-D-D papers' convention)
    return {k: float(np.mean(v)) for k, v in out.items()}


@torch.no_grad()
def validate_mono(model, frames, device, input_hw) -> dict[str, float]:
    """AbsRel, RMSE (m), delta1 of the metric prediction on held-out frames (full frame, resized)."""
    import cv2

    model.eval()
    absrel, rmse, d1 = [], [], []
    for f in frames:
        rgb = cv2.resize(f.rgb, (input_hw[1], input_hw[0]), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255)[None].to(device)
        pred = cv2.resize(model(x)[0, 0].float().cpu().numpy(), f.depth.shape[::-1], interpolation=cv2.INTER_LINEAR)
        v = np.isfinite(f.depth)
        p, g = pred[v], f.depth[v]
        absrel.append(float(np.mean(np.abs(p - g) / g)))
        rmse.append(float(np.sqrt(np.mean((p - g) ** 2))))
        d1.append(float(np.mean(np.maximum(p / g, g / p) < 1.25)))
    model.train()
    return {"absrel": float(np.mean(absrel)), "rmse_m": float(np.mean(rmse)), "delta1": float(np.mean(d1))}


def load_init(model: torch.nn.Module, source: str, skip: tuple[str, ...] = ()) -> int:
    """Copy weights from a checkpoint or model directory into ``model``; returns tensors copied.

    Same-shape tensors are copied whole; a tensor whose dimensions all grew gets the old values in
    its leading slice and zeros elsewhere (so a conv that gained input channels, e.g. the guidance
    stem when a relative-depth prior is added, starts as the source network's function); anything
    else, and every tensor whose name starts with one of ``skip``, is left as initialised.

    Raises:
        FileNotFoundError: ``source`` is neither a ``.pt`` file nor a folder with weights.
    """
    src = pathlib.Path(source)
    if src.is_dir():
        from safetensors.torch import load_file
        state = load_file(str(src / "model.safetensors"))
    elif src.is_file():
        state = torch.load(src, map_location="cpu", weights_only=False)["model"]
    else:
        raise FileNotFoundError(f"init weights not found: {source}")
    own = model.state_dict()
    n = 0
    with torch.no_grad():
        for k, v in state.items():
            if k not in own or k.startswith(skip):
                continue
            t = own[k]
            if t.shape == v.shape:
                t.copy_(v)
            elif t.dim() == v.dim() and all(a >= b for a, b in zip(t.shape, v.shape, strict=True)):
                t.zero_()
                t[tuple(slice(0, b) for b in v.shape)].copy_(v)
            else:
                continue
            n += 1
    return n


class Supervised(loop.Task):
    """``sr``, ``depth_sr`` or ``mono`` (``cfg.task``) on the shared loop: seeded patches or crops
    through a DataLoader (split across ranks under ``torchrun``), AdamW with a cosine schedule,
    L1 + Sobel (SR) or log-L1 + 0.5 scale-and-shift-invariant (mono), validation on held-out days
    (``best.pt`` by RMSE at x8, or the mono RMSE)."""

    distributed = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.kind = cfg, cfg.task
        self.l_edge = None  # the last edge self-distillation term (w_edge_sd), shown on the progress line

    def save_config(self, out: pathlib.Path) -> None:
        save_config(self.cfg, out / "config.yaml")

    def build(self, ctx: loop.Context) -> None:
        cfg, kind = self.cfg, self.kind
        if cfg.w_edge_sd > 0 and kind != "sr":
            raise ValueError(f"w_edge_sd (SDDR edge self-distillation) needs task sr, not {kind!r}")
        self.mcfg = preset_config(kind, cfg.preset, **cfg.model_overrides)
        # an imported foundation prior (model_overrides prior_import) is rebuilt here, frozen
        self.model = build_sr(kind, self.mcfg).to(ctx.device)
        val_groups = set(cfg.val_groups)
        if cfg.extra_data and kind not in ("sr", "depth_sr"):
            raise ValueError(f"extra_data needs task sr or depth_sr, not {kind!r}")
        train_frames, weights = load_sources(cfg.data, val_groups, cfg.extra_data, cfg.data_weight)
        self.val_frames = load_frames(cfg.data, groups=val_groups, limit=cfg.val_limit or None) if ctx.rank == 0 else []
        n_items = cfg.steps * cfg.batch
        if kind in ("sr", "depth_sr"):
            self.with_lr = bool(getattr(self.mcfg, "consistency", False))
            ds = SRPatches(train_frames, cfg.patch, cfg.scales, cfg.degradations, n_items, cfg.seed, weights,
                           with_lr=self.with_lr)
        else:
            ds = MonoCrops(train_frames, tuple(self.mcfg.input_hw), n_items, cfg.seed)
        world, rank = ctx.world, ctx.rank
        sampler = torch.utils.data.DistributedSampler(ds, world, rank, shuffle=False) if world > 1 else None
        self.loader = torch.utils.data.DataLoader(
            ds, batch_size=cfg.batch // world, sampler=sampler, num_workers=cfg.workers, drop_last=True,
            persistent_workers=cfg.workers > 0, pin_memory=ctx.device.type == "cuda")

    def param_groups(self):
        """The trained parameters: all but a frozen imported prior's."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def optimiser(self, params):
        return loop.adamw_cosine(params, self.cfg.lr, self.cfg.weight_decay, self.cfg.steps)

    def init(self) -> None:
        cfg, rank = self.cfg, self.ctx.rank
        if cfg.init:
            n = load_init(self.model, cfg.init, tuple(cfg.init_skip))
            if rank == 0:
                sys.stderr.write(f"init: {n} tensors from {cfg.init}\n")
        if cfg.init_prior:
            if getattr(self.model, "prior", None) is None:
                raise ValueError("init_prior needs an SR model with guidance 'rgb+prior'")
            if getattr(self.mcfg, "prior_import", ""):
                raise ValueError("init_prior starts the embedded MonoDepthNet; an imported prior (prior_import) "
                                 "comes with its own weights and stays frozen")
            n = load_init(self.model.prior, cfg.init_prior)
            if rank == 0:
                sys.stderr.write(f"init_prior: {n} of {len(self.model.prior.state_dict())} tensors "
                                 f"from {cfg.init_prior}\n")

    def batches(self, start: int):
        it = iter(self.loader)
        for _ in range(start):  # resume: skip the samples already seen (same seeded order)
            next(it, None)
        return it

    def loss(self, batch, step: int):
        cfg, device, net = self.cfg, self.ctx.device, self.net
        batch = [b.to(device, non_blocking=True) for b in batch]
        if self.kind == "mono":
            rgb, gt, mask = batch
            pred = net(rgb)
            loss = losses.log_l1(pred, gt, mask) + 0.5 * losses.ssi(pred, gt, mask)
        else:
            d, rgb, gt, mask = batch[:4]
            if self.kind == "sr" and cfg.rgb_dropout > 0:
                keep = (torch.rand(rgb.shape[0], 1, 1, 1, device=device) >= cfg.rgb_dropout).to(rgb.dtype)
                rgb = rgb * keep
            pred = net(d, rgb) if self.kind == "sr" else net(d)
            if len(batch) > 4:  # a net with a projection gate: the loss sees what the node publishes
                pred = consistency.project(pred, *batch[4:])
            loss = losses.l1_sobel(pred, gt, mask, w_grad=cfg.w_grad)
            if cfg.w_edge_sd > 0 and step % max(cfg.edge_sd_every, 1) == 0:
                from depth_refine_training import sr_edge_sd  # the runtime's SDDR stage, only when used

                self.l_edge = sr_edge_sd.edge_sd_loss(self.model, d, rgb, pred)
                loss = loss + cfg.w_edge_sd * self.l_edge
        return loss, ({"edge_sd": float(self.l_edge)} if self.l_edge is not None else {})

    def csv_row(self, step: int, terms: dict[str, float], seconds: float) -> list:
        return [step, f"{terms['loss']:.6f}", f"{self.sched.get_last_lr()[0]:.3g}", f"{seconds:.1f}"]

    def validate(self) -> dict[str, float]:
        if self.kind == "mono":
            return validate_mono(self.model, self.val_frames, self.ctx.device, tuple(self.mcfg.input_hw))
        return validate_sr(self.model, self.val_frames, self.cfg.val_scales, self.ctx.device, self.kind == "sr")

    def key(self, metrics: dict[str, float]) -> float:
        return metrics.get("rmse_cm_x8", metrics.get("rmse_m", 0.0))

    def checkpoint(self, metrics: dict[str, float]) -> dict:
        ck = {"kind": self.kind, "preset": self.cfg.preset, "model_config": config_to_dict(self.mcfg),
              "train_config": dataclasses.asdict(self.cfg), "metrics": metrics}
        prior = prior_record(self.model)
        if prior:
            ck["prior"] = prior
        return ck


def loop_config(cfg: TrainConfig) -> loop.LoopConfig:
    """The loop's settings of a supervised run."""
    return loop.LoopConfig(out=cfg.out, steps=cfg.steps, seed=cfg.seed, stop_step=cfg.stop_step,
                           time_limit_min=cfg.time_limit_min, val_every=cfg.val_every, show_every=10)


def train(cfg: TrainConfig) -> dict:
    """Run one training job; returns the final validation metrics (rank 0) and the run folder."""
    return loop.run(Supervised(cfg), loop_config(cfg))
