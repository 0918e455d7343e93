"""Tiny random-weight Depth Anything / Prompt Depth Anything checkpoints (``transformers`` configs, a
4-layer, 32-wide ``Dinov2Config`` backbone) and ``depth-refine import`` as a function: shared by the
import, distillation and imported-prior tests."""
from __future__ import annotations

APACHE_README = "---\nlicense: apache-2.0\ntags:\n- depth\n---\n# tiny test checkpoint\n"


def tiny_backbone():
    from transformers import Dinov2Config

    return Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                        image_size=56, patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"],
                        reshape_hidden_states=False, apply_layernorm=True)


TINY_HEAD = dict(reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                 head_hidden_size=8)


def save_checkpoint(path, prompt=False, metric=False, readme=APACHE_README, seed=0):
    """A tiny random-weight checkpoint directory (config.json + model.safetensors [+ README.md])."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        PromptDepthAnythingConfig,
        PromptDepthAnythingForDepthEstimation,
    )

    torch.manual_seed(seed)
    if prompt:
        model = PromptDepthAnythingForDepthEstimation(PromptDepthAnythingConfig(
            backbone_config=tiny_backbone(), depth_estimation_type="metric", max_depth=1, **TINY_HEAD))
    else:
        extra = dict(depth_estimation_type="metric", max_depth=10) if metric else {}
        model = DepthAnythingForDepthEstimation(DepthAnythingConfig(backbone_config=tiny_backbone(), **TINY_HEAD,
                                                                    **extra))
    with torch.no_grad():  # transformers' init (std 0.02) gives a near-constant output: torch's defaults instead
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear | torch.nn.ConvTranspose2d):
                mod.reset_parameters()
        model.head.conv3.bias.fill_(0.5)  # positive outputs through the ReLU
    model.save_pretrained(str(path))
    if readme:
        (path / "README.md").write_text(readme)
    return path


def run_import(src, out, *extra):
    from depth_refine_ros.cli.main import main

    return main(["import", str(src), "--out", str(out), "--threads", "1", *extra])

