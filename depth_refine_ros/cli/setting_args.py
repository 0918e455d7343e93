"""Command-line options generated from the settings (:mod:`depth_refine_ros.pipeline.settings`).

An option that sets a runtime setting is made here from that setting's field: its destination is the
field's name, its default, type, allowed values and description are the field's. Its name is the ROS
name with dashes (``depth.max_m`` -> ``--depth-max-m``), plus a shorter name where the command had one
(``--sampling`` for ``depth.sampling``). :func:`settings_from_args` reads the options back into the
settings by name, so no command copies a setting by hand.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

from depth_refine_ros.pipeline.settings import SrParams, offline_settings, setting

NETWORK_BACKENDS = ("auto", "onnxruntime", "openvino", "torch", "tensorrt")
"""The ``backend`` values of an option that sets the backend of models (classical methods run on
``classical`` whatever it says)."""


def option_name(name: str) -> str:
    """The option of setting ``name``: its ROS name with dashes (``--registration-mode``)."""
    return "--" + setting(name).metadata["ros"].replace(".", "-").replace("_", "-")


def add_setting(p: argparse.ArgumentParser, name: str, *, alias: str | None = None, sweep: bool = False,
                choices: tuple[str, ...] | None = None, parse: Callable[[str], Any] | None = None,
                note: str = "", base: SrParams | None = None) -> None:
    """Add the option of setting ``name`` (an :class:`SrParams` field) to ``p``.

    Args:
        alias: a second, shorter option name (listed first).
        sweep: takes several values (``nargs='+'``): one run per value.
        choices: fewer allowed values than the setting has.
        parse: a stricter parser than the default's type.
        note: what the option does in this command, put before the setting's description.
        base: where the default comes from (default: the offline settings,
            :func:`~depth_refine_ros.pipeline.settings.offline_settings`).
    """
    f = setting(name)
    default = getattr(base or offline_settings(), name)
    flags = [alias, option_name(name)] if alias else [option_name(name)]
    text = (note + " " if note else "") + f"Sets sr_node's {f.metadata['ros']}: {f.metadata['doc']}"
    kw: dict[str, Any] = {"dest": name, "help": text.replace("%", "%%")}
    if isinstance(default, bool) and not sweep:
        p.add_argument(*flags, action="store_true", default=default, **kw)
        return
    kw["type"] = parse or builtin_type(default)
    allowed = choices or f.metadata["choices"]
    if allowed:
        kw["choices"] = list(allowed)
    if sweep:
        kw.update(nargs="+", default=[default])
    else:
        kw["default"] = default
    p.add_argument(*flags, **kw)


def builtin_type(default: Any) -> Callable[[str], Any]:
    """The parser of a setting's values: its default's type (int, float or str)."""
    return type(default) if isinstance(default, (int, float)) else str


def settings_from_args(args: argparse.Namespace, names: tuple[str, ...], base: SrParams | None = None) -> SrParams:
    """``base`` (default: the offline settings) with the settings ``names`` read from ``args`` by name."""
    return dataclasses.replace(base or offline_settings(), **{n: getattr(args, n) for n in names})


def swept_settings(args: argparse.Namespace, names: tuple[str, ...], base: SrParams) -> list[SrParams]:
    """``base`` with every combination of the swept settings ``names`` (each a list in ``args``), the
    first name outermost."""
    return [dataclasses.replace(base, **dict(zip(names, values, strict=True)))
            for values in itertools.product(*(getattr(args, n) for n in names))]
