"""``depth-refine-train selfsup``: self-supervised training of the monocular net from raw video
(docs/architecture.md, METHODS 5; docs/training.md).

The Monodepth2 setting (Godard et al., "Digging Into Self-Supervised Monocular Depth Estimation",
ICCV 2019) with the frequency-aware changes of Chen et al., "Frequency-Aware Self-Supervised
Monocular Depth Estimation" (WACV 2023), Auto-Blur and Ambiguity-Masking, each behind a setting.
The losses and the geometry are in :mod:`depth_refine_training.selfsup_losses`.

One step: a batch of (target ``t``, sources ``t - k``, ``t + k``) from one sequence; the depth net
(the ``mono`` kind, :class:`depth_refine_ros.models.mono_net.MonoDepthNet`) sees a random crop of the
target only; its half-resolution depth is upsampled to the crop, each source (whole frame) is warped
into the crop through that depth and the relative pose, and the photometric loss plus edge-aware
smoothness is minimised. Relative poses come from the data where it has them (a 7-Scenes style
``frame-NNNNNN.pose.txt``, camera-to-world), else from a small pose net trained jointly.

Sequences read (``data``, any number):
    * 7-Scenes layout (``frame-NNNNNN.color.jpg``/``.depth.png``/``.pose.txt``,
      ``camera-intrinsics.txt``): poses and intrinsics from the files. The intrinsics given are the
      depth camera's (fx = fy = 585, cx = 320, cy = 240); 7-Scenes never calibrated colour against
      depth, so they are used for the colour images too.
    * ``rgb/`` + ``depth/`` layout (the shared ``realsense_seq``): no poses (the pose net estimates
      them) and, without an ``intrinsics.txt`` (3 x 3, pixels), an ASSUMED pinhole of a RealSense
      D4xx colour stream at 640 x 480: fx = fy = 615, cx = 320, cy = 240 (``assume_fx``).
      With a pose net the depth is only defined up to scale there, and the evaluation median-scales.

Split: the last ``holdout`` fraction of every sequence (default 20 %) is never trained on: no
target or source frame comes from it. Validation predicts those frames at the model's
``input_hw`` and scores them against the sensor's depth after per-frame median scaling (AbsRel,
RMSE in metres, delta1; ``depth_refine_ros.core.metrics.standard``), for the starting model
and for the trained one.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from depth_refine_training import loop
from depth_refine_training import selfsup_losses as L
from depth_refine_training.config import parse_config_command, setting

DEFAULT_DATA = ("../shared/data/sevenscenes_seq", "../shared/data/realsense_seq")
REALSENSE_FX = 615.0
"""Assumed focal length (px at 640 x 480) of a RealSense D4xx colour stream, where none is given."""

EVAL_RANGE_M = (0.1, 8.0)
"""Sensor depth counted in validation (metres): outside it the sensors' values are unreliable
(the RealSense sequence has outliers up to 65 m)."""


# ---------------------------------------------------------------------------------------------- data
@dataclasses.dataclass
class Sequence:
    """One video, decoded and resized for training.

    Attributes:
        name: the folder name.
        rgb: ``(N, H, W, 3) uint8`` frames at the training size ``(H, W)``.
        depth: per frame ``(H0, W0) float32`` sensor depth in metres (NaN invalid), full size, for
            validation only.
        k: ``(3, 3) float32`` intrinsics of ``rgb`` (pixels of the resized frames).
        poses: ``(N, 4, 4) float64`` camera-to-world (metres), or None (pose net).
        intrinsics_note: where ``k`` came from.
    """

    name: str
    rgb: np.ndarray
    depth: list[np.ndarray]
    k: np.ndarray
    poses: np.ndarray | None
    intrinsics_note: str


def _scaled_k(fx: float, fy: float, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    # pixel centres at integer coordinates: a resize by s maps x to (x + 0.5) s - 0.5
    return np.array([[fx * sx, 0, (cx + 0.5) * sx - 0.5], [0, fy * sy, (cy + 0.5) * sy - 0.5], [0, 0, 1]],
                    np.float32)


def load_sequence(root: str | pathlib.Path, hw: tuple[int, int], assume_fx: float = REALSENSE_FX,
                  limit: int = 0, stride: int = 1, fx_override: float = 0.0) -> Sequence:
    """Decode a sequence folder (see the module docstring for the layouts).

    Args:
        root: the folder.
        hw: training size ``(H, W)`` the frames are resized to (area interpolation).
        assume_fx: focal length (px at the native size) when the folder has no intrinsics.
        limit: keep at most this many frames (the first ones; 0 = all), after ``stride``.
        stride: keep every ``stride``-th frame (tests: small, fast sequences).
        fx_override: when > 0, the focal length (fx = fy, px at 640 wide) to use whatever the folder says
            (7-Scenes' file gives the depth camera's 585; its colour images warp best near 525).

    Raises:
        FileNotFoundError: no frames in a known layout.
    """
    import cv2

    root = pathlib.Path(root)
    colour = sorted(root.glob("frame-*.color.jpg")) or sorted(root.glob("frame-*.color.png"))
    if colour:
        stems = [p.name.split(".")[0] for p in colour]
        depth_paths = [root / f"{s}.depth.png" for s in stems]
        pose_paths = [root / f"{s}.pose.txt" for s in stems]
        poses_ok = all(p.is_file() for p in pose_paths)
        mm_invalid = (0, 65535)
    else:
        colour = sorted((root / "rgb").glob("*.png")) + sorted((root / "rgb").glob("*.jpg"))
        if not colour:
            raise FileNotFoundError(f"{root}: neither frame-*.color.jpg nor rgb/*.png")
        depth_paths = [root / "depth" / p.name.replace("rgb", "depth", 1) for p in colour]
        pose_paths, poses_ok, mm_invalid = [], False, (0,)
    idx = list(range(0, len(colour), max(stride, 1)))
    if limit:
        idx = idx[:limit]
    rgbs, depths = [], []
    h0 = w0 = 0
    for i in idx:
        bgr = cv2.imread(str(colour[i]), cv2.IMREAD_COLOR)
        h0, w0 = bgr.shape[:2]
        rgbs.append(cv2.resize(bgr, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)[..., ::-1])
        d = cv2.imread(str(depth_paths[i]), cv2.IMREAD_UNCHANGED) if depth_paths[i].is_file() else None
        if d is None:
            depths.append(np.full((h0, w0), np.nan, np.float32))
        else:
            dm = d.astype(np.float32) / 1000.0
            dm[np.isin(d, mm_invalid)] = np.nan
            depths.append(dm)
    intr = root / ("camera-intrinsics.txt" if (root / "camera-intrinsics.txt").is_file() else "intrinsics.txt")
    if intr.is_file():
        k0 = np.loadtxt(intr).reshape(3, 3)
        fx, fy, cx, cy = k0[0, 0], k0[1, 1], k0[0, 2], k0[1, 2]
        note = f"{intr.name}: fx {fx:g} fy {fy:g} cx {cx:g} cy {cy:g} at {w0}x{h0}"
    else:
        fx = fy = assume_fx * w0 / 640.0
        cx, cy = w0 / 2.0, h0 / 2.0
        note = (f"ASSUMED (none published): fx = fy = {fx:g}, cx {cx:g}, cy {cy:g} at {w0}x{h0} "
                "(a RealSense D4xx colour stream)")
    if fx_override > 0:
        fx = fy = fx_override * w0 / 640.0
        note += f"; OVERRIDDEN: fx = fy = {fx:g}"
    k = _scaled_k(fx, fy, cx, cy, hw[1] / w0, hw[0] / h0)
    poses = np.stack([np.loadtxt(pose_paths[i]).reshape(4, 4) for i in idx]) if poses_ok else None
    return Sequence(root.name, np.ascontiguousarray(np.stack(rgbs)), depths, k, poses, note)


def split(n: int, holdout: float) -> tuple[range, range]:
    """Frames ``0 .. n - 1`` -> (training frames, held-out frames): the held-out ones are the last
    ``ceil(holdout * n)`` (at least 1 when ``holdout > 0``)."""
    n_val = min(n - 1, max(1, math.ceil(holdout * n))) if holdout > 0 else 0
    return range(0, n - n_val), range(n - n_val, n)


def targets(train: range, gap: int) -> list[int]:
    """Target frames whose two sources ``t - gap`` and ``t + gap`` both lie in ``train``."""
    return [t for t in train if t - gap >= train.start and t + gap < train.stop]


# --------------------------------------------------------------------------------------------- pose
class PoseNet(nn.Module):
    """Relative pose from a (target, source) pair: a few strided convs, global average, 6 numbers.

    Input ``(B, 6, H, W) float32`` (target and source in [0, 1], stacked on channels); output
    ``(B, 4, 4)`` target camera -> source camera, axis-angle and translation scaled by 0.01 so the
    net starts near the identity (as Monodepth2's pose decoder does).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        chans = [6, width, 2 * width, 4 * width, 8 * width, 8 * width, 8 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(chans[-1], 6, 1)

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        x = torch.cat([target, source], 1) - 0.45
        p = 0.01 * self.head(self.body(x)).mean((2, 3))
        return L.pose_from_params(p[:, :3], p[:, 3:])


# --------------------------------------------------------------------------------------- validation
@torch.no_grad()
def predict(model: nn.Module, rgb: np.ndarray) -> np.ndarray:
    """The mono net's depth for ``(H, W, 3) uint8`` frames already at its input size -> ``(H/2, W/2)``."""
    x = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    return model(x)[0, 0].numpy()


@torch.no_grad()
def evaluate(model: nn.Module, seqs: list[Sequence], holdout: float, input_hw: tuple[int, int],
             max_frames: int = 0) -> dict[str, dict[str, float]]:
    """Median-scaled AbsRel / RMSE (m) / delta1 on each sequence's held-out frames, per-frame means.

    The prediction (from the frame resized to ``input_hw``) is resized bilinearly to the sensor
    depth's size and scaled by ``median(gt) / median(pred)`` over the valid pixels (sensor depth in
    :data:`EVAL_RANGE_M`). Returns ``{sequence name: metrics, "mean": mean over sequences}``.
    """
    import cv2

    from depth_refine_ros.core.metrics import standard

    was = model.training
    model.eval()
    out: dict[str, dict[str, float]] = {}
    for s in seqs:
        _, val = split(len(s.rgb), holdout)
        frames = list(val)
        if max_frames and len(frames) > max_frames:
            frames = [frames[i] for i in np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
        rows = []
        for i in frames:
            rgb = s.rgb[i]
            if rgb.shape[:2] != tuple(input_hw):
                rgb = cv2.resize(rgb, (input_hw[1], input_hw[0]), interpolation=cv2.INTER_AREA)
            gt = s.depth[i]
            pred = cv2.resize(predict(model, rgb), gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
            with np.errstate(invalid="ignore"):
                v = np.isfinite(gt) & (gt > EVAL_RANGE_M[0]) & (gt < EVAL_RANGE_M[1])
            if v.sum() < 100:
                continue
            pred = pred * (np.median(gt[v]) / np.median(pred[v]))
            m = standard(pred, gt, v)
            rows.append((m["absrel"], m["rmse"], m["delta1"]))
        a = np.array(rows, np.float64).reshape(-1, 3)
        out[s.name] = {"absrel": float(a[:, 0].mean()), "rmse_m": float(a[:, 1].mean()),
                       "delta1": float(a[:, 2].mean()), "frames": float(len(a))}
    out["mean"] = {k: float(np.mean([out[s.name][k] for s in seqs])) for k in ("absrel", "rmse_m", "delta1")}
    model.train(was)
    return out


# ----------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class SelfSupConfig:
    """Everything a run depends on (saved in checkpoints and the exported card); each field's help says
    what it does."""

    data: list[str] = setting(list(DEFAULT_DATA), "sequence folders (7-Scenes frame-* layout or rgb/ + depth/)")
    init: str = setting("mono_small", "starting mono model: installed name or model directory")
    out: str = setting("runs/selfsup", "run directory (checkpoints, log.csv)")
    export: str = setting("", "model directory to write (default OUT/model)")
    name: str = setting("", "model name in the card (default: the directory's)")
    steps: int = setting(300, "training steps")
    batch: int = setting(4, "targets per step")
    lr: float = setting(1e-4, "Adam learning rate")
    crop: tuple[int, int] = setting((128, 160), "target crop [H, W] the depth net sees, on frames resized to the "
                                               "model's input_hw")
    gap: list[int] = setting([5, 1], "frame gap k of the sources t-k, t+k: one per data entry, or one for all")
    fx: list[float] = setting([0.0], "focal length (px at 640 wide) overriding the data's: one per data entry or one "
                                     "for all; 0 = the data's (or assume_fx)")
    holdout: float = setting(0.2, "last fraction of each sequence held out")
    auto_blur: bool = setting(False, "Auto-Blur the images entering the photometric loss")
    ambiguity_mask: bool = setting(False, "mask ambiguous pixels (ambiguity >= 0.3) out of the photometric loss")
    automask: bool = setting(True, "Monodepth2 auto-masking of static pixels")
    smooth: float = setting(1e-3, "weight of the edge-aware smoothness")
    train_bn: bool = setting(False, "update BatchNorm running statistics")
    assume_fx: float = setting(REALSENSE_FX, "focal length (px at 640 wide) for a sequence without intrinsics")
    limit: int = setting(0, "at most this many frames per sequence (0 = all)")
    stride: int = setting(1, "keep every n-th frame of each sequence")
    seed: int = setting(0, "everything random derives from it")
    ckpt_every: int = setting(50, "steps between checkpoints")
    val_frames: int = setting(0, "at most this many held-out frames per sequence (0 = all)")
    time_limit_min: float = setting(0.0, "stop (saved, resumable) after this many minutes (0 = none)")
    threads: int = setting(0, "torch threads (0: torch's default)")
    stop_step: int = setting(0, "stop (saved, resumable) after this step (0: run to steps)")


def _freeze_bn(model: nn.Module) -> None:
    # batches of 4 crops from one video would drag the running statistics away from what the
    # starting model was trained with; keep them (the affine BN weights still train)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _batch(seq: Sequence, tgts: list[int], gap: int, cfg: SelfSupConfig, rng: np.random.Generator
           ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
    """Sample a batch: full target and source images ``(B, 3, H, W)``, crop origins ``(B, 2)``
    (x, y), intrinsics ``(B, 3, 3)``, and the known target->source poses (per source ``(B, 4, 4)``)
    or None."""
    ts = rng.choice(tgts, size=cfg.batch, replace=len(tgts) < cfg.batch)
    h, w = seq.rgb.shape[1:3]
    ch, cw = cfg.crop
    ox = rng.integers(0, w - cw + 1, size=cfg.batch)
    oy = rng.integers(0, h - ch + 1, size=cfg.batch)

    def imgs(ix: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(seq.rgb[ix].transpose(0, 3, 1, 2).astype(np.float32) / 255)

    tgt = imgs(ts)
    srcs = [imgs(ts - gap), imgs(ts + gap)]
    poses = None
    if seq.poses is not None:
        poses = [torch.from_numpy(np.stack([np.linalg.inv(seq.poses[t + d]) @ seq.poses[t] for t in ts])).float()
                 for d in (-gap, gap)]
    k = torch.from_numpy(seq.k).expand(cfg.batch, 3, 3)
    return tgt, srcs, torch.from_numpy(np.stack([ox, oy], 1)).float(), k, poses


def _crop(x: torch.Tensor, origin: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    return torch.stack([x[i, :, int(oy):int(oy) + hw[0], int(ox):int(ox) + hw[1]]
                        for i, (ox, oy) in enumerate(origin.tolist())])


def step_loss(model: nn.Module, pose_net: nn.Module | None, tgt: torch.Tensor, srcs: list[torch.Tensor],
              origin: torch.Tensor, k: torch.Tensor, poses: list[torch.Tensor] | None, cfg: SelfSupConfig
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """The self-supervised loss of one batch (see the module docstring); returns (loss, stats)."""
    crop = cfg.crop
    tgt_crop = _crop(tgt, origin, crop)
    depth_half = model(tgt_crop)                                              # the net sees raw pixels
    depth = F.interpolate(depth_half, size=crop, mode="bilinear", align_corners=False)
    # Auto-Blur acts on the images entering the loss only, computed on whole frames so the
    # 9 x 9 neighbourhood is not cut at the crop's border
    tgt_l = L.auto_blur(tgt) if cfg.auto_blur else tgt
    srcs_l = [L.auto_blur(s) for s in srcs] if cfg.auto_blur else srcs
    tgt_lc = _crop(tgt_l, origin, crop)
    if poses is None:
        if pose_net is None:
            raise ValueError("a sequence without poses needs the pose net")
        poses = [pose_net(tgt, s) for s in srcs]
    warped, amb_w = [], []
    for s_img, s_raw, t in zip(srcs_l, srcs, poses, strict=True):
        if cfg.ambiguity_mask:
            # warp image and ambiguity with one sampling grid: stack them on channels
            both, _ = L.warp(torch.cat([s_img, L.ambiguity(s_raw)], 1), depth, k, k, t, origin)
            warped.append(both[:, :3])
            amb_w.append(both[:, 3:])
        else:
            warped.append(L.warp(s_img, depth, k, k, t, origin)[0])
    amb_t = _crop(L.ambiguity(tgt), origin, crop) if cfg.ambiguity_mask else None
    rep, stats = L.reprojection_loss(tgt_lc, warped, [_crop(s, origin, crop) for s in srcs_l],
                                     automask=cfg.automask, amb_target=amb_t,
                                     amb_warped=amb_w if cfg.ambiguity_mask else None)
    img_half = F.interpolate(tgt_crop, size=depth_half.shape[-2:], mode="area")
    sm = L.smoothness(1.0 / depth_half.clamp_min(1e-3), img_half)
    stats.update({"photo": float(rep.detach()), "smooth": float(sm.detach())})
    return rep + cfg.smooth * sm, stats


class SelfSupTask(loop.Task):
    """The self-supervised mono net on the shared loop: one seeded batch per step from the
    sequences in turn, Adam (the pose net, when any sequence lacks poses, trained with it),
    photometric + smoothness loss; no validation inside the loop (the held-out score of the
    starting model and of the result are taken before and after it), a checkpoint every
    ``ckpt_every`` steps."""

    show = ()  # the progress line shows the loss only

    def __init__(self, cfg: SelfSupConfig) -> None:
        self.cfg = cfg
        self.baseline: dict = {}

    def build(self, ctx: loop.Context) -> None:
        from depth_refine_ros.data.modeldir import load_model_dir
        from depth_refine_ros.models import config_from_dict
        from depth_refine_ros.models.export import load_torch_model

        cfg = self.cfg
        self.src_md = load_model_dir(cfg.init)
        if self.src_md.kind != "mono":
            raise ValueError(f"init={cfg.init} is a {self.src_md.kind} model, not mono")
        self.model = load_torch_model(self.src_md)
        self.mcfg = config_from_dict("mono", self.src_md.config)
        self.input_hw = tuple(self.mcfg.input_hw)
        self.gaps = cfg.gap if len(cfg.gap) == len(cfg.data) else [cfg.gap[0]] * len(cfg.data)
        fxs = cfg.fx if len(cfg.fx) == len(cfg.data) else [cfg.fx[0]] * len(cfg.data)
        self.seqs = [load_sequence(d, self.input_hw, cfg.assume_fx, cfg.limit, cfg.stride, f)
                     for d, f in zip(cfg.data, fxs, strict=True)]
        self.plan = []
        for s, g in zip(self.seqs, self.gaps, strict=True):
            tr, val = split(len(s.rgb), cfg.holdout)
            tg = targets(tr, g)
            if not tg:
                raise ValueError(f"{s.name}: no training target with sources at +-{g} inside frames "
                                 f"{tr.start}..{tr.stop - 1}")
            self.plan.append((s, tg, g))
            sys.stderr.write(f"{s.name}: {len(s.rgb)} frames, train {tr.start}..{tr.stop - 1} ({len(tg)} targets, "
                             f"gap {g}), held out {val.start}..{val.stop - 1}; poses "
                             f"{'from the data' if s.poses is not None else 'from the pose net'}; "
                             f"intrinsics {s.intrinsics_note}\n")
        self.pose_net = PoseNet() if any(s.poses is None for s in self.seqs) else None

    def param_groups(self) -> list:
        return list(self.model.parameters()) + (list(self.pose_net.parameters()) if self.pose_net else [])

    def optimiser(self, params):
        return torch.optim.Adam(params, lr=self.cfg.lr), None

    def resume(self, ck: dict) -> None:
        if self.pose_net is not None and ck.get("pose_net"):
            self.pose_net.load_state_dict(ck["pose_net"])
        self.baseline = ck.get("baseline", {})
        sys.stderr.write(f"resumed at step {ck['step']} from {self.ctx.out / 'last.pt'}\n")

    def start(self, step: int) -> None:
        if not self.baseline:
            self.baseline = self.evaluate()
            sys.stderr.write(f"starting model ({self.cfg.init}) on held-out frames: {json.dumps(self.baseline)}\n")
        self.model.train()
        if not self.cfg.train_bn:
            _freeze_bn(self.model)
        if self.pose_net is not None:
            self.pose_net.train()

    def evaluate(self) -> dict[str, dict[str, float]]:
        """:func:`evaluate` of the model on the held-out frames."""
        return evaluate(self.model, self.seqs, self.cfg.holdout, self.input_hw, self.cfg.val_frames)

    def batches(self, start: int):
        step = start
        while True:  # one seeded generator per step: a resumed run draws the same batches as an unbroken one
            rng = np.random.default_rng([self.cfg.seed, step])
            seq, tg, gap = self.plan[step % len(self.plan)]
            yield seq.name, _batch(seq, tg, gap, self.cfg, rng)
            step += 1

    def loss(self, batch, step: int):
        self.seq_name, (tgt, srcs, origin, k, poses) = batch
        return step_loss(self.model, self.pose_net, tgt, srcs, origin, k, poses, self.cfg)

    def csv_row(self, step: int, s: dict[str, float], seconds: float) -> list:
        return [step, self.seq_name, f"{s['loss']:.6f}", f"{s['photo']:.6f}", f"{s['smooth']:.6f}",
                f"{s['automasked']:.4f}", f"{s['ambiguous']:.4f}", f"{seconds:.1f}"]

    def checkpoint(self, metrics: dict) -> dict:
        from depth_refine_ros.models import config_to_dict

        return {"pose_net": self.pose_net.state_dict() if self.pose_net else None, "kind": "mono",
                "preset": self.src_md.card.preset, "model_config": config_to_dict(self.mcfg),
                "train_config": dataclasses.asdict(self.cfg), "baseline": self.baseline}


def train(cfg: SelfSupConfig) -> dict:
    """Run (or resume) one self-supervised job and export the model directory.

    Returns:
        ``{"out", "export", "step", "baseline", "metrics", "minutes"}``; metrics as :func:`evaluate`.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task = SelfSupTask(cfg)
    run = loop.run(task, loop.LoopConfig(out=cfg.out, steps=cfg.steps, seed=cfg.seed, stop_step=cfg.stop_step,
                                         time_limit_min=cfg.time_limit_min, val_every=cfg.ckpt_every, show_every=5,
                                         csv_eol="\n"))
    t1 = time.time()
    step, out = run["step"], pathlib.Path(cfg.out)
    sys.stderr.write("\n")
    metrics = task.evaluate()
    sys.stderr.write(f"trained model on held-out frames: {json.dumps(metrics)}\n")
    ck = loop.checkpoint(task, step, {})
    ck["metrics"] = metrics
    torch.save(ck, out / "last.pt")
    export = cfg.export or str(out / "model")
    md = export_model(task.model, task.mcfg, task.src_md, task.seqs, task.gaps, cfg, step, task.baseline, metrics,
                      export)
    sys.stderr.write(f"wrote {md.path}: {md.describe()}\n")
    return {"out": str(out), "export": str(md.path), "step": step, "baseline": task.baseline, "metrics": metrics,
            "minutes": run["minutes"] + (time.time() - t1) / 60}


def export_model(model: nn.Module, mcfg, src_md, seqs: list[Sequence], gaps: list[int], cfg: SelfSupConfig,
                 step: int, baseline: dict, metrics: dict, export: str):
    """Write the mono model directory; its card records the self-supervised stage on top of the
    starting model's own record."""
    from depth_refine_ros.models.export import write_model_dir

    prev = dict(src_md.card.training or {})
    earlier = prev.get("stages") or [{"steps": prev.get("steps"), "lr": prev.get("lr"), "from": cfg.init,
                                      "data": prev.get("data"), "kind": "supervised"}]
    held = {}
    for s in seqs:
        tr, val = split(len(s.rgb), cfg.holdout)
        held[s.name] = f"frames {val.start}..{val.stop - 1} of {len(s.rgb)} (the last {cfg.holdout:.0%})"
    this = {"kind": "self-supervised (Monodepth2 photometric, METHODS 5)", "steps": step, "lr": cfg.lr,
            "batch": cfg.batch, "crop": list(cfg.crop), "init": cfg.init, "out": cfg.out}
    training = {
        "status": "trained", "method": "self-supervised from video (depth-refine-train selfsup)",
        "data": list(cfg.data), "held_out": held,
        "steps": sum(int(r.get("steps") or 0) for r in earlier) + step, "stages": earlier + [this],
        "batch": cfg.batch, "lr": cfg.lr, "seed": cfg.seed,
        "flags": {"auto_blur": cfg.auto_blur, "ambiguity_mask": cfg.ambiguity_mask, "automask": cfg.automask,
                  "smooth": cfg.smooth, "train_bn": cfg.train_bn},
        "frame_gaps": {s.name: g for s, g in zip(seqs, gaps, strict=True)},
        "poses": {s.name: "data (pose.txt, camera-to-world)" if s.poses is not None else "pose net (joint)"
                  for s in seqs},
        "intrinsics": {s.name: s.intrinsics_note for s in seqs},
        "validation": {k: {m: round(v, 4) for m, v in d.items()} for k, d in metrics.items()},
        "validation_start_model": {k: {m: round(v, 4) for m, v in d.items()} for k, d in baseline.items()},
        "validation_note": "held-out frames (the last part of each sequence), median-scaled against the sensor's "
                           f"depth in {EVAL_RANGE_M[0]}..{EVAL_RANGE_M[1]} m, last checkpoint (no selection); "
                           "7-Scenes depth is not registered to colour (10-15 px off at edges)",
        "config": dataclasses.asdict(cfg),
    }
    return write_model_dir(model, "mono", mcfg, export, name=cfg.name or None, preset=src_md.card.preset,
                           training=training)


# ---------------------------------------------------------------------------------------------- cli
def main(argv: list[str] | None = None) -> int:
    """``depth-refine-train selfsup [--config YAML] [key=value ...]`` (e.g. ``steps=300 auto_blur=true``);
    returns the exit code."""
    try:
        cfg = parse_config_command(
            "depth-refine-train selfsup",
            "Self-supervised training of the monocular net from raw video (Monodepth2 photometric loss, optional "
            "Auto-Blur and Ambiguity-Masking of Chen et al. WACV 2023). Poses from the data (7-Scenes pose.txt) or "
            "a jointly trained pose net. Writes checkpoints to out (resumes from last.pt; a STOP file there ends "
            "the run, saved) and a mono model directory.", SelfSupConfig, argv)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train selfsup: {e}", file=sys.stderr)
        return 2
    from depth_refine_ros.data.modeldir import ModelError

    try:
        result = train(cfg)
    except (ValueError, FileNotFoundError, ModelError) as e:
        print(f"depth-refine-train selfsup: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
