"""``depth-refine-train adapt``: self-supervised adaptation of an SR model to a bag, end to end on CPU.

A small bag made from ../shared/data (with a ground-truth topic, which adapt must not read), a few
steps on the shipped ``sr_lite``; the model directory loads, its card records the adaptation, the
self-supervised loss on the validation frames went down; a bag without the needed topics is refused
with a message naming them.
"""
import json
import pathlib

import numpy as np
import pytest
import torch
from conftest import require_data
from depth_refine_training import adapt as ad
from depth_refine_training import cli

from depth_refine_ros.data.modeldir import load_model_dir

FAST = ["steps=8", "batch=2", "patch=128", "lr=1e-3", "sensor=point:0"]


@pytest.mark.unit
def test_sensor_models_sample_as_named():
    x = torch.arange(8 * 12, dtype=torch.float32).reshape(1, 1, 8, 12)
    assert torch.equal(ad.sensor_downsample(x, (2, 3), "point:0"), x[..., ::4, ::4])  # core.degrade.nearest
    assert torch.equal(ad.sensor_downsample(x, (2, 3), "point"), x[..., 2::4, 2::4])  # core.degrade.tof's centre
    blocks = x.reshape(1, 1, 2, 4, 3, 4).mean((3, 5))
    assert torch.allclose(ad.sensor_downsample(x, (2, 3), "area"), blocks)
    with pytest.raises(ValueError, match="point:"):
        ad.sensor_downsample(x, (2, 3), "point:1.5")


@pytest.mark.unit
def test_crops_fall_on_the_low_res_grid_at_a_rational_scale():
    """192 -> 512 (x8/3, the phone ToF): crops start on multiples of 8 output px = 3 low-res px."""
    H, W, h, w = 48, 64, 18, 24
    up = np.tile(np.arange(W, dtype=np.float32), (H, 1))
    lr = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    f = ad.AdaptFrame(0, up, np.zeros((3, H, W), np.float32), lr, np.ones((h, w), bool), 1.0)
    c = ad.Crops([f], 32, seed=0)
    assert (c.ch, c.cw) == (32, 32)
    for _ in range(5):
        u, _, low, valid = c.batch(1)
        assert low.shape[-2:] == (12, 12) and valid.all()
        assert u[0, 0, 0, 0] == low[0, 0, 0, 0] * 8 / 3  # same place on both grids


@pytest.mark.unit
@pytest.mark.parametrize("depth_hw, ok", [((120, 160), True), ((120, 162), True), ((120, 164), False),
                                          ((90, 160), False)])
def test_adapt_takes_the_aspect_ratios_sr_node_takes(monkeypatch, depth_hw, ok):
    """One check (core.sampling.aspect_mismatch, 2 %) for adapt's bag and the node's pipeline: 162 px
    wide (1.2 % off 4:3, refused by adapt's old 1 %) passes both, 164 px (2.4 %) and 16:9 are refused by
    both, with both sizes and the two scales in the message."""
    from depth_refine_ros.backends import create_backend
    from depth_refine_ros.core.sampling import ASPECT_TOLERANCE, aspect_mismatch
    from depth_refine_ros.data import bags as bagmod
    from depth_refine_ros.pipeline.sr import InputError, Pipeline

    rgb_hw = (480, 640)
    why = aspect_mismatch(rgb_hw, depth_hw)
    assert ASPECT_TOLERANCE == 0.02 and (why is None) == ok
    frame = bagmod.Decoded(0, np.zeros((*rgb_hw, 3), np.uint8), np.full(depth_hw, 2.0, np.float32), None, None)
    monkeypatch.setattr(bagmod, "read_bag", lambda *a, **k: None)
    monkeypatch.setattr(bagmod, "decode", lambda contents, log=None: ([frame], {}))
    pipe = Pipeline(create_backend("classical"))
    if ok:
        frames, info = ad.load_bag_frames("bag")
        assert len(frames) == 1 and info["depth_hw"] == list(depth_hw)
        assert pipe.output_size(rgb_hw, depth_hw) == rgb_hw
        return
    sizes = f"rgb 640x480 and depth {depth_hw[1]}x{depth_hw[0]}"
    assert sizes in why and f"scale x {640 / depth_hw[1]:.3f} vs y {480 / depth_hw[0]:.3f}" in why
    with pytest.raises(ad.AdaptError) as e:
        ad.load_bag_frames("bag")
    assert why in str(e.value) and "registered to the RGB" in str(e.value)
    with pytest.raises(InputError) as e:
        pipe.output_size(rgb_hw, depth_hw)
    assert e.value.reason == "aspect_mismatch" and why in str(e.value)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    from depth_refine_ros.data.bags import BagWriter, read_bag
    from depth_refine_ros.data.datasets import load_dataset
    from depth_refine_ros.eval.make_bag import build_bag

    tmp = tmp_path_factory.mktemp("adapt")
    frames = load_dataset(require_data("rgbdd"), groups={"20200518"}, limit=3)
    good = tmp / "bag"
    build_bag(frames, good, degradation="nearest", scale=4)  # with depth_gt/image: adapt must ignore it
    no_depth = tmp / "rgb_only"
    with BagWriter(no_depth) as w:
        for key, t, msg in read_bag(good, keep_messages=True).messages:
            if key == "rgb":
                w.write("rgb/image", msg, t)
    return good, no_depth


@pytest.mark.unit
@pytest.mark.slow
def test_adapt_writes_a_model_whose_card_records_it_and_never_reads_ground_truth(bags, tmp_path, monkeypatch, capsys):
    from depth_refine_ros.data import bags as bagmod

    seen = []
    real_read = bagmod.read_bag

    def spy(path, topics=None, **kw):
        topics = topics or bagmod.Topics()
        contents = real_read(path, topics=topics, **kw)
        seen.append((topics.gt, [f.gt for f in contents.frames]))
        return contents

    monkeypatch.setattr(bagmod, "read_bag", spy)
    good, _ = bags
    assert "depth_gt/image" in real_read(good).counts  # the bag has ground truth ...
    out = tmp_path / "adapted"
    rc = cli.main(["adapt", f"bag={good}", "model=sr_lite", f"out={out}", *FAST])
    cap = capsys.readouterr()
    assert rc == 0, cap.err[-2000:]
    assert seen and all(gt is None for _, gts in seen for gt in gts)  # ... and adapt never read it
    assert "ETA" in cap.err and "cons" in cap.err  # the progress bar
    result = json.loads(cap.out.strip().splitlines()[-1])

    md = load_model_dir(out)
    tr = md.card.training
    a = tr["adaptation"]
    assert tr["status"] == "adapted" and md.kind == "sr"
    assert a["source_model"]["name"] == "sr_lite" and len(a["source_model"]["weights_sha256"]) == 64
    assert a["bag"]["path"] == str(good.resolve()) and a["bag"]["bytes"] > 0
    assert all(len(v["sha256"]) == 64 for v in a["bag"]["files"].values())
    assert a["frames_adapted"] == 3 and a["steps"] == 8 and a["sensor_model"] == "point:0"
    assert set(a["weights"]) == {"cons", "edge", "anchor"} and set(a["losses"]) == set(a["weights"])
    assert a["ground_truth_used"] is False and a["date"] and a["scale"] == 4
    assert tr["stages"][-1]["steps"] == 8 and "adapt" in tr["stages"][-1]["note"]
    # the self-supervised objective on the validation frames went down
    assert a["validation_after"]["total"] < a["validation_before"]["total"], a
    assert result["validation_after"] == a["validation_after"]
    # the weights changed, and the graph the runtime runs is the adapted one
    import onnxruntime as ort
    src, dst = load_model_dir("sr_lite"), md
    assert src.sha256("model.safetensors") != dst.sha256("model.safetensors")
    feeds = {"depth": np.full((1, 1, 64, 64), 0.5, np.float32), "rgb": np.zeros((1, 3, 64, 64), np.float32)}
    assert ort.InferenceSession(str(md.graph_path)).run(None, feeds)[0].shape == (1, 1, 64, 64)


@pytest.mark.unit
@pytest.mark.slow
def test_make_bag_without_ground_truth(tmp_path):
    """``make-bag --no-gt``: the bag a robot records (what adapt is for)."""
    from depth_refine_ros.data.bags import read_bag
    from depth_refine_ros.data.datasets import load_dataset
    from depth_refine_ros.eval.make_bag import build_bag

    frames = load_dataset(require_data("rgbdd"), groups={"20200518"}, limit=1)
    build_bag(frames, tmp_path / "bag", degradation="nearest", with_gt=False)
    counts = read_bag(tmp_path / "bag").counts
    assert counts["depth_lr/image"] == counts["rgb/image"] == 1 and "depth_gt/image" not in counts


@pytest.mark.unit
@pytest.mark.slow
def test_adapt_refuses_a_bag_without_the_needed_topics(bags, tmp_path, capsys):
    _, no_depth = bags
    rc = cli.main(["adapt", f"bag={no_depth}", "model=sr_lite", f"out={tmp_path / 'm'}", *FAST])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no 'depth_lr/image' topic" in err and "rgb/image" in err and "ground truth is not used" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.unit
def test_adapt_refuses_a_model_that_is_not_sr(tmp_path, capsys):
    rc = cli.main(["adapt", f"bag={tmp_path}", "model=mono_small", f"out={tmp_path / 'm'}"])
    assert rc == 2 and "fine-tunes SR models" in capsys.readouterr().err
    assert not pathlib.Path(tmp_path / "m").exists()
