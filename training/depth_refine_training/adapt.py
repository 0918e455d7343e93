"""``depth-refine-train adapt``: fine-tune an SR model to a user's sensor from a recorded rosbag,
without ground truth.

The bag (sqlite3 or MCAP, read with ``rosbags`` through :mod:`depth_refine_ros.data.bags`) needs
``rgb/image`` and ``depth_lr/image`` (raw or image_transport's compressed transports); camera_info
is not needed. ``depth_gt/image`` is never read, even when the bag has it: the bag is read with no
ground-truth topic, and every decoded frame is checked to carry none.

Input preparation is the runtime's (:func:`depth_refine_ros.core.net_input.sr_inputs` on the whole
frame: holes filled, bicubic upsampling to the RGB size, division by the frame's largest low-res
depth), so the adapted model sees in adaptation exactly what it sees in ``sr_node``. Crops are then
taken on the output grid at offsets that fall on the low-res grid (any rational scale, e.g. the
phone ToF's 192 -> 512 = 8/3). No flips or photometric augmentation: the sensor's sampling pattern
is not mirror-symmetric, and the adaptation is to this camera's own images.

Losses, all in the network's units (depth / the frame's largest low-res depth), summed with weights:

* ``cons`` (weight ``w_cons``, 1.0), low-res consistency: the output, degraded by a sensor model
  ``S``, against the low-res input on its valid pixels, ``mean |S(D) - D_lr|`` with the largest 5 %
  of the residuals of a batch left out (trimmed L1: flying pixels, noise spikes and a shifted edge
  are not pulled towards). Sensor models: ``area`` (mean over each low-res pixel's footprint,
  ``adaptive_avg_pool2d``), ``bicubic`` (antialiased bicubic, as MATLAB ``imresize``/PIL: the
  literature's protocol) and ``point`` (the output pixel at each low-res pixel's centre,
  ``floor((i + 0.5) * H / h)``: a ToF pixel or a decimating driver). ``auto`` (default) picks the one
  under which the starting model's output reproduces the input best (trimmed L1 on the validation
  frames). What ``auto`` cannot see: a sampling phase (a driver keeping the top-left pixel of each
  block looks like a (s - 1) / 2 px shift to every model here; that is registration's job, or
  ``point`` with a different phase), and it leans towards the smooth operators, because the starting
  model's output is smoother than the scene. ``point`` is centred on purpose: it asks the network for
  no shift the runtime's upsampling does not already make.
* ``edge`` (weight ``w_edge``, 0.5), depth edges where image edges are: the edge-aware smoothness of
  self-supervised depth (Monodepth2; docs/architecture.md, METHODS 5) on the output divided by its
  mean, ``mean(|dx D*| exp(-10 |dx I|) + |dy D*| exp(-10 |dy I|))``, ``I`` the RGB in [0, 1]
  averaged over channels. First order and L1 (total variation): a depth step costs its height times
  the image-edge weight wherever it lies, so a sharp step on an RGB edge is cheaper than the same
  step smeared over flat image; ``exp(-10 g)`` (rather than Monodepth2's ``exp(-g)``) because the
  net's RGB is in [0, 1] and object edges are ``g`` ~ 0.1..0.5, texture ~ 0.02..0.05.
* ``anchor`` (weight ``w_anchor``, 0.1), an L1 pull towards the starting model's output (a frozen
  copy run on the same crop; on whole frames for validation): a small weight, so it yields wherever ``cons``
  asks for a change, and holds what neither of the other terms constrains (the details the
  consistency term cannot see), so the adaptation cannot drift.

Not implemented: SDDR-style edge pseudo-labels (docs/architecture.md, METHODS 3; its refiner is
untrained here) and multi-view photometric consistency (needs poses; a bag rarely has them).

The result is a model directory (:func:`depth_refine_ros.models.export.write_model_dir`) whose card
keeps the source model's training record, adds a stage, sets ``training.status: adapted`` and
records ``training.adaptation``: source model (path, sha256 of its weights), bag (path, per-file
sha256 and size), frames, steps, losses and weights, the sensor model and every candidate's score,
the self-supervised losses on the validation frames before and after, the date.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import hashlib
import math
import pathlib
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from depth_refine_training import loop
from depth_refine_training.config import setting

SENSOR_MODELS = ("area", "bicubic", "point")
SR_KINDS = ("sr", "depth_sr")
TRIM = 0.05  # fraction of the largest consistency residuals left out of each batch
EDGE_GAMMA = 10.0


@dataclass
class AdaptConfig:
    """Everything an adaptation depends on (recorded in the card).

    Attributes:
        bag: rosbag2 directory (or its .db3/.mcap file) with ``rgb/image`` and ``depth_lr/image``.
        model: the starting model: an installed name or a model directory (kind ``sr`` or ``depth_sr``).
        out: the model directory to write (default ``runs/adapt/<model>_<bag>``).
        steps, batch, lr: AdamW, cosine decay to 1 % of ``lr``.
        patch: crop size on the output grid (rounded down to the low-res grid's period).
        sensor: ``auto`` or one of :data:`SENSOR_MODELS`.
        w_cons, w_edge, w_anchor: loss weights (module docstring).
        registration: ``none`` or ``auto``: undo the bag's depth-to-RGB offset (the median of the
            per-frame estimates, :class:`depth_refine_ros.core.register.ShiftTracker`) as the
            pipeline does with ``registration.mode: auto``: the RGB moves onto the depth's grid.
        val_frac: every ``1/val_frac``-th frame is kept for validation (sensor choice, losses before
            and after); with fewer than 5 frames every frame is also a validation frame.
        max_frames: at most this many frames, evenly spaced over the bag (memory: about 5 MB each
            at 512x384).
        seed: crops and initial order.
        name: the adapted model's name (default: the output directory's name).
    """

    bag: str = setting(help="rosbag2 directory (sqlite3 or MCAP)")
    model: str = setting(help="starting model: installed name or model directory")
    out: str = setting("", "model directory to write (default runs/adapt/<model>_<bag>)")
    steps: int = setting(200, "AdamW steps (cosine decay to 1 % of lr)")
    batch: int = setting(4, "batch size")
    lr: float = setting(1e-4, "AdamW learning rate")
    patch: int = setting(192, "crop size on the output grid")
    sensor: str = setting("auto", "how the sensor samples depth: auto (the one the starting model's output fits "
                                  f"best), {', '.join(SENSOR_MODELS)}, or point:PHASE (where in the footprint, 0..1: "
                                  "point:0 keeps the top-left pixel, as a decimating driver)")
    w_cons: float = setting(1.0, "weight of the low-res consistency term")
    w_edge: float = setting(0.5, "weight of the edge-aware smoothness term")
    w_anchor: float = setting(0.1, "weight of the L1 to the starting model")
    registration: str = setting("none", "auto: undo the bag's depth-to-RGB offset as sr_node's registration.mode "
                                        "auto does", choices=("none", "auto"))
    val_frac: float = setting(0.2, "fraction of frames kept for validation")
    max_frames: int = setting(200, "at most this many frames (evenly spaced)")
    seed: int = setting(0, "crops and initial order")
    name: str = setting("", "the adapted model's name (default: the directory's)")


class AdaptError(RuntimeError):
    """A bag or model adaptation cannot use; the message says what and where."""


# --------------------------------------------------------------------------- sensor models, losses
def sensor_downsample(x: torch.Tensor, lr_hw: tuple[int, int], model: str) -> torch.Tensor:
    """``(B, 1, H, W)`` output -> ``(B, 1, h, w)`` as the sensor model ``model`` would sample it."""
    h, w = lr_hw
    if model == "area":
        return F.adaptive_avg_pool2d(x, (h, w))
    if model == "bicubic":
        return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    if model == "point" or model.startswith("point:"):
        a = point_phase(model)
        H, W = x.shape[-2:]
        rows = torch.clamp(((torch.arange(h, dtype=torch.float64) + a) * H / h).floor().long(), max=H - 1)
        cols = torch.clamp(((torch.arange(w, dtype=torch.float64) + a) * W / w).floor().long(), max=W - 1)
        return x.index_select(-2, rows.to(x.device)).index_select(-1, cols.to(x.device))
    raise ValueError(f"sensor model must be one of {SENSOR_MODELS} or point:PHASE, got '{model}'")


def point_phase(model: str) -> float:
    """Where in its footprint a ``point`` sensor samples, as a fraction of a low-res pixel:
    ``point`` = ``point:0.5`` (the centre), ``point:0`` the top-left output pixel (decimation)."""
    if model == "point":
        return 0.5
    try:
        a = float(model.partition(":")[2])
    except ValueError:
        a = -1.0
    if not 0.0 <= a < 1.0:
        raise ValueError(f"sensor model '{model}': the phase after 'point:' must be a number in [0, 1)")
    return a


def border_px(model: str) -> int:
    """Low-res pixels at a crop's border that ``cons`` leaves out (the bicubic kernel reaches past it)."""
    return 2 if model == "bicubic" else 0


def consistency(out: torch.Tensor, lr: torch.Tensor, valid: torch.Tensor, model: str) -> torch.Tensor:
    """Trimmed L1 between ``S(out)`` and the low-res input on valid pixels (module docstring)."""
    down = sensor_downsample(out, lr.shape[-2:], model)
    v = valid.clone()
    b = border_px(model)
    if b:
        v[..., :b, :] = False
        v[..., -b:, :] = False
        v[..., :, :b] = False
        v[..., :, -b:] = False
    r = (down - lr).abs()[v]
    if r.numel() == 0:
        return out.sum() * 0.0
    k = max(1, int(math.ceil((1.0 - TRIM) * r.numel())))
    return torch.topk(r, k, largest=False, sorted=False).values.mean()


def edge_smoothness(out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of the mean-normalised output (module docstring)."""
    d = out / out.mean((2, 3), keepdim=True).clamp(min=1e-6)
    ddx, ddy = (d[..., :, 1:] - d[..., :, :-1]).abs(), (d[..., 1:, :] - d[..., :-1, :]).abs()
    gx = (rgb[..., :, 1:] - rgb[..., :, :-1]).abs().mean(1, keepdim=True)
    gy = (rgb[..., 1:, :] - rgb[..., :-1, :]).abs().mean(1, keepdim=True)
    return (ddx * torch.exp(-EDGE_GAMMA * gx)).mean() + (ddy * torch.exp(-EDGE_GAMMA * gy)).mean()


# --------------------------------------------------------------------------------------- the data
@dataclass
class AdaptFrame:
    """One bag frame prepared as the runtime prepares it (network units: metres / ``scale``)."""

    stamp_ns: int
    up: np.ndarray  # (H, W) bicubic-upsampled, filled, normalised depth (the network's depth input)
    rgb: np.ndarray  # (3, H, W) float32 in [0, 1] (moved onto the depth's grid under registration)
    lr: np.ndarray  # (h, w) normalised low-res depth, 0 where invalid
    valid: np.ndarray  # (h, w) bool
    scale: float
    out0: np.ndarray | None = None  # (H, W) the starting model's output


def bag_digest(path: pathlib.Path) -> dict:
    """Path, total bytes and per-file sha256/bytes of a bag directory (or of the directory of its file)."""
    root = path if path.is_dir() else path.parent
    files = {}
    for f in sorted(p for p in root.iterdir() if p.is_file()):
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        files[f.name] = {"sha256": h.hexdigest(), "bytes": f.stat().st_size}
    return {"path": str(path.resolve()), "bytes": sum(v["bytes"] for v in files.values()), "files": files}


def _period(big: int, small: int) -> tuple[int, int]:
    """``(p, q)``: ``q`` low-res pixels span exactly ``p`` output pixels (``big / small = p / q``)."""
    r = Fraction(big, small)
    return r.numerator, r.denominator


def load_bag_frames(bag: str | pathlib.Path, registration: str = "none", max_frames: int = 0,
                    log=None) -> tuple[list[AdaptFrame], dict]:
    """Read and prepare a bag's RGB + low-res depth frames; ground truth is never read.

    Returns:
        ``(frames, info)``: ``info`` has the sizes, scale, registration shift and frame counts.

    Raises:
        AdaptError: no RGB or depth topic (the message lists the bag's topics), an unreadable bag,
            depth not smaller than the RGB, depth and RGB of different aspect ratios (sr_node's check,
            :func:`~depth_refine_ros.core.sampling.aspect_mismatch`), sizes changing within the bag,
            every frame empty.
    """
    from depth_refine_ros.core import net_input
    from depth_refine_ros.core.register import ShiftTracker, shift_image
    from depth_refine_ros.core.sampling import aspect_mismatch
    from depth_refine_ros.data.bags import BagError, Topics, decode, read_bag

    # gt="" : no ground-truth topic is subscribed, so depth_gt/image is never deserialised
    topics = Topics(gt="")
    try:
        contents = read_bag(bag, topics=topics, need_rgb=True)
    except BagError as e:
        raise AdaptError(f"{e}. adapt needs '{Topics.rgb}' (RGB: the guidance and the edge term) and "
                         f"'{Topics.depth}' (the sensor's low-res depth); ground truth is not used") from None
    decoded, bad = decode(contents, log)
    if any(d.gt is not None for d in decoded):  # the guarantee the evaluation relies on
        raise AssertionError("adapt read ground truth from the bag")
    decoded = [d for d in decoded if d.rgb is not None and np.isfinite(d.depth_lr).any()]
    if not decoded:
        raise AdaptError(f"{bag}: no frame with RGB and valid depth (undecodable: {bad or 'none'})")
    n_all = len(decoded)
    if max_frames and n_all > max_frames:
        idx = np.unique(np.linspace(0, n_all - 1, max_frames).round().astype(int))
        decoded = [decoded[i] for i in idx]
    H, W = decoded[0].rgb.shape[:2]
    h, w = decoded[0].depth_lr.shape
    for d in decoded:
        if d.rgb.shape[:2] != (H, W) or d.depth_lr.shape != (h, w):
            raise AdaptError(f"{bag}: sizes change within the bag ({W}x{H} RGB, {w}x{h} depth at first, then "
                             f"{d.rgb.shape[1]}x{d.rgb.shape[0]}, {d.depth_lr.shape[1]}x{d.depth_lr.shape[0]})")
    if why := aspect_mismatch((H, W), (h, w)):  # sr_node's own check, so adapt takes what the node takes
        raise AdaptError(f"{bag}: {why}: the depth must be registered to the RGB image (the input sr_node takes)")
    if h >= H or w >= W:
        raise AdaptError(f"{bag}: the depth ({w}x{h}) is not smaller than the RGB ({W}x{H}): nothing to super-resolve")
    shift = (0, 0)
    if registration == "auto":
        tracker = ShiftTracker(window=len(decoded))
        for d in decoded:
            tracker.update(d.rgb, d.depth_lr)
        shift = tracker.current
    elif registration != "none":
        raise AdaptError(f"registration must be none or auto, got '{registration}'")
    frames = []
    for d in decoded:
        rgb = shift_image(d.rgb, -shift[0], -shift[1]) if shift != (0, 0) else d.rgb
        feeds, scale, valid_lr = net_input.sr_inputs(d.depth_lr, rgb, (H, W), 1, True)
        valid = valid_lr & np.isfinite(d.depth_lr)
        lr = np.where(valid, d.depth_lr / scale, 0.0).astype(np.float32)
        frames.append(AdaptFrame(d.stamp_ns, feeds["depth"][0, 0], feeds["rgb"][0], lr, valid, scale))
    info = {"frames_in_bag": n_all, "frames_used": len(frames), "rgb_hw": [H, W], "depth_hw": [h, w],
            "scale": round(W / w, 4), "registration": registration, "registration_shift_px": list(shift),
            "stamps_s": [round(frames[0].stamp_ns / 1e9, 3), round(frames[-1].stamp_ns / 1e9, 3)],
            "undecodable": bad}
    return frames, info


def split(frames: list[AdaptFrame], val_frac: float) -> tuple[list[AdaptFrame], list[AdaptFrame], str]:
    """``(train, val, note)``: every ``round(1/val_frac)``-th frame validates; tiny bags share all frames."""
    if len(frames) < 5 or val_frac <= 0:
        return frames, frames, f"{len(frames)} frames: every frame adapts and validates (test-time adaptation)"
    every = max(2, round(1 / val_frac))
    val = frames[every // 2::every]
    ids = {id(f) for f in val}
    return [f for f in frames if id(f) not in ids], val, f"every {every}th frame validates"


# -------------------------------------------------------------------------------------- the model
def _forward(model, guided: bool, depth: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """The network on ``(B, 1, H, W)`` / ``(B, 3, H, W)``, edge-padded to its size multiple and cropped back."""
    m = int(getattr(model, "size_multiple", 1))
    H, W = depth.shape[-2:]
    ph, pw = -H % m, -W % m
    if ph or pw:
        depth = F.pad(depth, (0, pw, 0, ph), mode="replicate")
        rgb = F.pad(rgb, (0, pw, 0, ph), mode="replicate")
    out = model(depth, rgb) if guided else model(depth)
    return out[..., :H, :W]


@torch.no_grad()
def run_full(model, guided: bool, f: AdaptFrame) -> np.ndarray:
    """The network's output on a whole frame (network units)."""
    model.eval()
    out = _forward(model, guided, torch.from_numpy(f.up)[None, None], torch.from_numpy(f.rgb)[None])
    return out[0, 0].numpy()


def frame_losses(out: np.ndarray, f: AdaptFrame, sensor: str) -> dict[str, float]:
    """The self-supervised terms on one whole frame (``anchor`` against ``f.out0``)."""
    o = torch.from_numpy(out)[None, None]
    return {"cons": float(consistency(o, torch.from_numpy(f.lr)[None, None], torch.from_numpy(f.valid)[None, None],
                                      sensor)),
            "edge": float(edge_smoothness(o, torch.from_numpy(f.rgb)[None])),
            "anchor": float(np.mean(np.abs(out - f.out0)))}


def choose_sensor(frames: list[AdaptFrame]) -> tuple[str, dict[str, float]]:
    """The sensor model under which the starting model's outputs reproduce the inputs best.

    Returns ``(model, scores)``; scores are the mean trimmed L1 in millimetres (normalised units x
    each frame's scale) per candidate.
    """
    scores = {}
    for s in SENSOR_MODELS:
        errs = [float(consistency(torch.from_numpy(f.out0)[None, None], torch.from_numpy(f.lr)[None, None],
                                  torch.from_numpy(f.valid)[None, None], s)) * f.scale * 1000 for f in frames]
        scores[s] = round(float(np.mean(errs)), 3)
    return min(scores, key=scores.get), scores


class Crops:
    """Random crops on the output grid whose corners fall on the low-res grid."""

    def __init__(self, frames: list[AdaptFrame], patch: int, seed: int) -> None:
        self.frames = frames
        H, W = frames[0].up.shape
        h, w = frames[0].lr.shape
        (self.py, self.qy), (self.px, self.qx) = _period(H, h), _period(W, w)
        self.ch = max(self.py, min(patch, H) // self.py * self.py)
        self.cw = max(self.px, min(patch, W) // self.px * self.px)
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> tuple[torch.Tensor, ...]:
        ups, rgbs, lrs, valids = [], [], [], []
        for _ in range(n):
            f = self.frames[int(self.rng.integers(len(self.frames)))]
            H, W = f.up.shape
            ky = int(self.rng.integers(0, (H - self.ch) // self.py + 1))
            kx = int(self.rng.integers(0, (W - self.cw) // self.px + 1))
            y, x = ky * self.py, kx * self.px
            ly, lx = ky * self.qy, kx * self.qx
            lh, lw = self.ch // self.py * self.qy, self.cw // self.px * self.qx
            ups.append(f.up[y:y + self.ch, x:x + self.cw])
            rgbs.append(f.rgb[:, y:y + self.ch, x:x + self.cw])
            lrs.append(f.lr[ly:ly + lh, lx:lx + lw])
            valids.append(f.valid[ly:ly + lh, lx:lx + lw])
        t = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a)))  # noqa: E731
        return t(ups)[:, None], t(rgbs), t(lrs)[:, None], t(valids)[:, None]


# ------------------------------------------------------------------------------------- adaptation
class Adaptation(loop.Task):
    """The adaptation on the shared loop (no run directory: no checkpoint, resume or log file):
    the bag's frames prepared as the runtime prepares them, the sensor model chosen, random crops
    on the low-res grid, AdamW with a cosine schedule, ``w_cons cons + w_edge edge + w_anchor anchor``."""

    def __init__(self, cfg: AdaptConfig, src, bag: pathlib.Path, log) -> None:
        self.cfg, self.src, self.bag, self.log = cfg, src, bag, log
        self.guided = src.kind == "sr"
        self.curve: list[dict[str, float]] = []

    def build(self, ctx: loop.Context) -> None:
        from depth_refine_ros.models.export import load_torch_model

        cfg, src, bag, log = self.cfg, self.src, self.bag, self.log
        frames, self.info = load_bag_frames(bag, cfg.registration, cfg.max_frames, log)
        lo, hi = src.card.scales or (1, 1 << 30)
        if not lo <= self.info["scale"] <= hi:
            log(f"adapt: warning: the bag's scale x{self.info['scale']} is outside the model's x{lo}..x{hi}")
        self.model = load_torch_model(src)
        self.train_f, self.val_f, self.split_note = split(frames, cfg.val_frac)
        for f in self.val_f:
            f.out0 = run_full(self.model, self.guided, f)
        if cfg.sensor == "auto":
            self.sensor, self.scores = choose_sensor(self.val_f)
        else:
            self.sensor, self.scores = cfg.sensor, choose_sensor(self.val_f)[1]
        info = self.info
        log(f"adapt: {src.describe()} on {len(self.train_f)} frames of {bag} ({info['depth_hw'][1]}x"
            f"{info['depth_hw'][0]} -> {info['rgb_hw'][1]}x{info['rgb_hw'][0]}, x{info['scale']:g}; "
            f"{self.split_note}); sensor model {self.sensor} (trimmed L1 of the starting model's output, mm: "
            f"{self.scores})")
        self.before = _mean_losses([frame_losses(f.out0, f, self.sensor) for f in self.val_f])
        self.crops = Crops(self.train_f, cfg.patch, cfg.seed)
        # the anchor: the starting model on the same crop
        self.frozen = copy.deepcopy(self.model).eval().requires_grad_(False)

    def optimiser(self, params):
        return loop.adamw_cosine(params, self.cfg.lr, 0.0, self.cfg.steps)

    def start(self, step: int) -> None:
        self.model.train()

    def batches(self, start: int):
        while True:
            yield self.crops.batch(self.cfg.batch)

    def loss(self, batch, step: int):
        cfg = self.cfg
        up, rgb, lr, valid = batch
        with torch.no_grad():
            out0 = _forward(self.frozen, self.guided, up, rgb)
        pred = _forward(self.model, self.guided, up, rgb)
        terms = {"cons": consistency(pred, lr, valid, self.sensor), "edge": edge_smoothness(pred, rgb),
                 "anchor": (pred - out0).abs().mean()}
        loss = cfg.w_cons * terms["cons"] + cfg.w_edge * terms["edge"] + cfg.w_anchor * terms["anchor"]
        row = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
        self.curve.append(row)
        return loss, {k: row[k] for k in terms}


def adapt(cfg: AdaptConfig) -> dict:
    """Run one adaptation and write the model directory; returns a summary (also in the card).

    Raises:
        AdaptError: an unusable bag or model (see :func:`load_bag_frames`).
        depth_refine_ros.data.modeldir.ModelError: a model directory that does not load.
    """
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.models import config_from_dict
    from depth_refine_ros.models.export import write_model_dir

    if cfg.sensor != "auto":
        try:
            sensor_downsample(torch.zeros(1, 1, 4, 4), (2, 2), cfg.sensor)
        except ValueError as e:
            raise AdaptError(str(e)) from None
    if cfg.steps < 1 or cfg.batch < 1:
        raise AdaptError(f"steps and batch must be >= 1 (got {cfg.steps}, {cfg.batch})")
    src = load_model_dir(cfg.model)
    if src.kind not in SR_KINDS:
        raise AdaptError(f"adapt fine-tunes SR models ({', '.join(SR_KINDS)}); {cfg.model} is a {src.kind} model")
    bag = pathlib.Path(cfg.bag)
    out = pathlib.Path(cfg.out or f"runs/adapt/{src.name}_{(bag if bag.is_dir() else bag.parent).name}")
    if out.resolve() == src.path.resolve():
        raise AdaptError(f"out={out} is the source model's directory: write the adapted model elsewhere")
    log = (lambda s: sys.stderr.write(s + "\n"))
    task = Adaptation(cfg, src, bag, log)
    minutes = loop.run(task, loop.LoopConfig(steps=cfg.steps, seed=cfg.seed, show_every=5))["minutes"]
    sys.stderr.write("\n")
    model, sensor, val_f, curve, info, crops = task.model, task.sensor, task.val_f, task.curve, task.info, task.crops
    before = task.before
    model.eval()
    after = _mean_losses([frame_losses(run_full(model, task.guided, f), f, sensor) for f in val_f])
    weights = {"cons": cfg.w_cons, "edge": cfg.w_edge, "anchor": cfg.w_anchor}
    before["total"] = sum(weights[k] * before[k] for k in weights)
    after["total"] = sum(weights[k] * after[k] for k in weights)
    k = max(1, min(20, cfg.steps // 5))
    train_loss = {"first": _mean_losses(curve[:k]), "last": _mean_losses(curve[-k:]), "window_steps": k}
    log("adapt: validation frames, self-supervised terms (network units) before -> after: " +
        ", ".join(f"{n} {before[n]:.5g} -> {after[n]:.5g}" for n in before))

    record = {
        "method": "self-supervised, no ground truth (depth_refine_training.adapt)",
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_model": {"name": src.name, "path": str(src.path), "kind": src.kind,
                         "weights_sha256": src.sha256(src.card.weights)},
        "bag": bag_digest(bag), **{k: v for k, v in info.items()},
        "frames_adapted": len(task.train_f), "frames_validation": len(val_f), "split": task.split_note,
        "steps": cfg.steps, "batch": cfg.batch, "patch": [crops.ch, crops.cw], "lr": cfg.lr, "seed": cfg.seed,
        "sensor_model": sensor, "sensor_model_chosen_by": "auto" if cfg.sensor == "auto" else "user",
        "sensor_model_scores_mm": task.scores,
        "losses": {"cons": f"trimmed L1 ({int(TRIM * 100)} % largest left out) of {sensor}-sampled output vs "
                           "the low-res input, valid pixels",
                   "edge": f"edge-aware smoothness, |grad D/mean D| exp(-{EDGE_GAMMA:g} |grad I|)",
                   "anchor": "L1 to the starting model's output"},
        "weights": weights,
        "validation_before": _round(before), "validation_after": _round(after),
        "train_loss": {"first": _round(train_loss["first"]), "last": _round(train_loss["last"]),
                       "window_steps": k},
        "minutes": round(minutes, 2), "ground_truth_used": False,
    }
    training = dict(src.card.training)
    stages = list(training.get("stages") or [])
    stages.append({"steps": cfg.steps, "lr": cfg.lr, "batch": cfg.batch, "patch": crops.ch, "init": str(src.path),
                   "out": str(out), "note": f"adapt: self-supervised on {bag} (no ground truth)"})
    training.update(status="adapted", stages=stages, adaptation=record)
    cfg_obj = config_from_dict(src.kind, src.config)
    md = write_model_dir(model, src.kind, cfg_obj, out, name=cfg.name or None, preset=src.card.preset,
                         training=training, scales=src.card.scales or (2, 16))
    log(f"adapt: wrote {md.path}: {md.describe()}")
    return {"out": str(md.path), "steps": cfg.steps, "sensor_model": sensor, "minutes": round(minutes, 2),
            "validation_before": record["validation_before"], "validation_after": record["validation_after"],
            "train_loss": record["train_loss"], "config": dataclasses.asdict(cfg)}


def _mean_losses(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _round(d: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.6g}") for k, v in d.items()}
