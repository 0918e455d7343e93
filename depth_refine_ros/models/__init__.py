"""Torch networks, built by name from a registry (timm-style), each with a config dataclass.

Kinds (``kind`` in model cards):
    ``sr``       guided depth SR (:class:`GuidedSRNet`), inputs ``depth, rgb`` -> ``depth_out``
    ``depth_sr`` depth-only SR (the same family, ``guidance='none'``), ``depth`` -> ``depth_out``
    ``mono``     monocular estimator (:class:`MonoDepthNet`), ``rgb`` -> ``depth_rel``
    ``sddr``     SDDR refiner (:class:`SddrRefiner`), ``low, high`` -> ``d0, g0``

A model's config dataclass is its single source of truth: it is saved in checkpoints and model
cards, and :func:`build_model` rebuilds the network from it alone.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from depth_refine_ros.models.mono_net import MONO_PRESETS, MonoConfig, MonoDepthNet
from depth_refine_ros.models.sddr import SDDR_PRESETS, SddrConfig, SddrRefiner
from depth_refine_ros.models.sr_net import SR_PRESETS, GuidedSRConfig, GuidedSRNet


@dataclass(frozen=True)
class ModelKind:
    """What a registry entry knows: config class, network class, presets and graph I/O names."""

    config_cls: type
    net_cls: type
    presets: dict[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


# the image-detail term needs RGB: a depth-only preset drops it
_DEPTH_ONLY = {k: replace(v, guidance="none", guide_detail=False) for k, v in SR_PRESETS.items()}

REGISTRY: dict[str, ModelKind] = {
    "sr": ModelKind(GuidedSRConfig, GuidedSRNet, SR_PRESETS, ("depth", "rgb"), ("depth_out",)),
    "depth_sr": ModelKind(GuidedSRConfig, GuidedSRNet, _DEPTH_ONLY, ("depth",), ("depth_out",)),
    "mono": ModelKind(MonoConfig, MonoDepthNet, MONO_PRESETS, ("rgb",), ("depth_rel",)),
    "sddr": ModelKind(SddrConfig, SddrRefiner, SDDR_PRESETS, ("low", "high"), ("d0", "g0")),
}


def _kind(kind: str) -> ModelKind:
    if kind not in REGISTRY:
        raise KeyError(f"unknown model kind '{kind}' (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[kind]


def config_to_dict(cfg: Any) -> dict:
    """A config dataclass as plain data (tuples -> lists, nested configs -> dicts)."""
    return _plain(dataclasses.asdict(cfg))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def config_from_dict(kind: str, data: dict) -> Any:
    """Rebuild a kind's config dataclass from :func:`config_to_dict` output.

    Raises:
        ValueError: unknown field names (the message lists them).
    """
    cls = _kind(kind).config_cls
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    out = {}
    for k, v in data.items():
        if isinstance(v, list):
            v = tuple(v)
        if isinstance(v, dict) and "MonoConfig" in str(hints.get(k)):
            v = config_from_dict("mono", v)
        out[k] = v
    return cls(**out)


def preset_config(kind: str, preset: str, **overrides: Any) -> Any:
    """The config of a named preset, with field overrides (e.g. ``fusion='concat'``)."""
    k = _kind(kind)
    if preset not in k.presets:
        raise KeyError(f"unknown {kind} preset '{preset}' (known: {', '.join(k.presets)})")
    return replace(k.presets[preset], **overrides)


def build_model(kind: str, config: Any) -> nn.Module:
    """Build the network of ``kind`` from its config (dataclass or dict)."""
    if isinstance(config, dict):
        config = config_from_dict(kind, config)
    return _kind(kind).net_cls(config)


def io_names(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input names, output names) of the kind's graph, in call order."""
    k = _kind(kind)
    return k.inputs, k.outputs


__all__ = ["REGISTRY", "build_model", "config_from_dict", "config_to_dict", "io_names", "preset_config",
           "GuidedSRConfig", "GuidedSRNet", "MonoConfig", "MonoDepthNet", "SddrConfig", "SddrRefiner"]
