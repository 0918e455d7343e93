"""Inference backends behind one interface (:class:`~depth_refine_ros.backends.base.Backend`).

Backends are built by name with :func:`create_backend`. Each heavy library (onnxruntime, openvino,
torch, tensorrt) is imported only inside its own module, so this package imports where they are
absent. ``auto`` (:func:`AutoBackend`) picks the fastest engine present, in the order of
:data:`AUTO_ORDER`, and says what it picked and why in ``describe()``.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from importlib import import_module
from typing import Any

from depth_refine_ros.backends.base import Backend, BackendError

LOG = logging.getLogger("depth_refine_ros.backends")

# name -> (module, class); modules are imported lazily so a missing library only matters when
# that backend is asked for.
_REGISTRY: dict[str, tuple[str, str]] = {
    "auto": ("depth_refine_ros.backends", "AutoBackend"),
    "classical": ("depth_refine_ros.backends.classical", "ClassicalBackend"),
    "onnxruntime": ("depth_refine_ros.backends.onnxruntime_backend", "OnnxRuntimeBackend"),
    "openvino": ("depth_refine_ros.backends.openvino_backend", "OpenVinoBackend"),
    "torch": ("depth_refine_ros.backends.torch_backend", "TorchBackend"),
    "tensorrt": ("depth_refine_ros.backends.tensorrt_backend", "TensorRTBackend"),
}

# What ``auto`` tries, fastest first: TensorRT on a CUDA GPU; OpenVINO on the CPU (measured here
# ~1.3-2x ONNX Runtime with bf16); ONNX Runtime, the CPU baseline that is always installed.
AUTO_ORDER = ("tensorrt", "openvino", "onnxruntime")

#: at or below this many usable CPUs a live node's inference leaves one CPU free (see node_threads)
SMALL_MACHINE_CPUS = 4


def node_threads(requested: int, cpus: int | None = None) -> int:
    """Inference threads for a live node's ``backend_threads`` parameter (0 = auto).

    A live node's frame also needs CPU outside inference: DDS receives and sends each frame, and
    the node's Python converts and publishes it. With every CPU in the inference's parallel loops,
    any of that stalls a loop and shows as tail latency. So auto leaves one CPU free on small
    machines (:data:`SMALL_MACHINE_CPUS` or fewer). On larger ones it keeps the library's default,
    one thread per physical core. The live runs behind this are in docs/log/2026-12.md.

    Args:
        requested: the parameter: > 0 is used as is; 0 is auto.
        cpus: usable CPUs (default: this process's CPU affinity).

    Returns:
        Threads for the backend; 0 means the library's default.
    """
    if requested > 0:
        return requested
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus - 1) if cpus <= SMALL_MACHINE_CPUS else 0
# precisions each of them runs (``auto`` precision = the backend's own default)
AUTO_PRECISIONS = {"tensorrt": ("fp16", "fp32"), "openvino": ("fp32", "bf16"), "onnxruntime": ("fp32",)}
# options each takes besides model/device/precision; the task backend's (keep_holes, flip_ensemble) go to all
_AUTO_OPTIONS = {"tensorrt": {"opt_hw", "max_hw", "build", "parity_tol"},
                 "openvino": {"opt_hw", "cache_dir", "parity", "parity_tol", "threads", "background_compile",
                              "rgb_u8", "preload"},
                 "onnxruntime": {"threads"}}
_TASK_OPTIONS = {"keep_holes", "flip_ensemble"}


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


def create_model_backend(backend: str, model: str, device: str = "auto", precision: str = "auto",
                         kinds: tuple[str, ...] = (), **options: Any) -> Backend:
    """A network backend for ``model``; ``backend='classical'`` means the CPU default (onnxruntime).

    Args:
        device, precision: the ``device`` and ``precision`` settings; ``auto`` (the settings' default)
            leaves each backend its own (onnxruntime, torch: cpu/fp32; tensorrt: cuda/fp16; openvino:
            cpu, bf16 where native else fp32), anything else is passed on.
        kinds: accepted model kinds (e.g. ``('sr',)``); another kind is refused by name.
        **options: backend options; ``threads`` (the ``backend_threads`` parameter) is taken by
            onnxruntime, openvino and auto and dropped for torch and tensorrt, so callers can always
            pass it.

    Raises:
        BackendError: as :func:`create_backend`, or a model of the wrong kind.
    """
    name = "onnxruntime" if backend == "classical" else backend
    if name in ("torch", "tensorrt"):
        options.pop("threads", None)
    if name == "auto":
        options["kinds"] = kinds  # checked before any engine is built
    given = {k: v for k, v in (("device", device), ("precision", precision)) if v != "auto"}
    be = create_backend(name, model=model, **given, **options)
    kind = getattr(getattr(be, "model", None), "kind", None)
    if kinds and kind not in kinds:
        raise BackendError(f"model '{model}' is a {kind} model; this needs {' or '.join(kinds)}")
    return be


def _absent(name: str) -> str:
    """Why backend ``name`` cannot run on this machine ('' when its library and device are there).

    Cheap: TensorRT's torch import only happens when TensorRT itself is installed.
    """
    if name == "tensorrt":
        if importlib.util.find_spec("tensorrt") is None:
            return "TensorRT is not installed"
        try:
            import torch
        except ImportError:
            return "torch (TensorRT's device memory) is not installed"
        return "" if torch.cuda.is_available() else "no CUDA GPU visible to torch"
    module = {"openvino": "openvino", "onnxruntime": "onnxruntime"}[name]
    try:
        import_module(module)  # a real import: a broken install counts as absent
    except ImportError as e:
        return f"{module} cannot be imported ({e})"
    return ""


def auto_plan(device: str = "auto", precision: str = "auto") -> tuple[list[str], list[str]]:
    """``(candidates, skipped)`` for ``backend: auto``: backends to try in order, and one line per
    backend left out and why (absent library or GPU, a device or precision it does not run).

    Raises:
        BackendError: an unknown device.
    """
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise BackendError(f"backend auto: device must be auto, cpu or cuda, not '{device}'")
    candidates, skipped = [], []
    for name in AUTO_ORDER:
        if device == "cpu" and name == "tensorrt":
            skipped.append(f"{name}: device cpu asked for")
        elif device.startswith("cuda") and name == "openvino":
            skipped.append(f"{name}: device {device} asked for (openvino runs on the CPU here)")
        elif precision != "auto" and precision not in AUTO_PRECISIONS[name]:
            skipped.append(f"{name}: does not run {precision}")
        elif why := _absent(name):
            skipped.append(f"{name}: {why}")
        else:
            candidates.append(name)
    return candidates, skipped


def AutoBackend(model: str = "", device: str = "auto", precision: str = "auto",
                kinds: tuple[str, ...] = (), **options: Any) -> Backend:
    """``backend: auto``: the first of :data:`AUTO_ORDER` that is present and starts.

    TensorRT where a CUDA GPU and TensorRT are present, else OpenVINO where it is installed, else
    ONNX Runtime. A present backend that fails to start (e.g. its start-up parity check) is logged
    and the next one is tried. The result is the chosen backend itself; its ``selection`` (shown
    at the end of ``describe()``) says what was picked and why.

    Args:
        device: ``auto`` (any), ``cpu`` (no TensorRT) or ``cuda`` (no OpenVINO).
        precision: ``auto`` (each backend's default: tensorrt fp16, openvino bf16 where native
            else fp32, onnxruntime fp32) or one precision (only backends that run it are tried).
        kinds: accepted model kinds, checked before any engine is built.
        **options: passed to the backends that take them (threads, opt_hw, cache_dir, keep_holes...).

    Raises:
        BackendError: the model is refused, or no backend could start (the message lists why each
            was left out or failed).
    """
    from depth_refine_ros.backends.net import load_for_engine
    from depth_refine_ros.data.modeldir import GRAPH

    md = load_for_engine(model, (GRAPH,))  # a model error is the model's, not a reason to switch engines
    if kinds and md.kind not in kinds:
        raise BackendError(f"model '{model}' is a {md.kind} model; this needs {' or '.join(kinds)}")
    candidates, notes = auto_plan(device, precision)
    for name in candidates:
        opts = {k: v for k, v in options.items() if k in _AUTO_OPTIONS[name] | _TASK_OPTIONS or
                k not in set().union(*_AUTO_OPTIONS.values())}
        given = {k: v for k, v in (("device", device), ("precision", precision)) if v != "auto"}
        try:
            be = create_backend(name, model=md, **given, **opts)  # loaded and verified once, above
        except BackendError as e:
            LOG.warning("backend auto: %s is present but failed to start: %s", name, e)
            notes.append(f"{name}: failed to start ({e})")
            continue
        be.selection = f"picked {name}, the first present of {' > '.join(AUTO_ORDER)}" + (
            f" ({'; '.join(notes)})" if notes else "")
        LOG.info("backend auto: %s", be.selection)
        return be
    raise BackendError(f"backend auto: no backend could run {md.name} ({'; '.join(notes)})")


__all__ = ["AUTO_ORDER", "AutoBackend", "Backend", "BackendError", "auto_plan", "available_backends",
           "create_backend", "create_model_backend"]
