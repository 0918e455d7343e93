"""Untrained model directories for tests (weights perturbed so every op carries signal)."""
from __future__ import annotations

import pathlib

import torch

from depth_refine_ros.models import build_model, preset_config
from depth_refine_ros.models.export import write_model_dir


def make_model_dir(root: pathlib.Path, kind: str, preset: str, seed: int = 0, **overrides) -> pathlib.Path:
    """Write ``root/<kind>_<preset>`` once (random init + noise on every parameter) and return it.

    NAFNet's zero-initialised residual scales make a fresh network the identity in its blocks;
    the noise makes the blocks count, so parity and pipeline tests exercise every op.
    """
    name = "_".join([kind, preset, *(f"{k}-{v}" for k, v in sorted(overrides.items()))]).replace("+", "")
    out = root / name
    if (out / "card.yaml").exists():
        return out
    torch.manual_seed(seed)
    cfg = preset_config(kind, preset, **overrides)
    model = build_model(kind, cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    write_model_dir(model, kind, cfg, out, preset=preset)
    return out
