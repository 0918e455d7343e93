"""A frozen foundation depth model as the teacher of ``distill``'s depth-only SR net (issue 26, item 4).

``depth-refine-train distill teacher=MODEL_DIR`` with a directory made by ``depth-refine import``
from a ``transformers`` checkpoint (docs/foundation_models.md). The model replaces DENet: it is never
trained, and it teaches DSRNet in every epoch (no role decisions). The schedule is otherwise distill's
(:mod:`depth_refine_training.distill`): DSRNet alone for ``p1_dsr`` steps, SPNet's warm-up, then
``epochs x epoch_steps`` steps of ``L_task + rho1 L_struct + rho2 L_distill``.

The teacher (:class:`FoundationTeacher`) runs under ``no_grad`` on the student's own batches:

- Input: the crop's RGB ``(B, 3, P, P)`` float32 in [0, 1], bilinearly resized to the card's input
  size policy for a ``P x P`` image (longer side ``long_side``, sides multiples of 14; ``long_side``
  is the card's unless given). A prompt-depth model also takes the student's input depth
  ``(B, 1, P, P)``, the bicubic-upsampled low-res depth over the frame's scale, holes filled: the
  low-res depth the node would give it, at the crop's size (the model resizes its prompt to each fusion
  level bilinearly, so the size changes little).
- Output: resized back to ``(B, 1, P, P)`` float32 (bilinear). A prompt-depth model min-max normalises
  its prompt and maps its output back to the prompt's units, so its output is in DSRNet's units
  (metres over the per-frame scale).

``L_distill`` (:func:`distill_loss`), over valid ground truth where the teacher's output is finite:

- ``metric`` output of a prompt-depth model: L1 between DSRNet's output and the teacher's.
- ``relative_inverse`` (Depth Anything: affine-invariant inverse depth): per image, scale and shift
  fitted by least squares from the teacher's output to ``1 / DSRNet's output`` (detached), as
  ``mono_node`` fits inverse depth (over pixels where DSRNet's output lies in :data:`DEPTH_RANGE`,
  per-frame-scale units); then L1 between DSRNet's output and ``1 / fitted`` where that lies in the
  range too. The loss stays in depth units, so ``rho2`` means what it means for the other teachers.
- ``metric`` output of a monocular checkpoint (metres): the batch does not carry the per-frame scale, so
  scale and shift are fitted in depth (:func:`depth_refine_training.losses.align`), then L1.
"""
from __future__ import annotations

import pathlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from depth_refine_training.losses import align, masked_l1

#: depths (per-frame-scale units: metres / the frame's largest low-res depth) an inverse-depth fit uses
#: and targets: ground truth is about 0.1 .. 1; a fitted inverse depth near 0 would give any depth
DEPTH_RANGE = (0.01, 4.0)
KINDS = ("mono", "prompt_depth")


def read_teacher_card(source: str) -> tuple[pathlib.Path, Any]:
    """Resolve and check an imported teacher: ``(directory, its ModelCard)``.

    Args:
        source: a model directory or an installed model name.

    Raises:
        ValueError: not a model directory, not one imported from a ``transformers`` checkpoint, or a
            kind that cannot teach depth (the message says which and what works).
    """
    from depth_refine_ros.data.modeldir import ModelError, read_card, resolve

    what = "teacher must be auto, dsr, de, none or a model directory made by depth-refine import"
    try:
        path = resolve(source)
        card = read_card(path)
    except ModelError as e:
        raise ValueError(f"{what}; {source!r} is none of these: {e}") from None
    imported = card.extra.get("imported") or {}
    if card.kind not in KINDS:
        raise ValueError(f"{what}; {path} is a {card.kind} model, not a foundation depth model "
                         f"(kinds that can teach: {', '.join(KINDS)})")
    if imported.get("format") != "transformers":
        why = ("imported from an ONNX file, it has no torch weights to run in training"
               if imported.get("format") == "onnx" else "not imported (this project's own net)")
        raise ValueError(f"{what} from a transformers checkpoint; {path} is {why}: import the Depth Anything or "
                         "Prompt Depth Anything checkpoint directory instead")
    return path, card


def teacher_record(path: pathlib.Path, card) -> dict[str, Any]:
    """What the exported model's card records about the teacher: its name, kind, output, licence,
    architecture, the sha256 of its weights and of its card, and where it was read from."""
    from depth_refine_ros.data.modeldir import CARD, sha256_file

    imported = card.extra.get("imported") or {}
    weights = card.files.get(card.weights or "model.safetensors")
    return {"path": str(path), "name": card.name, "kind": card.kind, "output": card.units.get("depth_out"),
            "architecture": imported.get("architecture"), "licence": imported.get("licence", "unknown"),
            "params": card.params, "weights_sha256": weights.sha256 if weights else None,
            "card_sha256": sha256_file(path / CARD), "imported_from": imported.get("from")}



def load_graph(path, role: str):
    """The imported model directory's network (``models.foundation.load_imported``), with a failure as a
    ``ValueError`` that names its ``role`` (``teacher``, ``prior_import``) and the directory."""
    from depth_refine_ros.data.modeldir import ModelError
    from depth_refine_ros.models.foundation import load_imported

    try:
        return load_imported(path)
    except ModelError as e:
        raise ValueError(f"{role} {path}: {e}") from None

class FoundationTeacher(nn.Module):
    """The frozen imported model: ``(depth, rgb)`` of a distill batch -> its output at the crop's size.

    Args:
        source: the imported model directory (or installed name).
        long_side: the teacher's input size policy's longer side in pixels (0 = the card's).

    Attributes:
        record: :func:`teacher_record` (for the exported card and the checkpoint).
        output: ``metric`` or ``relative_inverse`` (the card's ``units.depth_out``).
        prompt: whether the model takes the depth prompt.

    Raises:
        ValueError: see :func:`read_teacher_card`; files that fail the card's hashes.
    """

    def __init__(self, source: str, long_side: int = 0) -> None:
        super().__init__()
        from depth_refine_ros.core.foundation import output_kind

        path, card = read_teacher_card(source)
        self.graph = load_graph(path, "teacher")
        self.record = teacher_record(path, card)
        self.output = output_kind(card)
        self.prompt = card.kind == "prompt_depth"
        pol = card.extra.get("input_size") or {}
        self.long_side = int(long_side or pol.get("long_side") or max(card.input_hw or (518,)))
        self.multiple = int(pol.get("multiple") or card.size_multiple or 14)
        self.record["input_long_side"] = self.long_side

    def train(self, mode: bool = True) -> FoundationTeacher:
        """Always eval: the teacher is frozen (distill switches its DENet back to train mode)."""
        return super().train(False)

    def input_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The teacher's input size for a crop of ``hw`` (the card's policy, :attr:`long_side`)."""
        from depth_refine_ros.core.foundation import policy_hw

        return policy_hw(hw, self.long_side, self.multiple)

    @torch.no_grad()
    def forward(self, depth: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """``depth (B, 1, P, P)`` (per-frame-scale units, no holes) and ``rgb (B, 3, P, P)`` in [0, 1],
        float32 -> ``(B, 1, P, P)`` float32: depth in ``depth``'s units (prompt-depth), relative inverse
        depth or metres (monocular), as :attr:`output` says."""
        hw = tuple(rgb.shape[-2:])
        x = F.interpolate(rgb, size=self.input_hw(hw), mode="bilinear", align_corners=False, antialias=True)
        y = self.graph(x, depth) if self.prompt else self.graph(x)
        return F.interpolate(y, size=hw, mode="bilinear", align_corners=False)


def distill_loss(out: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, output: str,
                 prompt: bool) -> torch.Tensor:
    """``L_distill`` of DSRNet against an imported teacher (module docstring).

    Args:
        out: DSRNet's output ``(B, 1, P, P)`` float32, per-frame-scale units (carries the gradient).
        teacher: :class:`FoundationTeacher`'s output, same shape (no gradient).
        mask: ``(B, 1, P, P)`` bool, valid ground truth.
        output: the teacher's output kind, ``metric`` or ``relative_inverse``.
        prompt: the teacher is a prompt-depth model (its metric output is in ``out``'s units).

    Returns:
        A scalar tensor: mean absolute difference in per-frame-scale depth units.
    """
    valid = mask & torch.isfinite(teacher)
    t = torch.nan_to_num(teacher)
    if output == "relative_inverse":
        lo, hi = DEPTH_RANGE
        ref = out.detach()
        inv = align(t, 1 / ref.clamp(lo, hi), valid & (ref >= lo) & (ref <= hi))
        use = valid & (inv >= 1 / hi) & (inv <= 1 / lo)
        return masked_l1(out, 1 / inv.clamp(1 / hi, 1 / lo), use)
    if output == "metric" and prompt:
        return masked_l1(out, t, valid)
    return masked_l1(out, align(t, out.detach(), valid), valid)


def describe_loss(output: str, prompt: bool) -> str:
    """:func:`distill_loss` in words, for the exported card."""
    if output == "relative_inverse":
        return ("L1 to 1 / (the teacher's relative inverse depth fitted to 1 / DSRNet's output: per-image "
                f"least-squares scale and shift), where depth lies in {DEPTH_RANGE[0]:g}..{DEPTH_RANGE[1]:g} x the "
                "frame's largest low-res depth")
    if output == "metric" and prompt:
        return "L1 to the teacher's output (prompt-depth: in DSRNet's units, the prompt's)"
    return "L1 to the teacher's metres fitted to DSRNet's output (per-image least-squares scale and shift)"
