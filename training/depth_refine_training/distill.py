"""Cross-task distillation: a depth-only SR net (DSRNet) taught with an RGB->depth net (DENet) and a
structure net (SPNet) at training time, so that at run time it needs no RGB (docs/architecture.md,
METHODS 4).

After Sun et al., "Learning Scene Structure Guidance via Cross-Task Knowledge Transfer for Single
Depth Super-Resolution", CVPR 2021 (authors' repository github.com/Sunbaoli/dsr-distillation; its
README announces code that it does not hold, so the loss forms and weights below are ours).

Networks:
    DSRNet: the ``depth_sr`` net (:class:`depth_refine_ros.models.GuidedSRNet`, ``guidance='none'``),
        ``depth (B, 1, P, P)`` float32, bicubic-upsampled low-res depth / per-frame scale ->
        ``(B, 1, P, P)`` in the same units. The only network exported.
    DENet: the monocular net (``mono``), ``rgb (B, 3, P, P)`` float32 in [0, 1] -> relative depth at
        half size, bilinearly upsampled to ``(B, 1, P, P)``; its scale and shift are unknown, so every
        comparison with depth fits them first (:func:`align`).
    DENet with ``de_kind='sr'`` (our variant, not the paper's): the guided SR net (``sr``), ``depth``
        and ``rgb`` -> metric depth in DSRNet's units. The paper's DENet reads RGB alone; ours, at our
        data and CPU budgets, is ten times worse than DSRNet (docs/ablations.md, seed 002), so the role
        rule never lets it teach. A guided SR net is the RGB-aware depth predictor that *is* better
        than DSRNet, so ``auto`` lets it teach and the comparison asks whether a depth-only student
        gains from an RGB-aware teacher. No alignment is needed: both outputs are metric.
    SPNet: :class:`SPNet`, ``rgb`` + standardised input depth ``(B, 4, P, P)`` -> the soft edge map of
        the ground truth ``(B, 1, P, P)`` in [0, 1] (:func:`soft_edges`). Training only.

Schedule (METHODS 4):
    Phase 1: DSRNet (SR loss) and DENet (estimation loss) train independently, ``p1_dsr`` and
        ``p1_de`` steps.
    Phase 2: ``epochs`` epochs of ``epoch_steps`` steps. At the start of each epoch both nets are
        scored on the role-validation days (a held-out part of the training days, never the test days
        ``val_groups``): RMSE (cm) of full frames at ``role_scales``, bicubic low-res input; DENet's
        prediction is first fitted (least-squares scale and shift) to the upsampled low-res depth, the
        only depth it could be fitted to at run time. The lower mean RMSE is the teacher (frozen for
        the epoch), the other is the student. ``teacher`` forces a role (``dsr`` or ``de``) while the
        automatic choice is still logged; ``none`` trains DSRNet alone for the same number of steps
        on the same batches (the baseline). SPNet is first trained ``sp_warmup`` steps alone, then
        one step beside every student step.

Losses (masked to valid ground truth; depth in per-frame-scale units, about 0..1):
    DSRNet ``L_task``: L1 + Sobel-gradient L1 (:func:`depth_refine_training.losses.l1_sobel`, as
        ``depth-refine-train depth_sr``).
    DENet ``L_task``: scale-and-shift-invariant L1 (:func:`depth_refine_training.losses.ssi`).
    ``L_distill`` (weight ``rho2``, default 0.02): L1 between the student's output and the frozen
        teacher's output after a per-image least-squares scale and shift fit of the relative one (DENet)
        to the other; for a DENet student that is ``ssi(DENet, DSRNet)``. Output-level only: no
        feature distillation (the two nets' features live at different resolutions and widths).
    ``L_struct`` (weight ``rho1``, default 0.02): L1 between the student's soft edge map and SPNet's
        (frozen for this term) prediction, over pixels whose 3x3 neighbourhood is valid.
    SPNet: binary cross-entropy against ``soft_edges(ground truth)``.
    ``soft_edges(d) = tanh(|Sobel d| / tau)``, ``tau`` = 0.01 per-frame-scale units per pixel (a
        10 cm step at 3 m gives about 0.9, a slanted floor about 0.1).
    Magnitudes measured from the shipped nets (128 px crops, x4..x16, bicubic and ToF input):
    ``L_task`` about 0.010 (DSRNet) and 0.046 (DENet), ``L_distill`` about 0.04, ``L_struct`` about
    0.17 (SPNet's BCE about 0.5 after 100 warm-up steps): at 0.02 the two extra terms add about 10 %
    and 30 % of DSRNet's task loss, guidance rather than a second objective.

Imported teacher (issue 26, item 4): ``teacher`` set to a model directory made by ``depth-refine import``
(Depth Anything, Prompt Depth Anything) replaces DENet with that frozen model, the teacher of every
epoch; :mod:`depth_refine_training.foundation_teacher` has its input, output and ``L_distill``.

Outputs: ``<out>/last.pt`` (every net, optimiser and counter: a rerun resumes), ``<out>/log.csv``,
``<out>/roles.json`` (the role decisions with both errors) and the distilled DSRNet as a ``depth_sr``
model directory (``<out>/model`` or ``export``) whose card records the distillation.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depth_refine_ros.core import net_input
from depth_refine_ros.core.degrade import degrade
from depth_refine_ros.models import build_model, config_from_dict, config_to_dict, preset_config
from depth_refine_training import foundation_teacher, loop, losses
from depth_refine_training.config import parse_config_command, setting
from depth_refine_training.data import Frame, SRPatches, load_frames
from depth_refine_training.losses import align, masked_l1
from depth_refine_training.trainer import load_init, validate_sr

TEST_DAYS = ["20200518", "20200601", "20200711", "20200715"]
MODES = ("auto", "dsr", "de", "none")  # any other ``teacher`` is an imported model directory


@dataclass
class DistillConfig:
    """Everything a distillation run depends on (saved in every checkpoint and the model card).

    Attributes:
        data: dataset folder (layouts in :mod:`depth_refine_training.data`).
        val_groups: test days, never trained on nor used for role decisions.
        role_groups: training days held out for the teacher/student decisions (not trained on).
        train_limit, val_limit, role_limit: at most this many frames of each split (0 = all).
        preset_dsr, preset_de: presets of DSRNet (``depth_sr``) and DENet (``mono``, or ``sr``; a
            guided SR DENet initialised from a model directory takes its card's config instead).
        de_kind: ``mono`` (the paper's RGB->depth DENet) or ``sr`` (a guided SR net, see above).
        init_dsr, init_de: starting weights (model name, directory or ``.pt``; empty = random).
        patch, batch, scales, degradations: SR crops (``SRPatches``); DENet sees the crop's RGB.
        lr_dsr, lr_de, lr_sp, weight_decay: AdamW; DSRNet's and DENet's lr decay by a cosine to 1 %
            over their planned steps (DSRNet: ``p1_dsr + epochs * epoch_steps``).
        p1_dsr, p1_de: phase-1 steps of each net.
        epochs, epoch_steps: phase 2; sp_warmup: SPNet-only steps before the first epoch.
        teacher: ``auto`` (lower role-validation RMSE), ``dsr``/``de`` (forced), ``none`` (baseline:
            DSRNet alone for ``p1_dsr + epochs * epoch_steps`` steps), or a model directory (or installed
            name) made by ``depth-refine import``: that frozen model teaches DSRNet every epoch, in
            place of DENet (``preset_de``, ``de_kind``, ``p1_de`` and the role settings then unused).
        teacher_long_side: an imported teacher's input size (longer side, pixels; 0 = its card's policy).
        rho1, rho2: weights of ``L_struct`` and ``L_distill``; tau: soft-edge scale.
        role_scales: SR factors of the role validation; val_scales: of the final test-day scores.
        time_limit_min: stop (checkpoint, resumable) after this many minutes (0 = none).
        stop_step: stop (checkpoint, resumable) after this many iterations of the schedule (phase-1
            iterations, warm-up steps and student steps; 0 = none).
        seed: everything random derives from it. out: run directory. export: model directory
            (default ``<out>/model``); name: the model's name (default: the directory's).
    """

    data: str = setting("../shared/data/rgbdd", "dataset folder (layouts in depth_refine_training.data)")
    val_groups: list[str] = setting(list(TEST_DAYS), "test days (never trained on)")
    role_groups: list[str] = setting(["20200705", "20200801", "20200812"],
                                     "training days held out for the role decisions")
    train_limit: int = setting(0, "at most this many training frames (0 = all)")
    val_limit: int = setting(20, "test-day frames scored at the end (0 = all)")
    role_limit: int = setting(0, "role-validation frames (0 = all)")
    preset_dsr: str = setting("lite", "DSRNet's preset (depth_sr)")
    preset_de: str = setting("small", "DENet's preset (mono: tiny or small; sr: e.g. faster)")
    de_kind: str = setting("mono", "DENet: mono (RGB -> relative depth, the paper's) or sr (a guided SR net: "
                                   "RGB + depth)", choices=("mono", "sr"))
    init_dsr: str = setting("", "DSRNet's starting weights: model name (depth_sr_lite), directory or .pt")
    init_de: str = setting("", "DENet's starting weights (e.g. mono_small)")
    patch: int = setting(128, "SR crop size")
    batch: int = setting(8, "batch size")
    scales: list[int] = setting([4, 8, 16], "SR input scales (one drawn per sample)")
    degradations: list[str] = setting(["bicubic", "bicubic", "tof"], "SR input degradations (one drawn per sample)")
    lr_dsr: float = setting(2e-4, "DSRNet's AdamW learning rate (cosine decay to 1 %)")
    lr_de: float = setting(5e-4, "DENet's AdamW learning rate (cosine decay to 1 %)")
    lr_sp: float = setting(1e-3, "SPNet's AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    p1_dsr: int = setting(200, "phase-1 steps of DSRNet")
    p1_de: int = setting(150, "phase-1 steps of DENet")
    epochs: int = setting(8, "phase-2 epochs (role decision each)")
    epoch_steps: int = setting(100, "student steps per epoch")
    sp_warmup: int = setting(50, "SPNet-only steps before phase 2")
    teacher: str = setting("auto", "auto: the lower role-validation RMSE teaches; dsr/de: forced; none: DSRNet alone "
                                   "(the equal-steps baseline); MODEL_DIR: a Depth Anything or Prompt Depth Anything "
                                   "model made by depth-refine import teaches DSRNet every epoch, frozen, in DENet's "
                                   "place")
    teacher_long_side: int = setting(0, "an imported teacher's input: the crop resized to this longer side "
                                        "(0: its card's policy)")
    rho1: float = setting(0.02, "weight of L_struct")
    rho2: float = setting(0.02, "weight of L_distill")
    tau: float = setting(0.01, "soft-edge scale (per-frame-scale units per pixel)")
    role_scales: list[int] = setting([8, 16], "SR factors of the role validation")
    val_scales: list[int] = setting([4, 8, 16], "SR factors of the final test-day scores")
    time_limit_min: float = setting(0.0, "stop (saved, resumable) after this many minutes (0 = none)")
    seed: int = setting(0, "everything random derives from it")
    out: str = setting("runs/distill", "run directory (last.pt there = resume)")
    export: str = setting("", "model directory to write (default <out>/model)")
    name: str = setting("", "the exported model's name (default: the directory's)")
    stop_step: int = setting(0, "stop (saved, resumable) after this many iterations of the schedule (0 = none)")


class SPNet(nn.Module):
    """Structure prediction: ``rgb (B, 3, H, W)`` in [0, 1] and ``depth (B, 1, H, W)`` (any scale) ->
    ``(B, 1, H, W)`` edge probability in [0, 1]. Dilated 3x3 convs (receptive field 33 px), about
    10 k parameters: cheap beside the student it supervises."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 4
        for d in (1, 2, 4, 8, 1):
            layers += [nn.Conv2d(cin, width, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
            cin = width
        layers.append(nn.Conv2d(width, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        # standardised depth: the edge decision must not depend on the frame's depth scale
        mu = depth.mean((2, 3), keepdim=True)
        sd = (depth - mu).pow(2).mean((2, 3), keepdim=True).sqrt() + 1e-6
        return torch.sigmoid(self.body(torch.cat([rgb, (depth - mu) / sd], 1)))


def soft_edges(d: torch.Tensor, tau: float) -> torch.Tensor:
    """``(B, 1, H, W)`` depth -> ``(B, 1, H, W)`` in [0, 1): ``tanh(|Sobel d| / tau)``."""
    g = losses.sobel(d)
    return torch.tanh(torch.sqrt(g.pow(2).sum(1, keepdim=True) + 1e-12) / tau)


def de_forward(de: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """DENet on ``rgb (B, 3, H, W)`` (H, W multiples of 8) -> relative depth ``(B, 1, H, W)``.

    The RGB is halved first (area) and the quarter-size output upsampled (bilinear): the monocular
    nets are trained on whole frames resized to half size (``input_hw`` 192 x 256 for 384 x 512
    RGB-D-D frames), so this keeps objects at the size they learned, at a quarter of the cost.
    """
    return F.interpolate(de(F.avg_pool2d(rgb, 2)), size=rgb.shape[-2:], mode="bilinear", align_corners=False)


@torch.no_grad()
def validate_de(de: nn.Module, frames: list[Frame], scales: list[int], device: torch.device) -> dict[str, float]:
    """RMSE (cm) of DENet on whole frames, fitted (scale, shift) to the bicubic-upsampled low-res depth
    at each scale, the run-time-available depth; keys ``rmse_cm_x{s}`` as :func:`validate_sr`."""
    de.eval()
    m = 64  # halved, then downsampled by at most 32 inside DENet
    out: dict[str, list[float]] = {}
    for f in frames:
        H, W = f.depth.shape
        x = torch.from_numpy(net_input.rgb_to_nchw(f.rgb, net_input.padded_size((H, W), m))).to(device)
        rel = de_forward(de, x)[..., :H, :W]
        for s in scales:
            lr = degrade("bicubic", f.depth, s)
            hw = (lr.shape[0] * s, lr.shape[1] * s)
            feeds, scale, _ = net_input.sr_inputs(lr, None, hw, 1, False)
            up = torch.from_numpy(feeds["depth"]).to(device) * scale
            pred = align(rel[..., : hw[0], : hw[1]], up, torch.ones_like(up, dtype=torch.bool))
            gt = f.depth[: hw[0], : hw[1]]
            v = np.isfinite(gt)
            e = pred[0, 0].cpu().numpy()[v] - gt[v]
            out.setdefault(f"rmse_cm_x{s}", []).append(float(np.sqrt(np.mean(e**2)) * 100))
    de.train()
    return {k: float(np.mean(v)) for k, v in out.items()}


def _resolve_init(source: str) -> str:
    """A model name (``depth_sr_lite``) -> its directory; paths are returned as given."""
    if not source or pathlib.Path(source).exists():
        return source
    from depth_refine_ros.data.modeldir import resolve

    return str(resolve(source))


def _batch(ds: SRPatches, start: int, n: int, device: torch.device) -> list[torch.Tensor]:
    """Items ``start .. start + n - 1`` of ``ds`` stacked: ``depth, rgb, gt, mask`` ``(n, C, P, P)``.
    Indexing by a step counter (no DataLoader state) makes the batches identical across arms and
    across a resume."""
    items = [ds[i] for i in range(start, start + n)]
    return [torch.stack(t).to(device) for t in zip(*items, strict=True)]


def _de_config(cfg: DistillConfig):
    """DENet's network config: ``preset_de``'s, except that a guided SR DENet initialised from a model
    directory takes the config its card records (a shipped model may override its preset, e.g.
    ``sr_lite`` is ``lite`` with concat fusion)."""
    src = _resolve_init(cfg.init_de)
    if cfg.de_kind == "sr" and src and (pathlib.Path(src) / "card.yaml").is_file():
        from depth_refine_ros.data.modeldir import read_card

        card = read_card(pathlib.Path(src))
        if card.kind != "sr":
            raise ValueError(f"de_kind=sr needs a guided SR model as DENet; {src} is a {card.kind} model")
        return config_from_dict("sr", card.config)
    kind = "sr" if cfg.de_kind == "sr" else "mono"
    try:
        return preset_config(kind, cfg.preset_de)
    except KeyError as e:
        raise ValueError(f"preset_de={cfg.preset_de!r} is not a {kind} preset (DENet of kind {cfg.de_kind})") from e


class Distiller(loop.Task):
    """The three nets, their optimisers, the data streams and the step counters of one run, as a
    part of the shared loop: one loop step is one iteration of the schedule (:meth:`update`)."""

    def __init__(self, cfg: DistillConfig) -> None:
        self.cfg = cfg
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.baseline = cfg.teacher == "none"
        self.imported = cfg.teacher not in MODES  # a frozen foundation model in DENet's place
        self.dsr_total = cfg.p1_dsr + cfg.epochs * cfg.epoch_steps
        self.de_sr = cfg.de_kind == "sr"
        self.p1_dsr = self.dsr_total if self.baseline else cfg.p1_dsr
        self.p1_de = 0 if self.baseline or self.imported else cfg.p1_de
        self.epochs = 0 if self.baseline else cfg.epochs
        self.total = max(self.p1_dsr, self.p1_de) + (cfg.sp_warmup + self.epochs * cfg.epoch_steps
                                                     if self.epochs else 0)
        # counters: everything the loop position depends on, so a checkpoint is a resume point
        self.state = {"dsr": 0, "de": 0, "sp": 0, "epoch": 0, "epoch_step": 0, "teacher": None, "roles": []}
        self.epoch_done = False

    def save_config(self, out: pathlib.Path) -> None:
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(self.cfg), indent=1))

    def build(self, ctx: loop.Context) -> None:
        cfg, device = self.cfg, self.device
        held = set(cfg.val_groups) | set(cfg.role_groups)
        train_frames = load_frames(cfg.data, exclude=held, limit=cfg.train_limit or None)
        self.role_frames = [] if cfg.teacher == "none" or self.imported else load_frames(
            cfg.data, groups=set(cfg.role_groups), limit=cfg.role_limit or None)
        n = 1 << 30  # SRPatches items are made on demand from their index: a length that is never reached
        self.dsr_stream = SRPatches(train_frames, cfg.patch, cfg.scales, cfg.degradations, n, cfg.seed)
        self.de_stream = SRPatches(train_frames, cfg.patch, cfg.scales, cfg.degradations, n, cfg.seed + 1)
        self.sp_stream = SRPatches(train_frames, cfg.patch, cfg.scales, cfg.degradations, n, cfg.seed + 2)
        self.dsr_cfg = preset_config("depth_sr", cfg.preset_dsr)
        self.dsr = self.model = build_model("depth_sr", self.dsr_cfg).to(device)
        self.de = self.sp = None
        if self.imported:  # loading it leaves the random stream as it was (SPNet's init as in every run)
            with torch.random.fork_rng(devices=[]):
                self.de = foundation_teacher.FoundationTeacher(cfg.teacher, cfg.teacher_long_side).to(device)
            self.sp = SPNet().to(device)
        elif not self.baseline:
            self.de_cfg = _de_config(cfg)
            self.de = build_model("sr" if self.de_sr else "mono", self.de_cfg).to(device)
            self.sp = SPNet().to(device)

    def optimiser(self, params):
        """DSRNet's AdamW and schedule (the loop's); DENet's and SPNet's are the task's own."""
        cfg = self.cfg
        self.opt_dsr = torch.optim.AdamW(params, lr=cfg.lr_dsr, weight_decay=cfg.weight_decay)
        self.sched_dsr = loop.cosine(self.opt_dsr, self.dsr_total)
        if not self.baseline:
            if not self.imported:  # a frozen teacher has no optimiser
                self.opt_de = torch.optim.AdamW(self.de.parameters(), lr=cfg.lr_de, weight_decay=cfg.weight_decay)
                self.sched_de = loop.cosine(self.opt_de, cfg.p1_de + cfg.epochs * cfg.epoch_steps)
            self.opt_sp = torch.optim.AdamW(self.sp.parameters(), lr=cfg.lr_sp, weight_decay=cfg.weight_decay)
        return self.opt_dsr, self.sched_dsr

    def init(self) -> None:
        for net, src in ((self.dsr, self.cfg.init_dsr), (None if self.imported else self.de, self.cfg.init_de)):
            if net is not None and src:
                sys.stderr.write(f"init: {load_init(net, _resolve_init(src))} tensors from {src}\n")

    def batches(self, start: int):
        # each update draws its batches from the streams by the nets' own counters (resumable, and
        # the same batches in every arm); the loop's stream only counts the iterations
        step = start
        while True:
            yield step
            step += 1

    # -- steps ---------------------------------------------------------------------------------
    def dsr_task_step(self, batch: list[torch.Tensor]) -> dict[str, float]:
        d, _, gt, mask = batch
        loss = losses.l1_sobel(self.dsr(d), gt, mask)
        self._update(self.opt_dsr, self.sched_dsr, loss)
        self.state["dsr"] += 1
        return {"dsr_task": loss.item()}

    def _de(self, d: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """DENet's output: metric (``de_kind='sr'``) or relative (``mono``); an imported teacher's
        (:class:`~depth_refine_training.foundation_teacher.FoundationTeacher`)."""
        return self.de(d, rgb) if self.de_sr or self.imported else de_forward(self.de, rgb)

    def de_task_step(self, batch: list[torch.Tensor]) -> dict[str, float]:
        d, rgb, gt, mask = batch
        out = self._de(d, rgb)
        loss = losses.l1_sobel(out, gt, mask) if self.de_sr else losses.ssi(out, gt, mask)
        self._update(self.opt_de, self.sched_de, loss)
        self.state["de"] += 1
        return {"de_task": loss.item()}

    def sp_step(self, batch: list[torch.Tensor]) -> float:
        d, rgb, gt, mask = batch
        target = soft_edges(gt, self.cfg.tau)
        m = self._edge_mask(mask)
        bce = F.binary_cross_entropy(self.sp(rgb, d).clamp(1e-6, 1 - 1e-6), target, reduction="none")
        loss = (bce * m).sum() / m.sum().clamp(min=1)
        self.opt_sp.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_sp.step()
        self.state["sp"] += 1
        return loss.item()

    def student_step(self, student: str, batch: list[torch.Tensor]) -> dict[str, float]:
        """One step of ``student`` (``dsr`` or ``de``): ``L_task + rho1 L_struct + rho2 L_distill``."""
        cfg = self.cfg
        d, rgb, gt, mask = batch
        with torch.no_grad():
            structure = self.sp(rgb, d)
        em = self._edge_mask(mask)
        if student == "dsr":
            with torch.no_grad():
                self.de.eval()
                teacher = self._de(d, rgb)
            self.de.train()
            out = self.dsr(d)
            task = losses.l1_sobel(out, gt, mask)
            if self.imported:
                distill = foundation_teacher.distill_loss(out, teacher, mask, self.de.output, self.de.prompt)
            else:
                distill = masked_l1(out, teacher if self.de_sr else align(teacher, out.detach(), mask), mask)
            struct = masked_l1(soft_edges(out, cfg.tau), structure, em)
            opt, sched = self.opt_dsr, self.sched_dsr
        else:
            with torch.no_grad():
                teacher = self.dsr.eval()(d)
            self.dsr.train()
            out = self._de(d, rgb)
            if self.de_sr:
                task = losses.l1_sobel(out, gt, mask)
                distill = masked_l1(out, teacher, mask)
                struct = masked_l1(soft_edges(out, cfg.tau), structure, em)
            else:
                task = losses.ssi(out, gt, mask)
                distill = losses.ssi(out, teacher, mask)
                struct = masked_l1(soft_edges(align(out, teacher, mask), cfg.tau), structure, em)
            opt, sched = self.opt_de, self.sched_de
        loss = task + cfg.rho1 * struct + cfg.rho2 * distill
        self._update(opt, sched, loss)
        self.state[student] += 1
        return {f"{student}_task": task.item(), "struct": struct.item(), "distill": distill.item()}

    @staticmethod
    def _edge_mask(mask: torch.Tensor) -> torch.Tensor:
        # Sobel needs its whole 3x3 neighbourhood valid
        return (F.avg_pool2d(mask.float(), 3, 1, 1) > 0.999).float()

    @staticmethod
    def _update(opt: torch.optim.Optimizer, sched, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    # -- the loop's step: one iteration of the schedule --------------------------------------------
    def update(self, batch, step: int) -> dict[str, float]:
        """Phase 1 (both nets, one step each while it has steps left), then SPNet's warm-up, then the
        epochs: the role decision at an epoch's start, one student step and one SPNet step."""
        cfg, st, b, device = self.cfg, self.state, self.cfg.batch, self.device
        self.epoch_done = False
        if st["dsr"] < self.p1_dsr or st["de"] < self.p1_de:
            logs: dict[str, float] = {}
            if st["dsr"] < self.p1_dsr:
                logs.update(self.dsr_task_step(_batch(self.dsr_stream, st["dsr"] * b, b, device)))
            if st["de"] < self.p1_de:
                logs.update(self.de_task_step(_batch(self.de_stream, st["de"] * b, b, device)))
            self.label = "phase1"
        elif self.epochs and st["sp"] < cfg.sp_warmup:
            logs = {"sp": self.sp_step(_batch(self.sp_stream, st["sp"] * b, b, device))}
            self.label = "sp_warmup"
        else:
            if st["teacher"] is None and self.imported:  # the imported model teaches every epoch
                st["teacher"] = "de"
            elif st["teacher"] is None:
                self.choose_roles()
            student = "de" if st["teacher"] == "dsr" else "dsr"
            stream = self.dsr_stream if student == "dsr" else self.de_stream
            batch = _batch(stream, st[student] * b, b, device)
            logs = self.student_step(student, batch)
            logs["sp"] = self.sp_step(batch)
            st["epoch_step"] += 1
            self.label = f"epoch{st['epoch']}:{student}"
            self.row = [self.label, st["epoch"], st["dsr"], st["de"], st["sp"], json.dumps(logs)]
            if st["epoch_step"] >= cfg.epoch_steps:  # the epoch is over: the next one decides the roles again
                st.update(epoch=st["epoch"] + 1, epoch_step=0, teacher=None)
                self.epoch_done = True
            return logs
        self.row = [self.label, st["epoch"], st["dsr"], st["de"], st["sp"], json.dumps(logs)]
        return logs

    def choose_roles(self) -> None:
        """Score both nets on the role-validation days; the lower RMSE teaches this epoch (unless forced)."""
        cfg, st, device = self.cfg, self.state, self.device
        e_dsr = validate_sr(self.dsr, self.role_frames, cfg.role_scales, device, False)
        e_de = (validate_sr(self.de, self.role_frames, cfg.role_scales, device, True) if self.de_sr
                else validate_de(self.de, self.role_frames, cfg.role_scales, device))
        err_dsr = float(np.mean([e_dsr[f"rmse_cm_x{s}"] for s in cfg.role_scales]))
        err_de = float(np.mean([e_de[f"rmse_cm_x{s}"] for s in cfg.role_scales]))
        st["teacher"], auto = choose_teacher(err_dsr, err_de, cfg.teacher)
        st["roles"].append({"epoch": st["epoch"], "dsr_rmse_cm": round(err_dsr, 3), "de_rmse_cm": round(err_de, 3),
                            "teacher": st["teacher"], "auto_teacher": auto})
        sys.stderr.write(f"\nepoch {st['epoch']}: role-validation RMSE DSRNet {err_dsr:.2f} cm, DENet "
                         f"{err_de:.2f} cm -> teacher {st['teacher']} (by error: {auto})\n")

    def csv_row(self, step: int, terms: dict[str, float], seconds: float) -> list:
        return [*self.row, f"{seconds:.1f}"]

    def save_due(self, step: int) -> bool:
        return self.epoch_done

    def done(self) -> int:
        """Iterations of the schedule done (the loop's step), from the counters."""
        st, cfg = self.state, self.cfg
        p1 = max(min(st["dsr"], self.p1_dsr), min(st["de"], self.p1_de))
        return p1 + (min(st["sp"], cfg.sp_warmup) if self.epochs else 0) + st["epoch"] * cfg.epoch_steps \
            + st["epoch_step"]


    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self, metrics: dict | None = None) -> dict:
        ck = {"dsr": self.dsr.state_dict(), "opt_dsr": self.opt_dsr.state_dict(),
              "sched_dsr": self.sched_dsr.state_dict(), "state": self.state,
              "config": dataclasses.asdict(self.cfg), "dsr_config": config_to_dict(self.dsr_cfg),
              "metrics": metrics or {}}
        if self.imported:  # the teacher's weights stay in its directory; its record names them
            ck.update(sp=self.sp.state_dict(), opt_sp=self.opt_sp.state_dict(), teacher=self.de.record)
        elif not self.baseline:
            ck.update(de=self.de.state_dict(), opt_de=self.opt_de.state_dict(), sched_de=self.sched_de.state_dict(),
                      sp=self.sp.state_dict(), opt_sp=self.opt_sp.state_dict(),
                      de_config=config_to_dict(self.de_cfg))
        return ck

    def to_checkpoint(self, step: int, metrics: dict[str, float]) -> dict:
        return self.state_dict(metrics)

    def from_checkpoint(self, ck: dict) -> int:
        self.dsr.load_state_dict(ck["dsr"])
        self.opt_dsr.load_state_dict(ck["opt_dsr"])
        self.sched_dsr.load_state_dict(ck["sched_dsr"])
        if self.imported:
            was = (ck.get("teacher") or {}).get("weights_sha256")
            if was != self.de.record["weights_sha256"]:
                raise ValueError(f"{self.ctx.out / 'last.pt'} was trained with another teacher (weights sha256 "
                                 f"{was}, now {self.de.record['weights_sha256']}): use another out=DIR")
            self.sp.load_state_dict(ck["sp"])
            self.opt_sp.load_state_dict(ck["opt_sp"])
        elif not self.baseline:
            self.de.load_state_dict(ck["de"])
            self.opt_de.load_state_dict(ck["opt_de"])
            self.sched_de.load_state_dict(ck["sched_de"])
            self.sp.load_state_dict(ck["sp"])
            self.opt_sp.load_state_dict(ck["opt_sp"])
        self.state = ck["state"]
        sys.stderr.write(f"resumed from {self.ctx.out / 'last.pt'}: {self.state['dsr']} DSRNet steps, "
                         f"epoch {self.state['epoch']}\n")
        return self.done()


def choose_teacher(dsr_err: float, de_err: float, forced: str) -> tuple[str, str]:
    """(teacher used, teacher the errors choose): the lower role-validation RMSE teaches unless forced."""
    auto = "dsr" if dsr_err <= de_err else "de"
    return (auto if forced == "auto" else forced), auto


def run(cfg: DistillConfig) -> dict:
    """Train (or resume) one run; export the DSRNet when the schedule is complete.

    Returns:
        ``{"out", "complete", "state", "metrics", "model"}``; ``complete`` is False when stopped by
        the time limit, ``stop_step`` or a ``STOP`` file (rerun the same command to resume).

    Raises:
        ValueError: a bad ``teacher`` value (neither a mode nor an imported foundation model directory),
            ``init_de`` with an imported teacher, or a split that overlaps the test days.
    """
    if cfg.teacher not in MODES:
        foundation_teacher.read_teacher_card(cfg.teacher)
        if cfg.init_de:
            raise ValueError("init_de sets DENet's weights; with an imported teacher there is no DENet")
    if cfg.de_kind not in ("mono", "sr"):
        raise ValueError(f"de_kind must be mono or sr, not {cfg.de_kind!r}")
    if set(cfg.role_groups) & set(cfg.val_groups):
        raise ValueError("role_groups must not include test days (val_groups)")
    task = Distiller(cfg)
    res = loop.run(task, loop.LoopConfig(out=cfg.out, steps=task.total, seed=cfg.seed, stop_step=cfg.stop_step,
                                         time_limit_min=cfg.time_limit_min, show_every=10))
    out, st, ckpt = pathlib.Path(cfg.out), task.state, pathlib.Path(cfg.out) / "last.pt"
    sys.stderr.write("\n")
    (out / "roles.json").write_text(json.dumps(st["roles"], indent=1))
    if res["step"] < task.total:  # stopped: the loop saved last.pt
        sys.stderr.write(f"stopped at {res['step']}/{task.total}; rerun the same command to resume from {ckpt}\n")
        return {"out": str(out), "complete": False, "state": st, "metrics": {}, "model": None}
    val_frames = load_frames(cfg.data, groups=set(cfg.val_groups), limit=cfg.val_limit or None)
    metrics = validate_sr(task.dsr, val_frames, cfg.val_scales, task.device, False)
    loop.save(task.state_dict(metrics), ckpt)
    md = export_dsr(task, metrics)
    return {"out": str(out), "complete": True, "state": st, "metrics": metrics, "model": str(md.path)}


def export_dsr(dist: Distiller, metrics: dict[str, float]):
    """The DSRNet as a ``depth_sr`` model directory; the card records the init's stages, this run's
    schedule, weights, role decisions and the test-day validation. Returns the ``ModelDir``."""
    from depth_refine_ros.data.modeldir import read_card
    from depth_refine_ros.models.export import write_model_dir

    cfg, st = dist.cfg, dist.state
    init = _resolve_init(cfg.init_dsr)
    earlier: list[dict] = []
    if init and (pathlib.Path(init) / "card.yaml").is_file():
        tr = read_card(pathlib.Path(init)).training
        earlier = tr.get("stages") or [{"steps": tr.get("steps"), "from": init}]
    elif init:
        earlier = [{"from": init}]
    this = {"steps": st["dsr"], "lr": cfg.lr_dsr, "batch": cfg.batch, "patch": cfg.patch,
            "degradations": cfg.degradations, "scales": cfg.scales, "init": cfg.init_dsr or None, "out": cfg.out,
            "method": "cross-task distillation (depth-refine-train distill)" if not dist.baseline
            else "supervised baseline of depth-refine-train distill (teacher none)"}
    if dist.imported:
        this["method"] = f"distillation from the imported foundation model {dist.de.record['name']} " \
                         "(depth-refine-train distill teacher=MODEL_DIR)"
    stages = earlier + [this]
    training = {"status": "trained", "data": cfg.data, "held_out_groups": cfg.val_groups,
                "degradations": cfg.degradations, "scales": cfg.scales,
                "steps": sum(r.get("steps") or 0 for r in stages), "stages": stages, "batch": cfg.batch,
                "lr": cfg.lr_dsr, "seed": cfg.seed,
                "validation": {k: round(float(v), 4) for k, v in metrics.items()},
                "validation_note": "held-out days (val_limit frames), last checkpoint (no selection on them)",
                "config": dataclasses.asdict(cfg)}
    if dist.imported:  # a frozen foundation model in DENet's place: no DENet, no role decisions
        training["distillation"] = {
            "teacher_mode": "imported", "teacher": dist.de.record, "phase1_steps": {"dsr": cfg.p1_dsr},
            "epochs": cfg.epochs, "epoch_steps": cfg.epoch_steps, "sp_warmup": cfg.sp_warmup,
            "rho1_struct": cfg.rho1, "rho2_distill": cfg.rho2, "tau": cfg.tau,
            "steps": {"dsr": st["dsr"], "sp": st["sp"]},
            "distill_loss": foundation_teacher.describe_loss(dist.de.output, dist.de.prompt),
            "paper": "schedule after Sun et al., CVPR 2021 (cross-task distillation); teacher: issue 26, item 4"}
    elif not dist.baseline:  # the baseline trains DSRNet alone: no DENet, no distillation entry
        training["distillation"] = {
            "teacher_mode": cfg.teacher, "phase1_steps": {"dsr": cfg.p1_dsr, "de": cfg.p1_de},
            "epochs": cfg.epochs, "epoch_steps": cfg.epoch_steps, "sp_warmup": cfg.sp_warmup,
            "rho1_struct": cfg.rho1, "rho2_distill": cfg.rho2, "tau": cfg.tau,
            "steps": {"dsr": st["dsr"], "de": st["de"], "sp": st["sp"]},
            "denet": {"kind": cfg.de_kind, "config": config_to_dict(dist.de_cfg), "init": cfg.init_de or None},
            "role_groups": cfg.role_groups, "role_scales": cfg.role_scales, "roles": st["roles"],
            "paper": "Sun et al., CVPR 2021, Learning Scene Structure Guidance via Cross-Task "
                     "Knowledge Transfer for Single Depth Super-Resolution"}
    path = cfg.export or str(pathlib.Path(cfg.out) / "model")
    md = write_model_dir(dist.dsr.cpu(), "depth_sr", dist.dsr_cfg, path, name=cfg.name or None,
                         preset=cfg.preset_dsr, training=training)
    sys.stderr.write(f"wrote {md.path}: {md.describe()}\n")
    return md


def main(argv: list[str] | None = None) -> int:
    """``depth-refine-train distill [--config YAML] [key=value ...]`` (e.g. ``teacher=none out=DIR``); returns
    the exit code."""
    try:
        cfg = parse_config_command(
            "depth-refine-train distill",
            "Cross-task distillation (Sun et al., CVPR 2021): train the depth-only SR net (DSRNet) with an RGB->depth "
            "net (DENet) and a structure net (SPNet), the better of the two depth nets on held-out training days "
            "teaching the other each epoch; export the DSRNet (runs without RGB).", DistillConfig, argv)
        result = run(cfg)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train distill: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in result.items() if k != "state"} | {"roles": result["state"]["roles"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
