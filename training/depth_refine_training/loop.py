"""The one training loop every task runs on: seeded, resumable, DDP-aware (torchrun), logged.

A task is a small class (:class:`Task`): it builds its network and data, makes its optimiser,
streams its batches, computes one step's loss, validates, and says what its checkpoint holds
besides the weights. :func:`run` does the rest, the same way for every task:

- Seeding: ``torch`` and ``numpy`` from ``LoopConfig.seed``, before the task builds anything.
- DDP: a task with ``distributed = True`` under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) runs
  DistributedDataParallel, NCCL on GPUs and gloo on CPU. Rank 0 validates, logs and saves.
- Resume: ``<out>/last.pt`` holds the weights, optimiser, scheduler, step and the task's own state;
  a rerun of the same command continues from it. Without it the task's :meth:`Task.init` runs.
- Stops: at ``steps``; at ``stop_step`` (the schedule still planned for ``steps``); after
  ``time_limit_min``; when a ``STOP`` file appears in ``out``. Every stop validates and saves
  (``last.pt`` is written through a temporary file, so a kill mid-write keeps the previous one).
- Validation every ``val_every`` steps, at the end and at a stop, with ``last.pt``. When the task
  has a key metric (lower is better), ``best.pt`` too.
- Logs: ``log.csv`` (one row per step), TensorBoard when installed, the progress line
  (:mod:`depth_refine_training.progress`).
- ``param_hash_rank<r>.txt``: sha256 of each rank's final weights, so a run proves its ranks agree.

A run without ``out`` (``adapt``: its output is a model directory) keeps no checkpoint or logs.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import pathlib
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from depth_refine_training import progress


@dataclass
class LoopConfig:
    """What the loop itself needs; every task fills it from its own config.

    Attributes:
        out: run directory (``last.pt``, ``best.pt``, ``log.csv``, ``STOP``, hashes); "" = none.
        steps: optimiser steps planned (the learning-rate schedule's length).
        seed: ``torch`` and ``numpy`` seed, set before the task builds anything.
        stop_step: stop (validated, saved) after this step, the schedule still planned for
            ``steps``; 0 = run to ``steps``.
        time_limit_min: stop (validated, saved) after this many minutes; 0 = no limit.
        val_every: steps between validations and checkpoints; 0 = only at the end or a stop.
        show_every: steps between progress-line updates (and the last step).
        csv_eol: line end of ``log.csv`` rows (the csv module's ``\\r\\n`` for sr, depth_sr and
            mono, as their logs always had; ``\\n`` for the tasks whose logs had it).
        tensorboard: also log to ``<out>/tb`` when TensorBoard is installed.
    """

    out: str = ""
    steps: int = 1
    seed: int = 0
    stop_step: int = 0
    time_limit_min: float = 0.0
    val_every: int = 0
    show_every: int = 10
    csv_eol: str = "\r\n"
    tensorboard: bool = True


@dataclass
class Context:
    """Where a task runs: its rank, the world size, the device and the run directory (or None)."""

    rank: int
    world: int
    device: torch.device
    out: pathlib.Path | None


class Task:
    """One task's part of the loop. Subclasses set ``self.model`` in :meth:`build` and implement
    :meth:`optimiser`, :meth:`batches` and :meth:`loss`; the other hooks are optional. A task that
    steps several networks with their own optimisers (distill) overrides :meth:`update`, and
    :meth:`to_checkpoint` / :meth:`from_checkpoint` when its checkpoint has its own layout.

    Attributes:
        distributed: runs DistributedDataParallel under ``torchrun`` (else every rank trains alone).
        device: the device of a task that is not distributed (a distributed one gets its rank's).
        show: names of the terms on the progress line besides ``loss`` (None = every term).
        label: a prefix of the progress line (e.g. the phase), updated by the task as it goes.
        model: the network whose weights are trained, checkpointed (``model``) and hashed.
        net: ``model``, wrapped in DistributedDataParallel under ``torchrun``: call it in :meth:`loss`.
        ctx: the :class:`Context` (set by :func:`run` before :meth:`build`).
        opt, sched: the optimiser and scheduler from :meth:`optimiser` (set by :func:`run`).
    """

    distributed: bool = False
    device: torch.device = torch.device("cpu")
    show: tuple[str, ...] | None = None
    label: str = ""
    model: torch.nn.Module
    net: torch.nn.Module
    ctx: Context
    opt: torch.optim.Optimizer
    sched: Any = None

    def save_config(self, out: pathlib.Path) -> None:
        """Write the task's config into the run directory (rank 0, before :meth:`build`)."""

    def build(self, ctx: Context) -> None:
        """Build the network(s) (``self.model``) and the data."""
        raise NotImplementedError

    def param_groups(self) -> Iterable:
        """What the optimiser trains (default: ``self.model``'s parameters)."""
        return self.model.parameters()

    def optimiser(self, params: Iterable) -> tuple[torch.optim.Optimizer, Any]:
        """``(optimiser, scheduler or None)`` over ``params`` (:func:`adamw_cosine` for most tasks)."""
        raise NotImplementedError

    def init(self) -> None:
        """A fresh start (no ``last.pt``): load starting weights, if any."""

    def resume(self, ck: dict) -> None:
        """Restore the task's own state from ``last.pt`` (:meth:`from_checkpoint` restores the
        weights, optimiser, scheduler and step)."""

    def start(self, step: int) -> None:
        """Just before the first step of this process (e.g. train mode, a score of the start)."""

    def batches(self, start: int) -> Iterator:
        """The batch stream from step ``start`` on (a resume continues the same seeded sequence);
        a ``None`` ends the run early."""
        raise NotImplementedError

    def loss(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """One step's loss (to minimise) and its named terms (logged; shown per :attr:`show`)."""
        raise NotImplementedError

    def update(self, batch: Any, step: int) -> dict[str, float]:
        """One optimiser step; returns ``{"loss": value, **terms}``. A task that updates several
        networks with their own optimisers (distill) overrides this instead of :meth:`loss`."""
        loss, terms = self.loss(batch, step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        return {"loss": float(loss.item())} | terms

    def csv_row(self, step: int, terms: dict[str, float], seconds: float) -> list:
        """One ``log.csv`` row (default: the step, every term, the elapsed seconds)."""
        return [step, *(f"{v:.6f}" for v in terms.values()), f"{seconds:.1f}"]

    def save_due(self, step: int) -> bool:
        """A checkpoint besides the ``val_every`` cadence (distill: at each epoch's end)."""
        return False

    def validate(self) -> dict[str, float] | None:
        """Validation metrics (rank 0); None = a task that validates only outside the loop."""
        return None

    def report(self, metrics: dict[str, float]) -> dict[str, float]:
        """The metrics printed on the validation line (default: all)."""
        return metrics

    def key(self, metrics: dict[str, float]) -> float | None:
        """The metric ``best.pt`` minimises; None = no ``best.pt``."""
        return None

    def checkpoint(self, metrics: dict[str, float]) -> dict:
        """What a checkpoint holds besides ``model``, ``opt``, ``sched`` and ``step``."""
        return {}

    def to_checkpoint(self, step: int, metrics: dict[str, float]) -> dict:
        """The whole checkpoint (default: :func:`checkpoint`); a task with its own layout overrides
        this and :meth:`from_checkpoint`."""
        return checkpoint(self, step, metrics)

    def from_checkpoint(self, ck: dict) -> int:
        """Restore a checkpoint from :meth:`to_checkpoint`; returns the step it was taken at."""
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        if self.sched is not None:
            self.sched.load_state_dict(ck["sched"])
        self.resume(ck)
        return ck["step"]


def distributed() -> tuple[int, int, torch.device]:
    """``(rank, world size, device)``; under ``torchrun`` this joins the process group."""
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


def cosine(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of every group's learning rate to 1 % over ``total`` steps, then flat."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1))))


def adamw_cosine(params: Iterable, lr: float, weight_decay: float, steps: int
                 ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with :func:`cosine` over ``steps``: the schedule of sr, depth_sr, mono, sddr and adapt."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return opt, cosine(opt, steps)


def checkpoint(task: Task, step: int, metrics: dict[str, float]) -> dict:
    """The checkpoint dict :func:`run` saves (also for a task's own final save)."""
    ck = {"model": task.model.state_dict(), "opt": task.opt.state_dict()}
    if task.sched is not None:
        ck["sched"] = task.sched.state_dict()
    ck["step"] = step
    return ck | task.checkpoint(metrics)


def stop_requested(cfg: LoopConfig, step: int, t0: float, out: pathlib.Path | None) -> bool:
    """Whether this step ends the run: ``time_limit_min``, ``stop_step`` or a ``STOP`` file.

    The STOP file is how a CPU stage is cut short on schedule without losing the steps since the
    last checkpoint: the run stops at this step, validated and saved, and resumes later.
    """
    return (cfg.time_limit_min > 0 and (time.time() - t0) / 60 > cfg.time_limit_min
            or 0 < cfg.stop_step <= step or (out is not None and (out / "STOP").exists()))


def save(ck: dict, path: pathlib.Path) -> None:
    """``torch.save`` through a temporary file: a kill during the write leaves the previous file intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)


def _tensorboard(out: pathlib.Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(out / "tb"))


def compute_record(prior: dict, t0: float, cpu0: float, world: int, device: torch.device) -> dict:
    """What a run has cost so far: ``cpu_hours`` (this process's CPU time, all its threads, times the
    ranks, plus ``prior``'s), ``wall_hours`` and, on a GPU, ``gpu_hours``. CPU time, not wall time x
    threads: a machine shared with other jobs then costs what the run really used. DataLoader
    workers' time is not in it (the recipes here run with ``workers=0``)."""
    wall = (time.time() - t0) / 3600
    rec = {"cpu_hours": round(prior.get("cpu_hours", 0.0) + (time.process_time() - cpu0) / 3600 * world, 4),
           "wall_hours": round(prior.get("wall_hours", 0.0) + wall, 4)}
    if device.type == "cuda":
        rec["gpu_hours"] = round(prior.get("gpu_hours", 0.0) + wall * world, 4)
    return rec


def run(task: Task, cfg: LoopConfig) -> dict:
    """Train ``task`` (or resume it from ``<out>/last.pt``).

    Returns:
        ``{"out", "step", "metrics", "minutes"}``: the run folder, the steps done, the last
        validation (rank 0; empty for a task that does not validate in the loop) and this
        process's training minutes.
    """
    rank, world, device = distributed() if task.distributed else (0, 1, task.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    out = pathlib.Path(cfg.out) if cfg.out else None
    if rank == 0 and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        task.save_config(out)
    task.ctx = Context(rank, world, device, out)
    task.build(task.ctx)
    task.opt, task.sched = task.optimiser(task.param_groups())
    step = 0
    prior = {}  # the compute of the processes before this one (a resumed run)
    ckpt_path = out / "last.pt" if out is not None else None
    if ckpt_path is not None and ckpt_path.exists():  # resume
        ck0 = torch.load(ckpt_path, map_location=device, weights_only=False)
        step = task.from_checkpoint(ck0)
        prior = ck0.get("compute") or {}
        del ck0
    else:
        task.init()
    task.net = torch.nn.parallel.DistributedDataParallel(task.model) if world > 1 else task.model
    task.start(step)
    logs = rank == 0 and out is not None
    log_f = open(out / "log.csv", "a", newline="") if logs else None
    csv_w = csv.writer(log_f, lineterminator=cfg.csv_eol) if log_f else None
    writer = _tensorboard(out) if logs and cfg.tensorboard else None
    if out is not None:
        (out / "STOP").unlink(missing_ok=True)  # a STOP left in the directory is not a request to this run
    t0 = time.time()
    cpu0 = time.process_time()
    metrics: dict[str, float] = {}
    best = float("inf")
    it = task.batches(step)
    start = step  # the ETA uses this process's own rate
    while step < cfg.steps:
        batch = next(it, None)
        if batch is None:
            break
        terms = task.update(batch, step)
        step += 1
        stop = stop_requested(cfg, step, t0, out)
        if world > 1:  # every rank must stop at the same step
            flag = torch.tensor([float(stop)], device=device)
            dist.all_reduce(flag)
            stop = bool(flag.item())
        if rank == 0:
            if step % cfg.show_every == 0 or step == cfg.steps:
                shown = terms if task.show is None else {k: terms[k] for k in ("loss", *task.show) if k in terms}
                progress.show(step, cfg.steps, shown, t0, start, label=task.label)
            if csv_w:
                csv_w.writerow(task.csv_row(step, terms, time.time() - t0))
            if writer:
                for k, v in terms.items():
                    writer.add_scalar(k, v, step)
            if out is not None and ((cfg.val_every and step % cfg.val_every == 0) or step == cfg.steps or stop
                                    or task.save_due(step)):
                m = task.validate()
                if m is not None:
                    metrics = m
                    sys.stderr.write(f"\nstep {step}: "
                                     + ", ".join(f"{k} {v:.4g}" for k, v in task.report(m).items()) + "\n")
                    if writer:
                        for k, v in m.items():
                            writer.add_scalar("val/" + k, v, step)
                if log_f:
                    log_f.flush()
                ck = task.to_checkpoint(step, metrics)
                ck["compute"] = compute_record(prior, t0, cpu0, world, device)
                save(ck, ckpt_path)
                key = task.key(metrics) if m is not None else None
                if key is not None and key <= best:
                    best = key
                    save(ck, out / "best.pt")
        if stop:
            break
    if out is not None:
        (out / f"param_hash_rank{rank}.txt").write_text(param_hash(task.model))
    if log_f:
        log_f.close()
    if writer:
        writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"out": str(out) if out is not None else "", "step": step, "metrics": metrics,
            "minutes": (time.time() - t0) / 60}
