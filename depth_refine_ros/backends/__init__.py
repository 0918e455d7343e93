"""Inference backends behind one interface (:class:`~depth_refine_ros.backends.base.Backend`).

Backends are built by name with :func:`create_backend`. Each heavy library (onnxruntime, torch,
tensorrt) is imported only inside its own module, so this package imports where they are absent.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from depth_refine_ros.backends.base import Backend, BackendError

# name -> (module, class); modules are imported lazily so a missing library only matters when
# that backend is asked for.
_REGISTRY: dict[str, tuple[str, str]] = {
    "classical": ("depth_refine_ros.backends.classical", "ClassicalBackend"),
    "onnxruntime": ("depth_refine_ros.backends.onnxruntime_backend", "OnnxRuntimeBackend"),
    "torch": ("depth_refine_ros.backends.torch_backend", "TorchBackend"),
    "tensorrt": ("depth_refine_ros.backends.tensorrt_backend", "TensorRTBackend"),
}


def available_backends() -> list[str]:
    """Names accepted by :func:`create_backend`."""
    return sorted(_REGISTRY)


def create_backend(name: str, **options: Any) -> Backend:
    """Build a backend by name.

    Args:
        name: one of :func:`available_backends`.
        **options: backend-specific options (see each backend's docstring).

    Raises:
        BackendError: unknown name, bad options, or the backend's library is missing (the
            message says how to install it).
    """
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend '{name}' (available: {', '.join(available_backends())})")
    module, cls = _REGISTRY[name]
    return getattr(import_module(module), cls)(**options)


def create_model_backend(backend: str, model: str, device: str = "cpu", precision: str = "fp32",
                         kinds: tuple[str, ...] = (), **options: Any) -> Backend:
    """A network backend for ``model``; ``backend='classical'`` means the CPU default (onnxruntime).

    Args:
        kinds: accepted model kinds (e.g. ``('sr',)``); another kind is refused by name.

    Raises:
        BackendError: as :func:`create_backend`, or a model of the wrong kind.
    """
    name = "onnxruntime" if backend == "classical" else backend
    be = create_backend(name, model=model, device=device, precision=precision, **options)
    kind = getattr(getattr(be, "model", None), "kind", None)
    if kinds and kind not in kinds:
        raise BackendError(f"model '{model}' is a {kind} model; this needs {' or '.join(kinds)}")
    return be


__all__ = ["Backend", "BackendError", "available_backends", "create_backend", "create_model_backend"]
