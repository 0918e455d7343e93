"""torch vs ONNX Runtime parity for every model kind and preset, at two input sizes, through the
same backends the nodes use; TensorRT where it and a GPU exist.

Tolerance: max |torch - ORT| <= 1e-4 x (output range + 1e-3). fp32 on both sides; what differs is
op fusion and summation order, which stays far below that (measured: about 1e-7 relative).
OpenVINO fp32 is held to the same tolerance; OpenVINO bf16 (shipped models, where the CPU has native
bf16) to the backend's documented start-up tolerance, ``openvino_backend.PARITY_TOL['bf16']``.
"""
import importlib.util

import numpy as np
import pytest
from modelkit import make_model_dir

from depth_refine_ros.backends.net import Engine
from depth_refine_ros.backends.onnxruntime_backend import OrtEngine
from depth_refine_ros.backends.torch_backend import TorchEngine
from depth_refine_ros.data.modeldir import load_model_dir
from depth_refine_ros.models import REGISTRY

pytestmark = [pytest.mark.unit, pytest.mark.slow]
CASES = [(k, p) for k, v in REGISTRY.items() for p in v.presets]
TOL = 1e-4


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def _feeds(md, hw, seed):
    rng = np.random.default_rng(seed)
    return {n: (0.1 + 0.8 * rng.random((1, 3 if n == "rgb" else 1, *hw))).astype(np.float32) for n in md.inputs}


def _compare(a: Engine, b: Engine, md, hw, seed):
    feeds = _feeds(md, hw, seed)
    for name, x, y in zip(md.outputs, a.run(feeds), b.run(feeds), strict=True):
        assert x.shape == y.shape, name
        err = float(np.max(np.abs(x - y)))
        assert err <= TOL * (np.ptp(x) + 1e-3), f"{md.name} {name} at {hw}: max error {err:.3g}"


@pytest.mark.parametrize("kind,preset", CASES)
def test_torch_and_onnxruntime_agree_at_two_sizes(model_root, kind, preset):
    md = load_model_dir(make_model_dir(model_root, kind, preset))
    ort, tch = OrtEngine(md), TorchEngine(md)
    m = md.size_multiple
    for i, hw in enumerate([(2 * m, 3 * m), (3 * m, 5 * m)]):
        _compare(tch, ort, md, hw, i)


def test_concat_fusion_and_prior_variants_agree(model_root):
    for overrides in ({"fusion": "concat"}, {"guidance": "rgb+prior"}):
        md = load_model_dir(make_model_dir(model_root, "sr", "lite", **overrides))
        _compare(TorchEngine(md), OrtEngine(md), md, (128, 192), 0)


def _tensorrt_reason() -> str:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install tensorrt; needs an NVIDIA GPU)"
    import torch
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    return ""


@pytest.mark.skipif(bool(_tensorrt_reason()), reason=_tensorrt_reason() or "n/a")
def test_tensorrt_matches_onnxruntime(model_root):
    from depth_refine_ros.backends.tensorrt_backend import TrtEngine

    md = load_model_dir(make_model_dir(model_root, "sr", "lite"))
    trt = TrtEngine(md, "fp32", opt_hw=(256, 320), max_hw=(512, 640))  # checks parity at start-up too
    _compare(trt, OrtEngine(md), md, (256, 320), 0)


def _openvino_reason() -> str:
    return "" if importlib.util.find_spec("openvino") else "OpenVINO is not installed (pip install openvino)"


@pytest.mark.skipif(bool(_openvino_reason()), reason=_openvino_reason() or "n/a")
@pytest.mark.parametrize("kind,preset", CASES)
def test_openvino_fp32_and_onnxruntime_agree_at_two_sizes(model_root, tmp_path, kind, preset):
    from depth_refine_ros.backends.openvino_backend import OvEngine

    md = load_model_dir(make_model_dir(model_root, kind, preset))
    ov = OvEngine(md, "fp32", opt_hw=None, cache_dir=tmp_path, parity=False)  # one static compile per size
    m = md.size_multiple
    for i, hw in enumerate([(2 * m, 3 * m), (3 * m, 5 * m)]):
        _compare(ov, OrtEngine(md), md, hw, i)


@pytest.mark.skipif(bool(_openvino_reason()), reason=_openvino_reason() or "n/a")
@pytest.mark.parametrize("name", ["sr_lite", "depth_sr_lite", "sr_lite_tof", "mono_small"])
def test_openvino_shipped_models_within_documented_tolerance(tmp_path, name):
    """The start-up check's numbers on the shipped models, per precision (fp32 always; bf16 where native)."""
    from depth_refine_ros.backends.openvino_backend import PARITY_TOL, OvEngine, native_bf16

    md = load_model_dir(name)
    precisions = ["fp32"] + (["bf16"] if native_bf16()[0] else [])
    for precision in precisions:
        # opt_hw 256x320 output -> 256x320 graph input; the engine raises if over PARITY_TOL
        eng = OvEngine(md, precision, opt_hw=(256, 320), cache_dir=tmp_path)
        (err,) = eng.parity_err.values()
        assert err <= PARITY_TOL[precision], f"{name} {precision}: {err:.3g}"
        if precision == "bf16":
            assert err > 10 * max(OvEngine(md, "fp32", opt_hw=(256, 320), cache_dir=tmp_path).parity_err.values())
