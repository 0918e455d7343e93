"""The ``torch`` backend: rebuilds the network from the card and loads ``model.safetensors``."""
from __future__ import annotations

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import Engine, NetBackend, load_for_engine, task_backend
from depth_refine_ros.data.modeldir import WEIGHTS, ModelDir, ModelError

INSTALL = "pip install torch (CPU: torch==2.13.0 here; CUDA: a CUDA build from pytorch.org) safetensors"


class TorchEngine(Engine):
    """Eager PyTorch inference.

    Args:
        model: verified model directory.
        device: ``cpu`` or ``cuda`` (``cuda:N`` too).
        precision: ``fp32``, or ``fp16`` (CUDA only: CPU half-precision convolutions are slower
            than fp32 and not what anyone deploys).
    """

    name = "torch"

    def __init__(self, model: ModelDir, device: str = "cpu", precision: str = "fp32") -> None:
        try:
            import torch

            from depth_refine_ros.models.export import load_torch_model
        except ImportError as e:
            raise BackendError(f"the torch backend needs torch and safetensors: {INSTALL}") from e
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device}: this torch ({torch.__version__}) sees no CUDA GPU")
        if device != "cpu" and not device.startswith("cuda"):
            raise BackendError(f"torch device must be cpu or cuda[:N], not '{device}'")
        if precision not in ("fp32", "fp16"):
            raise BackendError(f"torch precision must be fp32 or fp16, not '{precision}'")
        if precision == "fp16" and device == "cpu":
            raise BackendError("torch fp16 needs device cuda (use fp32 on the CPU)")
        try:
            net = load_torch_model(model, device)
        except ModelError as e:
            raise BackendError(f"model refused: {e}") from e
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise BackendError(f"{model.weights_path}: cannot load weights: {e}") from e
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.net = net.to(self.dtype)
        self.device, self.precision, self.inputs = device, precision, model.inputs
        self._torch = torch

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(feeds[n]).to(self.device, self.dtype) for n in self.inputs]
        with torch.inference_mode():
            out = self.net(*args)
        outs = out if isinstance(out, tuple | list) else (out,)
        return [o.float().cpu().numpy() for o in outs]

    def describe(self) -> str:
        return f"{self.device} {self.precision}"


def TorchBackend(model: str = "", device: str = "cpu", precision: str = "fp32", **options) -> NetBackend:
    """Build the torch backend for an installed model name or model directory."""
    md = load_for_engine(model, (WEIGHTS,))
    if "imported" in md.card.extra:  # docs/foundation_models.md: the runtime never imports transformers
        raise BackendError(f"{md.name} is an imported foundation model: it runs its ONNX graph (backend "
                           "onnxruntime, openvino, tensorrt or auto), not the torch backend")
    return task_backend(md, TorchEngine(md, device, precision), **options)
