"""Training configuration: one dialect for every ``depth-refine-train`` command.

Every command is ``depth-refine-train <command> [--config YAML] [key=value ...] [--set key=value ...]``.
Its settings are the fields of one dataclass: :class:`TrainConfig` for the supervised tasks,
``AdaptConfig``, ``DistillConfig``, ``SelfSupConfig`` and ``SddrTrainConfig`` for the others. The
YAML is read first, then the bare ``key=value`` overrides, then ``--set`` (the same syntax, as an
option). A value is read as its field's type: numbers as numbers, booleans as true/false, lists,
tuples and mappings as YAML (a single value makes a one-item list). An unknown key is an error that
lists the valid ones. Each field carries a one-line help (:func:`setting`); ``--help`` lists them
with their defaults (:class:`ConfigParser`).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import pathlib
import re
import textwrap
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

USAGE = "[--config YAML] [key=value ...] [--set key=value ...]"
"""The arguments every command takes after its name."""


def setting(default: Any = dataclasses.MISSING, help: str = "", choices: Sequence[str] = ()) -> Any:
    """A config field with its one-line help, shown by ``--help``.

    Args:
        default: the value when nothing sets it; none makes the field required. A list or mapping is
            copied for each instance.
        help: one line on what the field does.
        choices: the values allowed, when the set is closed (checked after the overrides).
    """
    meta = {"help": help, "choices": tuple(choices)}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


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

    task: str = setting("sr", "what is trained (the command's name sets it)", choices=("sr", "depth_sr", "mono"))
    preset: str = setting("lite", "model preset (depth_refine_ros.models); model_overrides changes its fields")
    model_overrides: dict = setting({}, "model config fields that differ from the preset (a mapping)")
    data: str = setting("../shared/data/rgbdd", "dataset folder (layouts in depth_refine_training.data)")
    val_groups: list[str] = setting(["20200518", "20200601", "20200711", "20200715"],
                                    "capture days/groups held out for validation (never trained on)")
    extra_data: list[dict] = setting([], "more reference sets (sr, depth_sr), one mapping each: path, weight, "
                                         "downscale, max_depth_m")
    data_weight: float = setting(1.0, "the share of data among the sources (only with extra_data)")
    scales: list[int] = setting([2, 4, 8, 16], "SR input scales (one drawn per sample)")
    degradations: list[str] = setting(["bicubic", "bicubic", "block_noise", "tof"],
                                      "SR input degradations (one drawn per sample)")
    patch: int = setting(256, "SR crop size (a multiple of the model's size multiple)")
    steps: int = setting(2000, "AdamW steps (cosine decay to 1 % of lr)")
    batch: int = setting(16, "batch size")
    lr: float = setting(5e-4, "AdamW learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    time_limit_min: float = setting(0.0, "stop early after this many minutes (0 = no limit)")
    stop_step: int = setting(0, "stop (validate, save) after this step, the schedule still planned for steps "
                                "(0 = run to steps)")
    val_every: int = setting(500, "steps between validations")
    val_scales: list[int] = setting([4, 8, 16], "SR scales validated (bicubic input)")
    val_limit: int = setting(0, "at most this many validation frames (0 = all)")
    workers: int = setting(4, "DataLoader workers per process")
    seed: int = setting(0, "everything random derives from it")
    out: str = setting("runs/sr_lite", "run directory (checkpoints, config, CSV and TensorBoard logs)")
    init: str = setting("", "start from these weights (a checkpoint .pt or a model directory); ignored when out "
                            "holds last.pt (a resume)")
    init_skip: list[str] = setting([], "tensor-name prefixes init does not copy (e.g. [head])")
    init_prior: str = setting("", "a monocular model whose weights start the SR net's embedded prior "
                                  "(guidance rgb+prior)")
    rgb_dropout: float = setting(0.0, "guided SR: the fraction of samples whose RGB is replaced by zeros")
    w_grad: float = setting(1.0, "sr/depth_sr loss: weight of the L1 of Sobel gradients (0 = plain L1)")
    w_edge_sd: float = setting(0.0, "sr: weight of SDDR's edge self-distillation loss (0 = off)")
    edge_sd_every: int = setting(1, "with w_edge_sd > 0, add that term on every k-th step only")


def _hints(cls: type) -> dict[str, Any]:
    """The resolved type of every field of ``cls`` (empty where an annotation does not resolve)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _item(value: Any, kind: Any) -> Any:
    """One element of a list or tuple as the annotated element type (``str``, ``int`` or ``float``)."""
    if kind in (str, int, float) and type(value) is not kind:
        return kind(value)
    return value


def _coerce(value: str, current: Any, hint: Any = None) -> Any:
    """The text ``value`` as the type of the field's current value ``current`` (its annotation ``hint``
    types the items of a list or tuple)."""
    if isinstance(current, bool):
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean (true or false)")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, list | tuple):
        data = yaml.safe_load(value)
        items = [] if data is None else data if isinstance(data, list) else [data]
        args = typing.get_args(hint)
        if isinstance(current, list):
            return [_item(v, args[0] if args else None) for v in items]
        if args and Ellipsis not in args and len(items) != len(args):
            raise ValueError(f"needs {len(args)} values, got {len(items)}")
        return tuple(_item(v, args[0] if Ellipsis in args else args[i] if args else None) for i, v in enumerate(items))
    if isinstance(current, dict):
        data = yaml.safe_load(value)
        if not isinstance(data, dict | None):
            raise ValueError("not a mapping")
        return data or {}
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


def apply_overrides(cfg: Any, overrides: Sequence[str] = ()) -> Any:
    """Set fields of the dataclass instance ``cfg`` from ``key=value`` strings, in order, each value
    read as its field's type (lists, tuples and mappings as YAML); returns ``cfg``.

    Raises:
        ValueError: not ``key=value``, an unknown key (the message lists the valid ones), or a value
            that is not of the field's type.
    """
    names = {f.name for f in dataclasses.fields(cfg)}
    hints = _hints(type(cfg))
    for ov in overrides:
        if not ov.strip():
            continue
        key, eq, value = ov.partition("=")
        if not eq:
            raise ValueError(f"'{ov}' is not key=value; valid keys: {sorted(names)}")
        if key not in names:
            raise ValueError(f"unknown override '{key}'; valid: {sorted(names)}")
        try:
            setattr(cfg, key, _coerce(value, getattr(cfg, key), hints.get(key)))
        except (ValueError, TypeError, yaml.YAMLError) as e:
            raise ValueError(f"{key}={value}: {e}") from None
    return cfg


def required_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` without a default: a command must be given them."""
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def build_config(cls: type, path: str | pathlib.Path | None = None, overrides: Sequence[str] = ()) -> Any:
    """The dataclass ``cls`` from the YAML at ``path`` (if any), then the ``key=value`` ``overrides``.
    A field without a default (:func:`required_fields`) must end up non-empty.

    Raises:
        ValueError: an unknown key, a value of the wrong type or outside the field's choices, or a
            required field left empty.
        OSError: the YAML cannot be read.
    """
    hints = _hints(cls)
    needed = required_fields(cls)
    # a field without a default starts empty, so that the YAML and the overrides can fill it
    cfg = cls(**{n: (typing.get_origin(hints.get(n)) or hints.get(n, str))() for n in needed})
    for k, v in (read_yaml(path, cls) if path else {}).items():
        setattr(cfg, k, tuple(v) if isinstance(getattr(cfg, k), tuple) and isinstance(v, list) else v)
    apply_overrides(cfg, overrides)
    missing = [n for n in needed if getattr(cfg, n) in ("", None, [], (), {})]
    if missing:
        raise ValueError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: "
                         f"{' '.join(n + '=...' for n in missing)} (or in the --config YAML)")
    for f in dataclasses.fields(cfg):
        choices = f.metadata.get("choices")
        if choices and getattr(cfg, f.name) not in choices:
            raise ValueError(f"{f.name}={getattr(cfg, f.name)}: not one of {', '.join(choices)}")
    return cfg


def _shown(value: Any) -> str:
    """A default as it would be written on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value or "''"
    if isinstance(value, list | tuple | dict):
        plain = list(value) if isinstance(value, tuple) else value
        return yaml.safe_dump(plain, default_flow_style=True, width=10**6).strip()
    return str(value)


_JOIN = "\x00"
"""Joins the words :func:`fields_help` must not break apart (textwrap breaks only at ASCII whitespace)."""


def fields_help(cls: type, width: int = 100) -> str:
    """Every field of ``cls``: its key, one-line help and default (or ``required``), for ``--help``."""
    needed = set(required_fields(cls))
    fields = dataclasses.fields(cls)
    col = min(max(len(f.name) for f in fields) + 4, 24)
    lines = ["settings (key=value, --set key=value, or a mapping of them in the --config YAML):"]
    for f in fields:
        if f.name in needed:
            tail = "[required]"
        elif f.default is not dataclasses.MISSING:
            tail = f"[default: {_shown(f.default)}]"
        else:
            tail = f"[default: {_shown(f.default_factory())}]"
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text += f" (one of {', '.join(f.metadata['choices'])})"
        text = f"{text} {tail.replace(' ', _JOIN)}".strip()  # the default stays on one line
        lines += [s.replace(_JOIN, " ") for s in textwrap.wrap(
            text, width, initial_indent=f"  {f.name:<{col - 2}}", subsequent_indent=" " * col, break_on_hyphens=False)]
    return "\n".join(lines)


class ConfigParser(argparse.ArgumentParser):
    """The parser of one ``depth-refine-train`` command: ``[--config YAML] [key=value ...] [--set key=value ...]``,
    whose keys are the fields of the dataclass ``cls``. ``--help`` lists every field with its help and
    default."""

    def __init__(self, prog: str, description: str, cls: type) -> None:
        self.config_class = cls
        text = "\n\n".join(textwrap.fill(p, 100) for p in description.split("\n\n"))
        super().__init__(prog=prog, usage=f"{prog} {USAGE}", description=text,
                         epilog=fields_help(cls), formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_argument("overrides", nargs="*", metavar="key=value",
                          help="set one field (values as YAML); later ones win")
        self.add_argument("--config", metavar="YAML", help="a YAML mapping of fields, read before the key=value ones")
        self.add_argument("--set", action="append", default=[], metavar="key=value",
                          help="the same as a bare key=value, applied after them (repeatable)")

    def build(self, ns: argparse.Namespace) -> Any:
        """The config from parsed arguments: the YAML, then the bare overrides, then ``--set``.

        Raises:
            ValueError, OSError: as :func:`build_config`.
        """
        return build_config(self.config_class, ns.config, [*ns.overrides, *ns.set])

    def parse_config(self, argv: Sequence[str] | None = None) -> Any:
        """Parse ``argv`` (default ``sys.argv[1:]``) into the config.

        Raises:
            SystemExit: ``--help`` (0) or a malformed command line (2, usage printed).
            ValueError, OSError: as :func:`build_config`.
        """
        return self.build(self.parse_intermixed_args(argv))

    def error(self, message: str) -> typing.NoReturn:
        """argparse's error, with the key to use where an old-style ``--flag`` was given."""
        flag = re.search(r"unrecognized arguments: --([\w-]+)", message)
        if flag:
            key = flag.group(1).replace("-", "_")
            names = {f.name for f in dataclasses.fields(self.config_class)}
            message += f" (settings are key=value: {key}=...)" if key in names else \
                " (settings are key=value; --help lists the keys)"
        super().error(message)


def parse_config_command(prog: str, description: str, cls: type, argv: Sequence[str] | None = None) -> Any:
    """A command's config from its arguments: ``[--config YAML] [key=value ...] [--set key=value ...]``.

    Args:
        prog: the command as typed (``depth-refine-train adapt``), for usage and errors.
        description: what the command does, for ``--help``.
        cls: the config dataclass; its field names are the keys.
        argv: the arguments after the command's name (default ``sys.argv[1:]``).

    Raises:
        SystemExit: ``--help`` (0) or a malformed command line (2, usage printed).
        ValueError: an unknown key (the message lists the valid ones), a bad value or a missing
            required field.
        OSError: the YAML cannot be read.
    """
    return ConfigParser(prog, description, cls).parse_config(argv)


def save_config(cfg: TrainConfig, path: pathlib.Path) -> None:
    path.write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
