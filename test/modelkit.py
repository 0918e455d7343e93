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


def make_overfit_mono(root: pathlib.Path, frames) -> pathlib.Path:
    """A ``mono/tiny`` model trained for a few seconds on ``frames`` (rgb, _, gt metres).

    Overfitted on purpose: node tests need a prediction that correlates with the scene's depth so
    the metric fit has something to fit; accuracy is measured elsewhere, on held-out data.
    """
    import numpy as np
    import torch.nn.functional as F

    out = root / "mono_overfit"
    if (out / "card.yaml").exists():
        return out
    torch.manual_seed(0)
    cfg = preset_config("mono", "tiny")
    model = build_model("mono", cfg)
    h, w = cfg.input_hw
    x = F.interpolate(torch.stack([torch.from_numpy(r).permute(2, 0, 1).float() / 255 for r, _, _ in frames]),
                      size=(h, w), mode="area")
    y = F.interpolate(torch.stack([torch.from_numpy(np.nan_to_num(g)).float()[None] for _, _, g in frames]),
                      size=(h // 2, w // 2), mode="area")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(60):
        loss = (torch.log(model(x) + 1) - torch.log(y + 1)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    write_model_dir(model, "mono", cfg, out, preset="tiny",
                    training={"status": "test-fixture", "note": "60 steps on the test frames"})
    return out
