"""Self-ensemble at inference (``flip_ensemble``): the SR network's output averaged with its output on
the mirrored frame."""
import numpy as np
import pytest

from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipelines

pytestmark = pytest.mark.unit


def test_flip_ensemble_averages_the_output_and_the_mirrored_frames_output():
    rng = np.random.default_rng(0)
    # 256 x 192: a multiple of the model's size multiple, so no padding differs between the two runs
    rgb = rng.integers(0, 255, (192, 256, 3), dtype=np.uint8)
    lr = rng.uniform(1.0, 3.0, (48, 64)).astype(np.float32)
    spec = SrPipelineSpec(backend="onnxruntime", model="sr_faster", threads=1)
    plain, _ = build_sr_pipelines(spec)
    ens, _ = build_sr_pipelines(SrPipelineSpec(backend="onnxruntime", model="sr_faster", threads=1,
                                              flip_ensemble=True))
    a = plain.process(rgb, lr).depth
    b = plain.process(np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(lr[:, ::-1])).depth[:, ::-1]
    got = ens.process(rgb, lr).depth
    assert np.abs(a - b).max() > 1e-4  # the net is not mirror-symmetric: the test can tell them apart
    np.testing.assert_allclose(got, 0.5 * (a + b), atol=1e-5)
