"""Foundation depth models from ``transformers``: a checkpoint directory -> ONNX graph + card fields.

``depth-refine import`` (:mod:`depth_refine_ros.cli.import_model`) calls this module; the runtime never
does (``test/repo/test_layers.py`` keeps ``transformers`` out of it). Supported ``model_type`` values of a
Hugging Face checkpoint directory (``config.json`` + ``model.safetensors``):

- ``depth_anything`` (Depth Anything v1 and v2, ``DepthAnythingForDepthEstimation``): a monocular
  model (card kind ``mono``). ``depth_estimation_type: relative`` outputs affine-invariant inverse depth,
  ``metric`` outputs metres (``sigmoid x max_depth``).
- ``prompt_depth_anything`` (``PromptDepthAnythingForDepthEstimation``): RGB + a low-res metric depth
  prompt -> metric depth at the RGB's size (card kind ``prompt_depth``).

The exported graph takes the project's RGB input (``rgb``: ``(1, 3, H, W) float32`` in [0, 1]) and
applies ImageNet mean/std itself, so the existing backends feed it as they feed ``mono_small``; the
prompt (``depth``: ``(1, 1, h, w)`` metres, no holes) is min-max normalised inside the graph, as
``transformers`` does. Its output is ``depth``: ``(1, 1, H, W)`` at the input size. Height and width
are dynamic: the ``transformers`` head casts its output size to a Python ``int`` (which a trace
freezes), so the export swaps in a head forward that keeps the size symbolic
(:func:`traceable_heads`); the position embeddings are interpolated to any size already.
"""
from __future__ import annotations

import contextlib
import json
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from depth_refine_ros.core.foundation import IMAGENET_MEAN, IMAGENET_STD

OPSET = 18
#: model_type -> (transformers class, card kind)
ARCHITECTURES = {
    "depth_anything": ("DepthAnythingForDepthEstimation", "mono"),
    "prompt_depth_anything": ("PromptDepthAnythingForDepthEstimation", "prompt_depth"),
}


class SourceError(ValueError):
    """The source cannot be imported; the message says why and what is supported."""


def read_source_config(src: Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, checked for a supported ``model_type``.

    Raises:
        SourceError: no config.json, no weights, or an unsupported model type.
    """
    cfg_path = src / "config.json"
    if not cfg_path.is_file():
        raise SourceError(f"{src}: no config.json (a Hugging Face-format checkpoint directory is expected)")
    cfg = json.loads(cfg_path.read_text())
    mt = cfg.get("model_type")
    if mt not in ARCHITECTURES:
        raise SourceError(f"{cfg_path}: model_type {mt!r} is not supported (supported: {', '.join(ARCHITECTURES)}; "
                           "other ONNX graphs: import the .onnx file with a declared signature)")
    if not any(src.glob("*.safetensors")) and not any(src.glob("*.bin")):
        raise SourceError(f"{src}: no weights (model.safetensors) beside config.json")
    return cfg


def output_kind(cfg: dict[str, Any]) -> str:
    """``metric`` or ``relative_inverse`` for a source config (prompt-depth models are metric)."""
    if cfg["model_type"] == "prompt_depth_anything":
        return "metric"
    return "metric" if cfg.get("depth_estimation_type", "relative") == "metric" else "relative_inverse"


def load_transformers_model(src: Path) -> nn.Module:
    """The checkpoint's ``transformers`` model in eval mode, from the local directory only (no hub)."""
    import transformers

    cfg = read_source_config(src)
    cls = getattr(transformers, ARCHITECTURES[cfg["model_type"]][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls.from_pretrained(str(src), local_files_only=True)
    return model.eval().float()


class ForeignDepthGraph(nn.Module):
    """What gets exported: project inputs in, ``(1, 1, H, W)`` depth out (module docstring).

    Args:
        model: a ``DepthAnythingForDepthEstimation`` or ``PromptDepthAnythingForDepthEstimation``.
        prompt: the model takes a depth prompt (second input).
    """

    def __init__(self, model: nn.Module, prompt: bool) -> None:
        super().__init__()
        self.model = model
        self.prompt = prompt
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        x = (rgb - self.mean) / self.std
        if self.prompt:
            out = self.model(pixel_values=x, prompt_depth=depth).predicted_depth
        else:
            out = self.model(pixel_values=x).predicted_depth
        return out.unsqueeze(1)


def _da_head_forward(self, hidden_states, patch_height, patch_width):
    """DepthAnythingDepthEstimationHead.forward with the output size kept symbolic under tracing."""
    from transformers.utils.generic import torch_int

    hidden = hidden_states[self.head_in_index]
    x = self.conv1(hidden)
    x = nn.functional.interpolate(x, (torch_int(patch_height * self.patch_size),
                                      torch_int(patch_width * self.patch_size)), mode="bilinear", align_corners=True)
    x = self.activation2(self.conv3(self.activation1(self.conv2(x)))) * self.max_depth
    return x.squeeze(dim=1)


def make_traceable(model: nn.Module) -> bool:
    """Swap in Depth Anything's head forward that keeps its output size symbolic, for good (the same
    values in eager mode); for a network embedded in another graph (the SR net's imported prior).
    Returns whether the model has such a head."""
    head = getattr(model, "head", None)
    swap = head is not None and type(head).__name__ == "DepthAnythingDepthEstimationHead"
    if swap:
        head.forward = types.MethodType(_da_head_forward, head)
    return swap


@contextlib.contextmanager
def traceable_heads(model: nn.Module):
    """Within the block, Depth Anything's head keeps its output size symbolic (module docstring)."""
    head = getattr(model, "head", None)
    swap = make_traceable(model)
    try:
        yield
    finally:
        if swap:
            del head.forward


def example_feeds(prompt: bool, hw: tuple[int, int], prompt_hw: tuple[int, int] | None = None,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic inputs: RGB uniform in [0, 1]; a smooth prompt in metres (0.5 .. 4.5 m)."""
    g = torch.Generator().manual_seed(seed)
    feeds = {"rgb": torch.rand(1, 3, *hw, generator=g)}
    if prompt:
        ph = prompt_hw or (max(2, hw[0] // 4), max(2, hw[1] // 4))
        yy, xx = torch.meshgrid(torch.linspace(0, 1, ph[0]), torch.linspace(0, 1, ph[1]), indexing="ij")
        feeds["depth"] = (0.5 + 2 * (yy + xx) + 0.1 * torch.rand(ph, generator=g))[None, None]
    return feeds


def export_onnx(graph: ForeignDepthGraph, path: Path, hw: tuple[int, int]) -> None:
    """Export with dynamic height and width of every input and the output (TorchScript exporter)."""
    feeds = example_feeds(graph.prompt, hw)
    names = list(feeds)
    axes = {"rgb": {2: "height", 3: "width"}, "depth": {2: "height", 3: "width"}}
    if graph.prompt:
        axes["depth"] = {2: "prompt_height", 3: "prompt_width"}
    with warnings.catch_warnings(), traceable_heads(graph.model), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.eval(), tuple(feeds.values()), str(path), dynamo=False, input_names=names,
                          output_names=["depth_out" if graph.prompt else "depth"],
                          dynamic_axes={**{n: axes[n] for n in names},
                                        ("depth_out" if graph.prompt else "depth"): {2: "height", 3: "width"}},
                          opset_version=OPSET)


def torch_outputs(graph: ForeignDepthGraph, feeds: dict[str, Any]) -> Any:
    """The ``transformers`` model's output for numpy ``feeds`` (the parity reference), as numpy."""
    with torch.no_grad():
        return graph(*(torch.from_numpy(v) for v in feeds.values())).numpy()


def source_licence(src: Path, cfg: dict[str, Any]) -> str:
    """The licence the checkpoint's own metadata gives: the model card's (README.md) YAML front
    matter ``license`` (``license_name`` / ``license_link`` for ``other``), else config.json's
    ``license``, else ``unknown``."""
    readme = src / "README.md"
    if readme.is_file():
        text = readme.read_text(errors="replace")
        if text.startswith("---"):
            import yaml

            try:
                meta = yaml.safe_load(text.split("---", 2)[1]) or {}
            except yaml.YAMLError:
                meta = {}
            lic = meta.get("license")
            if lic:
                extra = [str(meta[k]) for k in ("license_name", "license_link") if meta.get(k)]
                return f"{lic} ({', '.join(extra)})" if extra else str(lic)
    return str(cfg.get("license") or "unknown")


def params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def versions() -> dict[str, str]:
    """``transformers`` and ``torch`` versions, for the card."""
    import transformers

    return {"transformers": str(transformers.__version__), "torch": str(torch.__version__)}


def load_imported(model_dir) -> ForeignDepthGraph:
    """The torch network of an imported model directory (``hf_config.json`` + ``model.safetensors``), as
    exported: project inputs, ``(B, 1, H, W)`` output, frozen in eval mode. For training (a teacher or a
    prior, docs/foundation_models.md); the nodes run the directory's ONNX graph instead.

    Raises:
        depth_refine_ros.data.modeldir.ModelError: not an imported ``transformers`` model, or its files
            fail the card's checks.
    """
    import transformers

    from depth_refine_ros.data.modeldir import ModelError, load_model_dir

    md = load_model_dir(model_dir, ("hf_config.json", "model.safetensors"))
    if (md.card.extra.get("imported") or {}).get("format") != "transformers":
        raise ModelError(f"{md.path}: not a model imported from a transformers checkpoint")
    cls = getattr(transformers, md.card.extra["imported"]["architecture"])
    config = cls.config_class.from_dict(json.loads((md.path / "hf_config.json").read_text()))
    with warnings.catch_warnings():  # from_pretrained: transformers maps the checkpoint's key names itself
        warnings.simplefilter("ignore")
        model = cls.from_pretrained(str(md.path), config=config, local_files_only=True)
    graph = ForeignDepthGraph(model.eval().float(), md.kind == "prompt_depth").eval()
    for p in graph.parameters():
        p.requires_grad_(False)
    return graph
