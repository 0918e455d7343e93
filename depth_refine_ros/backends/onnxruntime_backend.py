"""The ``onnxruntime`` backend (the CPU default): runs a model directory's ``model.onnx``."""
from __future__ import annotations

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import Engine, NetBackend, load_for_engine, task_backend
from depth_refine_ros.data.modeldir import GRAPH, ModelDir

INSTALL = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA execution provider)"


class OrtEngine(Engine):
    """ONNX Runtime session over the model's graph.

    Args:
        model: verified model directory.
        device: ``cpu``, or ``cuda`` (needs onnxruntime-gpu's CUDAExecutionProvider).
        threads: intra-op threads (0 = ONNX Runtime's default: one per physical core).
    """

    name = "onnxruntime"

    def __init__(self, model: ModelDir, device: str = "cpu", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendError(f"the onnxruntime backend needs onnxruntime: {INSTALL}") from e
        available = ort.get_available_providers()
        if device == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise BackendError(f"device cuda: onnxruntime has no CUDAExecutionProvider (has "
                                   f"{', '.join(available)}); {INSTALL}")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "cpu":
            providers = ["CPUExecutionProvider"]
        else:
            raise BackendError(f"onnxruntime device must be cpu or cuda, not '{device}'")
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.log_severity_level = 3
        # Worker threads that spin between runs take the CPU DDS and the node's Python need between
        # frames: live at 15 Hz on 2 cores (sr_fast, 2 threads) spinning dropped 30 of 150 frames
        # (median 103 ms), not spinning none (median 54 ms); offline it was no slower either.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(model.graph_path), so, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for bad graphs
            raise BackendError(f"{model.graph_path}: ONNX Runtime cannot load the graph: {e}") from e
        self.device = device
        self.providers = self.session.get_providers()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)

    def describe(self) -> str:
        return f"{self.providers[0]} fp32"


def OnnxRuntimeBackend(model: str = "", device: str = "cpu", precision: str = "fp32", threads: int = 0,
                       **options) -> NetBackend:
    """Build the onnxruntime backend for an installed model name or model directory.

    Raises:
        BackendError: missing library, model refused, or fp16 asked for (the graph is fp32).
    """
    if precision != "fp32":
        raise BackendError(f"onnxruntime runs the fp32 graph; precision {precision} needs the torch "
                           "(cuda) or tensorrt backend")
    md = load_for_engine(model, (GRAPH,))
    return task_backend(md, OrtEngine(md, device, threads), **options)
