"""The training loop for every task: seeded, resumable, DDP-aware (torchrun), logged.

Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) it runs DistributedDataParallel with NCCL on
GPUs and gloo on CPU; each rank writes the sha256 of its final parameters, so a run can prove its
ranks agree. Rank 0 validates, logs (CSV, TensorBoard when installed) and saves checkpoints.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from depth_refine_ros.core import net_input
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.models import build_model, config_to_dict, preset_config
from depth_refine_training import losses, progress
from depth_refine_training.config import TrainConfig, save_config
from depth_refine_training.data import MonoCrops, SRPatches, load_frames, load_sources


def _dist() -> tuple[int, int, torch.device]:
    if "RANK" not in os.environ:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def param_hash(model: torch.nn.Module) -> str:
    """sha256 of all parameters' bytes (order of ``state_dict``)."""
    h = hashlib.sha256()
    for v in model.state_dict().values():
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


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
            pred = model(*args).float().cpu().numpy()[0, 0, : hw[0], : hw[1]] * scale
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


def train(cfg: TrainConfig) -> dict:
    """Run one training job; returns the final validation metrics (rank 0) and the run folder."""
    rank, world, device = _dist()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    out = pathlib.Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    kind = cfg.task
    if cfg.w_edge_sd > 0 and kind != "sr":
        raise ValueError(f"w_edge_sd (SDDR edge self-distillation) needs task sr, not {kind!r}")
    mcfg = preset_config(kind, cfg.preset, **cfg.model_overrides)
    model = build_model(kind, mcfg).to(device)
    val_groups = set(cfg.val_groups)
    if cfg.extra_data and kind not in ("sr", "depth_sr"):
        raise ValueError(f"extra_data needs task sr or depth_sr, not {kind!r}")
    train_frames, weights = load_sources(cfg.data, val_groups, cfg.extra_data, cfg.data_weight)
    val_frames = load_frames(cfg.data, groups=val_groups, limit=cfg.val_limit or None) if rank == 0 else []
    n_items = cfg.steps * cfg.batch
    if kind in ("sr", "depth_sr"):
        ds = SRPatches(train_frames, cfg.patch, cfg.scales, cfg.degradations, n_items, cfg.seed, weights)
    else:
        ds = MonoCrops(train_frames, tuple(mcfg.input_hw), n_items, cfg.seed)
    sampler = torch.utils.data.DistributedSampler(ds, world, rank, shuffle=False) if world > 1 else None
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch // world, sampler=sampler, num_workers=cfg.workers,
                                         drop_last=True, persistent_workers=cfg.workers > 0,
                                         pin_memory=device.type == "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    step = 0
    ckpt_path = out / "last.pt"
    if ckpt_path.exists():  # resume
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step = ck["step"]
    elif cfg.init:
        n = load_init(model, cfg.init, tuple(cfg.init_skip))
        if rank == 0:
            sys.stderr.write(f"init: {n} tensors from {cfg.init}\n")
    if cfg.init_prior and not ckpt_path.exists():
        if getattr(model, "prior", None) is None:
            raise ValueError("init_prior needs an SR model with guidance 'rgb+prior'")
        n = load_init(model.prior, cfg.init_prior)
        if rank == 0:
            sys.stderr.write(f"init_prior: {n} of {len(model.prior.state_dict())} tensors from {cfg.init_prior}\n")
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    log_f = open(out / "log.csv", "a", newline="") if rank == 0 else None
    writer = None
    if rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out / "tb"))
        except ImportError:  # tensorboard is optional
            writer = None
    csv_w = csv.writer(log_f) if log_f else None
    (out / "STOP").unlink(missing_ok=True)  # a STOP left in the directory is not a request to this run
    t0 = time.time()
    metrics: dict[str, float] = {}
    best = float("inf")
    it = iter(loader)
    l_edge = None  # the last edge self-distillation term (w_edge_sd), shown on the progress line
    for _ in range(step):  # resume: skip the samples already seen (same seeded order)
        next(it, None)
    start = step  # the ETA uses this process's own rate
    while step < cfg.steps:
        batch = next(it, None)
        if batch is None:
            break
        batch = [b.to(device, non_blocking=True) for b in batch]
        if kind == "mono":
            rgb, gt, mask = batch
            pred = net(rgb)
            loss = losses.log_l1(pred, gt, mask) + 0.5 * losses.ssi(pred, gt, mask)
        else:
            d, rgb, gt, mask = batch
            if kind == "sr" and cfg.rgb_dropout > 0:
                keep = (torch.rand(rgb.shape[0], 1, 1, 1, device=device) >= cfg.rgb_dropout).to(rgb.dtype)
                rgb = rgb * keep
            pred = net(d, rgb) if kind == "sr" else net(d)
            loss = losses.l1_sobel(pred, gt, mask, w_grad=cfg.w_grad)
            if cfg.w_edge_sd > 0 and step % max(cfg.edge_sd_every, 1) == 0:
                from depth_refine_training import sr_edge_sd  # the runtime's SDDR stage, only when used

                l_edge = sr_edge_sd.edge_sd_loss(model, d, rgb, pred)
                loss = loss + cfg.w_edge_sd * l_edge
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        # a STOP file in the run directory ends the run at this step, validated and saved (resumable):
        # how a CPU stage is cut short on schedule without losing the steps since the last checkpoint
        stop = (cfg.time_limit_min > 0 and (time.time() - t0) / 60 > cfg.time_limit_min
                or 0 < cfg.stop_step <= step or (out / "STOP").exists())
        if world > 1:  # every rank must stop at the same step
            flag = torch.tensor([float(stop)], device=device)
            dist.all_reduce(flag)
            stop = bool(flag.item())
        if rank == 0:
            lv = float(loss.item())
            if step % 10 == 0 or step == cfg.steps:
                terms = {"loss": lv} | ({"edge_sd": float(l_edge)} if l_edge is not None else {})
                progress.show(step, cfg.steps, terms, t0, start)
            csv_w.writerow([step, f"{lv:.6f}", f"{sched.get_last_lr()[0]:.3g}", f"{time.time() - t0:.1f}"])
            if writer:
                writer.add_scalar("loss", lv, step)
            if step % cfg.val_every == 0 or step == cfg.steps or stop:
                metrics = (validate_mono(model, val_frames, device, tuple(mcfg.input_hw)) if kind == "mono"
                           else validate_sr(model, val_frames, cfg.val_scales, device, kind == "sr"))
                sys.stderr.write(f"\nstep {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()) + "\n")
                if writer:
                    for k, v in metrics.items():
                        writer.add_scalar("val/" + k, v, step)
                ck = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                      "step": step, "kind": kind, "preset": cfg.preset, "model_config": config_to_dict(mcfg),
                      "train_config": dataclasses.asdict(cfg), "metrics": metrics}
                torch.save(ck, ckpt_path)
                key = metrics.get("rmse_cm_x8", metrics.get("rmse_m", 0.0))
                if key <= best:
                    best = key
                    torch.save(ck, out / "best.pt")
        if stop:
            break
    (out / f"param_hash_rank{rank}.txt").write_text(param_hash(model))
    if log_f:
        log_f.close()
    if writer:
        writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"out": str(out), "step": step, "metrics": metrics, "minutes": (time.time() - t0) / 60}
