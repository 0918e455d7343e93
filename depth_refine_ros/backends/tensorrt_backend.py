"""The ``tensorrt`` backend: an fp16 (or fp32) engine built from the model's ONNX graph.

Engines are cached next to the model in ``<model>/trt_cache/<key>.engine``; the key hashes the
TensorRT version, the GPU name, the ONNX file's sha256, the precision and the shape profile, so a
changed graph, GPU, TensorRT or profile never silently reuses a stale engine. A missing engine is
built only when ``build='if_missing'`` (the default; logged loudly with the key and how long it
took) and never when ``build='never'`` (then it is an error naming ``depth-refine build-engine``).

At start-up the engine is run on a fixed input and compared with ONNX Runtime on the same graph;
when the outputs disagree by more than ``parity_tol`` (relative to the output's range) the
backend refuses to run. Device memory comes from torch (a CUDA torch is the usual companion of
TensorRT on Jetson and RTX machines).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import Engine, NetBackend, load_for_engine, task_backend
from depth_refine_ros.core.net_input import padded_size
from depth_refine_ros.data.modeldir import GRAPH, ModelDir

INSTALL = ("TensorRT's Python package (pip install tensorrt, or JetPack's python3-libnvinfer) and a "
           "CUDA build of torch")
LOG = logging.getLogger("depth_refine_ros.tensorrt")


def profile_shapes(model: ModelDir, opt_hw: tuple[int, int], max_hw: tuple[int, int]) -> dict:
    """Min/opt/max (H, W) of the optimisation profile, rounded to the model's size multiple."""
    m = model.size_multiple
    return {"min": [m, m], "opt": list(padded_size(opt_hw, m)), "max": list(padded_size(max_hw, m))}


def cache_key(trt_version: str, gpu: str, onnx_sha256: str, precision: str, profile: dict) -> str:
    """The engine cache key (hex): everything that makes an engine invalid when it changes."""
    blob = json.dumps({"trt": trt_version, "gpu": gpu, "onnx": onnx_sha256, "precision": precision,
                       "profile": profile}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class TrtEngine(Engine):
    """TensorRT execution of a model's graph (see the module docstring)."""

    name = "tensorrt"

    def __init__(self, model: ModelDir, precision: str = "fp16", opt_hw: tuple[int, int] = (480, 640),
                 max_hw: tuple[int, int] = (1088, 1920), build: str = "if_missing",
                 parity_tol: float = 0.02) -> None:
        try:
            import tensorrt as trt
            import torch
        except ImportError as e:
            raise BackendError(f"the tensorrt backend needs {INSTALL}: {e}") from e
        if not torch.cuda.is_available():
            raise BackendError("the tensorrt backend needs a CUDA GPU visible to torch")
        if precision not in ("fp16", "fp32"):
            raise BackendError(f"tensorrt precision must be fp16 or fp32, not '{precision}'")
        self.trt, self.torch, self.model, self.precision = trt, torch, model, precision
        self.logger = trt.Logger(trt.Logger.WARNING)
        gpu = torch.cuda.get_device_name(0)
        self.profile = profile_shapes(model, opt_hw, max_hw)
        key = cache_key(trt.__version__, gpu, model.sha256(GRAPH), precision, self.profile)
        self.engine_path = model.path / "trt_cache" / f"{key}.engine"
        if not self.engine_path.is_file():
            if build != "if_missing":
                raise BackendError(f"no TensorRT engine {self.engine_path} for this GPU/TensorRT/graph/"
                                   f"profile; build it with `depth-refine build-engine {model.path}`")
            self._build(gpu)
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise BackendError(f"{self.engine_path}: TensorRT cannot deserialise the engine (delete it to rebuild)")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self._check_parity(parity_tol)

    def _build(self, gpu: str) -> None:
        trt = self.trt
        LOG.warning("building TensorRT engine %s (%s, %s, profile %s) from %s: this takes minutes, once",
                    self.engine_path.name, gpu, self.precision, self.profile, self.model.graph_path)
        t0 = time.monotonic()
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(self.model.graph_path.read_bytes()):
            errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"{self.model.graph_path}: TensorRT cannot parse the graph: {errs}")
        config = builder.create_builder_config()
        if self.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        prof = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            t = network.get_input(i)
            c = t.shape[1]
            prof.set_shape(t.name, *[(1, c, *self.profile[k]) for k in ("min", "opt", "max")])
        config.add_optimization_profile(prof)
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise BackendError(f"TensorRT failed to build an engine from {self.model.graph_path}")
        self.engine_path.parent.mkdir(exist_ok=True)
        tmp = self.engine_path.with_suffix(".tmp")
        tmp.write_bytes(bytes(blob))
        tmp.rename(self.engine_path)  # atomic: a killed build never leaves a half engine behind
        LOG.warning("built %s in %.0f s", self.engine_path, time.monotonic() - t0)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        outs = []
        keep = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            if self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT:
                x = torch.from_numpy(np.ascontiguousarray(feeds[name])).cuda()
                keep.append(x)
                self.context.set_input_shape(name, tuple(x.shape))
                self.context.set_tensor_address(name, x.data_ptr())
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            if self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.OUTPUT:
                y = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=torch.float32, device="cuda")
                outs.append(y)
                self.context.set_tensor_address(name, y.data_ptr())
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise BackendError("TensorRT execution failed")
        self.stream.synchronize()
        return [y.cpu().numpy() for y in outs]

    def _check_parity(self, tol: float) -> None:
        from depth_refine_ros.backends.onnxruntime_backend import OrtEngine

        rng = np.random.default_rng(0)
        h, w = self.profile["opt"]
        feeds = {n: (0.1 + 0.8 * rng.random((1, 3 if n == "rgb" else 1, h, w))).astype(np.float32)
                 for n in self.model.inputs}
        ref = OrtEngine(self.model).run(feeds)
        got = self.run(feeds)
        for name, r, g in zip(self.model.outputs, ref, got, strict=True):
            err = float(np.max(np.abs(r - g)) / (np.ptp(r) + 1e-6))
            if not np.isfinite(err) or err > tol:
                raise BackendError(f"TensorRT {self.precision} output '{name}' differs from ONNX Runtime by "
                                   f"{err:.4f} of its range (> {tol}): refusing to run this engine")

    def describe(self) -> str:
        return f"{self.torch.cuda.get_device_name(0)} {self.precision} (engine {self.engine_path.name})"


def TensorRTBackend(model: str = "", device: str = "cuda", precision: str = "fp16", **options) -> NetBackend:
    """Build the tensorrt backend (options: opt_hw, max_hw, build, parity_tol, keep_holes)."""
    if device not in ("cuda", "cuda:0"):
        raise BackendError(f"tensorrt runs on the GPU (device cuda), not '{device}'")
    md = load_for_engine(model, (GRAPH,))
    engine_opts = {k: options.pop(k) for k in ("opt_hw", "max_hw", "build", "parity_tol") if k in options}
    return task_backend(md, TrtEngine(md, precision, **engine_opts), **options)
