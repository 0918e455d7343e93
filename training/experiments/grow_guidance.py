"""Grow a guided SR net (``fusion: concat``) out of a trained depth-only one, as the same function.

Usage (repository root)::

    .venv/bin/python training/experiments/grow_guidance.py \
        runs/ft/depth_sr/last.pt runs/ft/rgb/last.pt runs/grow/init.pt

Why: on held-out RGB-D-D days the depth-only net beat the AdaIN-guided one at x8/x16 (its
skips keep the depth features; AdaIN keeps only the RGB features' structure). The grown net
starts exactly as the depth-only net: the depth path, decoder and head are copied, each concat
fusion is ``[0 | I]`` (depth features pass, guidance features weigh nothing), the head's RGB
filters are zero. The guidance encoder is copied from a guided checkpoint so it starts useful.
Fine-tuning then adds RGB only where it lowers the loss. Writes a checkpoint for ``init=``.
"""
from __future__ import annotations

import sys

import torch

from depth_refine_ros.models import build_model, config_to_dict, preset_config


def grow(depth_ckpt: str, guided_ckpt: str, out: str) -> None:
    d = torch.load(depth_ckpt, map_location="cpu", weights_only=False)
    g = torch.load(guided_ckpt, map_location="cpu", weights_only=False)
    cfg = preset_config("sr", d["preset"], fusion="concat")
    net = build_model("sr", cfg)
    state = net.state_dict()
    with torch.no_grad():
        for k, v in g["model"].items():  # guidance encoder (and anything else of the same shape)
            if k.startswith("guide_enc.") and k in state and state[k].shape == v.shape:
                state[k].copy_(v)
        for k, v in d["model"].items():  # depth path, middle, decoder, head
            if k in state and state[k].shape == v.shape:
                state[k].copy_(v)
        # head_guide: depth-only sees [dn]; guided sees [r, g, b, dn]
        state["head_guide.weight"].zero_()
        state["head_guide.weight"][:, 3:].copy_(d["model"]["head_guide.weight"])
        state["head_guide.bias"].copy_(d["model"]["head_guide.bias"])
        for i, f in enumerate(net.fuse):  # [F_g, F_d] -> F_d
            c = f.conv.out_channels
            w = state[f"fuse.{i}.conv.weight"]
            w.zero_()
            w[:, c:, 0, 0].copy_(torch.eye(c))
            state[f"fuse.{i}.conv.bias"].zero_()
    tc = dict(d["train_config"], task="sr", init=depth_ckpt, lr=0.0, out=out,
              model_overrides={"fusion": "concat"},
              note=f"grown by grow_guidance.py: depth path, decoder and head from {depth_ckpt}, "
                   f"guidance encoder from {guided_ckpt}, concat fusions [0 | I]")
    torch.save({"model": state, "step": 0, "kind": "sr", "preset": d["preset"], "model_config": config_to_dict(cfg),
                "train_config": tc, "metrics": {}}, out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    grow(*sys.argv[1:])
