"""Training configuration: YAML -> typed dataclass, with ``key=value`` overrides from the CLI.

One dialect for every task: a YAML file of config fields (``--config``) and ``key=value`` overrides
(``--set key=value``; the supervised tasks also take them bare). The supervised tasks' dataclass is
:class:`TrainConfig`; the other commands have their own (``DistillConfig``, ``SelfSupConfig``,
``SddrTrainConfig``, ``AdaptConfig``) and keep their ``--flags`` too: a flag overrides the YAML, and
``--set`` overrides both (:func:`parse_command`).
"""
from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass, field

import yaml


@dataclass
class TrainConfig:
    """Everything a run depends on (saved beside every checkpoint).

    Attributes:
        task: ``sr``, ``depth_sr`` or ``mono``.
        preset: model preset (see depth_refine_ros.models); ``model_overrides`` changes fields.
        data: dataset folder (layouts in :mod:`depth_refine_training.data`).
        val_groups: capture days/groups held out for validation (never trained on).
        extra_data: more reference sets for ``sr``/``depth_sr``, one mapping each: ``path``,
            ``weight`` (share of the samples beside ``data_weight``), ``downscale``, ``max_depth_m``
            (:func:`depth_refine_training.data.load_sources`). Holes in a reference are masked.
        data_weight: the share of ``data`` among the sources (only with ``extra_data``).
        scales, degradations: SR input sampling (one of each per sample).
        patch: SR crop size (multiple of the model's size multiple).
        steps, batch, lr, weight_decay: AdamW schedule (cosine decay to 1 % of lr).
        time_limit_min: stop early after this many minutes (0 = no limit).
        stop_step: stop (validate, save) after this step, the schedule still planned for ``steps``
            (0 = run to ``steps``): makes a checkpoint taken mid-run reproducible.
        val_every: steps between validations; val_scales: SR scales validated (bicubic input).
        workers: DataLoader workers per process. seed: everything random derives from it.
        out: run directory (checkpoints, config, CSV and TensorBoard logs).
        init: start from these weights (a checkpoint ``.pt`` or a model directory); tensors whose
            shape grew (e.g. a head with more outputs) get the old values in their leading slice.
            Ignored when ``out`` already holds ``last.pt`` (that is a resume).
        init_skip: tensor-name prefixes ``init`` does not copy (e.g. ``[head]``: a head whose
            resolution changed starts fresh, its zero last layer making the net the upsampler).
        rgb_dropout: guided SR only: the fraction of samples whose RGB is replaced by zeros, so the
            depth path must carry the answer alone and RGB is used where it helps (measured here:
            the depth-only net beat the guided one at x8/x16 on held-out days).
        w_grad: ``sr``/``depth_sr`` loss: weight of the L1 of Sobel gradients added to the L1 of
            depth (METHODS 1's loss: 1; 0 = plain L1, the ablation).
        init_prior: a monocular model (directory or checkpoint) whose weights start the SR net's
            embedded relative-depth prior (``guidance: rgb+prior`` only; its config must match).
        w_edge_sd: ``sr`` only: weight of SDDR's edge self-distillation loss (METHODS 3, issue 12):
            ``L_grad`` between the net's Sobel gradient magnitude and a pseudo-label edge map the net
            makes from its own detached output by SDDR's coarse-to-fine window pass
            (:mod:`depth_refine_training.sr_edge_sd`). 0 = off (the default; no extra cost).
        edge_sd_every: with ``w_edge_sd`` > 0, add that term on every k-th step only (the window
            pass costs several forward passes); 1 = every step.
    """

    task: str = "sr"
    preset: str = "lite"
    model_overrides: dict = field(default_factory=dict)
    data: str = "../shared/data/rgbdd"
    val_groups: list[str] = field(default_factory=lambda: ["20200518", "20200601", "20200711", "20200715"])
    extra_data: list[dict] = field(default_factory=list)
    data_weight: float = 1.0
    scales: list[int] = field(default_factory=lambda: [2, 4, 8, 16])
    degradations: list[str] = field(default_factory=lambda: ["bicubic", "bicubic", "block_noise", "tof"])
    patch: int = 256
    steps: int = 2000
    batch: int = 16
    lr: float = 5e-4
    weight_decay: float = 1e-4
    time_limit_min: float = 0.0
    stop_step: int = 0
    val_every: int = 500
    val_scales: list[int] = field(default_factory=lambda: [4, 8, 16])
    val_limit: int = 0
    workers: int = 4
    seed: int = 0
    out: str = "runs/sr_lite"
    init: str = ""
    init_skip: list[str] = field(default_factory=list)
    init_prior: str = ""
    rgb_dropout: float = 0.0
    w_grad: float = 1.0
    w_edge_sd: float = 0.0
    edge_sd_every: int = 1


def _coerce(value: str, current):
    if isinstance(current, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        return tuple(yaml.safe_load(value))
    if isinstance(current, list | dict):
        return yaml.safe_load(value)
    return value


def read_yaml(path: str | pathlib.Path, cls: type) -> dict:
    """A YAML file's mapping, checked against the fields of the dataclass ``cls``.

    Raises:
        ValueError: unknown keys (the message lists the valid ones).
    """
    data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; valid: {sorted(names)}")
    return data


def apply_overrides(cfg, overrides=()):
    """Set fields of the dataclass instance ``cfg`` from ``key=value`` strings, each value coerced to
    the field's current type (lists, tuples and mappings as YAML); returns ``cfg``.

    Raises:
        ValueError: an unknown key (the message lists the valid ones).
    """
    names = {f.name for f in dataclasses.fields(cfg)}
    for ov in overrides:
        if not ov.strip():
            continue
        key, _, value = ov.partition("=")
        if key not in names:
            raise ValueError(f"unknown override '{key}'; valid: {sorted(names)}")
        setattr(cfg, key, _coerce(value, getattr(cfg, key)))
    return cfg


def add_config_options(ap) -> None:
    """``--config YAML`` and ``--set KEY=VALUE`` on a command's ``argparse`` parser."""
    ap.add_argument("--config", help="YAML of config fields (a flag given on the command line overrides it)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config field (repeatable; lists and mappings as YAML); overrides flags")


def parse_command(ap, argv, cls: type):
    """Parse a command's arguments in the one dialect: the YAML of ``--config`` first (its fields
    become the defaults of the flags of the same name), then the flags.

    Returns:
        ``(namespace, finish)``: build the config from the namespace as the command always did, then
        ``finish(cfg)`` sets the YAML's fields that have no flag and applies ``--set``.

    Raises:
        ValueError: an unknown key in the YAML (argparse exits on an unknown flag as usual).
    """
    import argparse

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    data = read_yaml(known.config, cls) if known.config else {}
    dests = {a.dest for a in ap._actions}
    ap.set_defaults(**{k: v for k, v in data.items() if k in dests})
    a = ap.parse_args(argv)

    def finish(cfg):
        for k, v in data.items():
            if k not in dests:
                setattr(cfg, k, tuple(v) if isinstance(getattr(cfg, k), tuple) else v)
        return apply_overrides(cfg, a.set)

    return a, finish


def load_config(path: str | None, overrides: list[str] = (), task: str | None = None) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides, return the dataclass.

    Raises:
        ValueError: unknown keys (the message lists the valid ones).
    """
    cfg = apply_overrides(TrainConfig(**(read_yaml(path, TrainConfig) if path else {})), overrides)
    if task:
        cfg.task = task
    return cfg


def save_config(cfg: TrainConfig, path: pathlib.Path) -> None:
    path.write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
