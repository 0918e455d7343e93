"""An imported Depth Anything model as the SR net's frozen relative-depth prior (issue 26, item 4).

``model_overrides={guidance: rgb+prior, prior_import: MODEL_DIR}`` with a directory that ``depth-refine
import`` made from a Depth Anything checkpoint (card kind ``mono``; docs/foundation_models.md). The SR
net (:class:`~depth_refine_ros.models.sr_net.GuidedSRNet`) embeds the foundation network in place of its
small :class:`~depth_refine_ros.models.mono_net.MonoDepthNet`: one ONNX graph, which the runtime backends
run as any SR model (they never import ``transformers``). Only this module rebuilds the network, so
training and ``depth-refine-train export`` build such nets with :func:`build_sr`, not ``build_model``.

:class:`ImportedPrior` (what ``GuidedSRNet._relative_prior`` calls):

- Input: the SR input's RGB average-pooled by ``prior_stride``, ``(B, 3, h, w)`` float32 in [0, 1].
- Inside: bilinearly resized to the nearest multiples of 14 (the ViT patch; at least 14), keeping the
  scale of the content (what the net sees at a 256-pixel training crop and in a 640 x 480 frame is the same
  size in pixels, as for the embedded MonoDepthNet); ImageNet mean/std applied (the imported graph's
  ``ForeignDepthGraph``); the network run under ``no_grad``; its output resized back to ``(h, w)``.
- Output: ``(B, 1, h, w)`` float32, the model's own output: relative inverse depth (affine-invariant,
  larger = nearer) for a relative checkpoint, metres for a metric one. The SR net then normalises it per
  image to zero mean and unit mean absolute deviation, which makes either affine-invariant.

The prior is frozen: its parameters never require a gradient and it stays in eval mode when the SR net
trains (:meth:`ImportedPrior.train`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 14


def read_prior_card(source: str):
    """Resolve and check an imported prior: ``(directory, its ModelCard)``.

    Raises:
        ValueError: not a model directory imported from a ``transformers`` checkpoint, or not monocular.
    """
    from depth_refine_training.foundation_teacher import read_teacher_card

    try:
        path, card = read_teacher_card(source)
    except ValueError as e:
        raise ValueError(f"prior_import: {e}".replace("teacher must be auto, dsr, de, none or ",
                                                     "the prior must be ")) from None
    if card.kind != "mono":
        raise ValueError(f"prior_import: {path} is a {card.kind} model; the SR net's prior sees RGB only, so it must "
                         "be a monocular one (Depth Anything, card kind mono)")
    return path, card


def _to_multiple(n: Any, m: int) -> Any:
    """``n`` rounded to the nearest multiple of ``m`` (at least ``m``); a tensor while an ONNX export traces,
    so the graph keeps dynamic sizes."""
    if torch.jit.is_tracing():
        n = torch.as_tensor(n).float()
        return (torch.clamp(torch.round(n / m), min=1) * m).to(torch.int64)
    return max(m, int(round(int(n) / m)) * m)


class ImportedPrior(nn.Module):
    """The frozen imported network, sized for the SR net (module docstring for shapes and units).

    Args:
        source: the imported model directory (or installed name).

    Attributes:
        record: what the exported card records about it (as a teacher: ``foundation_teacher.teacher_record``).

    Raises:
        ValueError: see :func:`read_prior_card`; files that fail the card's hashes.
    """

    def __init__(self, source: str) -> None:
        super().__init__()
        from depth_refine_ros.models.foundation import make_traceable
        from depth_refine_training.foundation_teacher import load_graph, teacher_record

        path, card = read_prior_card(source)
        self.graph = load_graph(path, "prior_import")
        make_traceable(self.graph.model)  # the exported SR graph keeps dynamic height and width
        self.record = teacher_record(path, card)

    def train(self, mode: bool = True) -> ImportedPrior:
        """Always eval: the prior is frozen."""
        return super().train(False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        size = (_to_multiple(h, PATCH), _to_multiple(w, PATCH))
        with torch.no_grad():
            x = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False)
            y = self.graph(x)
            return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def build_sr(kind: str, config: Any) -> nn.Module:
    """``build_model`` for training: an SR config with ``prior_import`` gets the imported network as its
    frozen prior; every other config is built as ``depth_refine_ros.models.build_model`` builds it."""
    from depth_refine_ros.models import build_model, config_from_dict
    from depth_refine_ros.models.sr_net import GuidedSRNet

    if isinstance(config, dict):
        config = config_from_dict(kind, config)
    source = getattr(config, "prior_import", "")
    if kind != "sr" or not source:
        return build_model(kind, config)
    return GuidedSRNet(config, prior=ImportedPrior(source))


def prior_record(model: nn.Module) -> dict | None:
    """The imported prior's record of a net :func:`build_sr` built (None for any other net)."""
    prior = getattr(model, "prior", None)
    return dict(prior.record) if isinstance(prior, ImportedPrior) else None
