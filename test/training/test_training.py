"""The training stack end to end on CPU: a tiny supervised run + export -> a model directory the
runtime loads and runs; config errors; two gloo ranks under torchrun agree on the weights."""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, require_data

from depth_refine_ros.backends import create_backend
from depth_refine_ros.data.modeldir import load_model_dir
from depth_refine_ros.pipeline.sr import Pipeline

pytestmark = [pytest.mark.unit, pytest.mark.slow]
TINY = ROOT / "training" / "configs" / "tiny_cpu.yaml"


def train_cmd(task, out, *extra):
    return [sys.executable, "-m", "depth_refine_training.cli", task, "--config", str(TINY), f"out={out}",
            f"data={require_data('rgbdd')}", "workers=0", "val_limit=2", *extra]


def run(cmd, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "training"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("task", ["sr", "depth_sr", "mono"])
def test_tiny_training_exports_a_model_the_runtime_runs(tmp_path, task):
    overrides = ["steps=4", "val_every=2"] + (["preset=tiny"] if task == "mono" else [])
    run(train_cmd(task, tmp_path / "run", *overrides))
    for f in ("config.yaml", "log.csv", "last.pt", "best.pt", "param_hash_rank0.txt"):
        assert (tmp_path / "run" / f).exists(), f
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 4
    run([sys.executable, "-m", "depth_refine_training.cli", "export", str(tmp_path / "run" / "best.pt"),
         str(tmp_path / "model")])
    md = load_model_dir(tmp_path / "model")
    tr = md.card.training
    assert tr["status"] == "trained" and tr["steps"] == 4 and tr["held_out_groups"] and tr["validation"]
    be = create_backend("onnxruntime", model=str(tmp_path / "model"))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    if task == "mono":
        assert be.infer({"rgb": rgb}, (96, 128))["depth"].shape == (96, 128)
    else:
        res = Pipeline(be).process(rgb if task == "sr" else None, (1 + rng.random((24, 32))).astype(np.float32),
                                   out_hw=(96, 128))
        assert res.depth.shape == (96, 128)


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    run(train_cmd("sr", tmp_path / "run", "steps=2", "val_every=2"))
    r = run(train_cmd("sr", tmp_path / "run", "steps=4", "val_every=2"))
    assert '"step": 4' in r.stdout
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 4  # 2 + 2, not 2 + 4


def test_stop_step_stops_mid_schedule(tmp_path):
    run(train_cmd("sr", tmp_path / "full", "steps=6", "val_every=6"))
    r = run(train_cmd("sr", tmp_path / "cut", "steps=6", "val_every=6", "stop_step=3"))
    assert '"step": 3' in r.stdout  # validated and saved at the stop
    full = (tmp_path / "full" / "log.csv").read_text().splitlines()
    cut = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert len(cut) == 3  # one row per step
    # same learning rate at each step as the uncut run: the cosine is planned for all 6 steps
    assert [row.split(",")[2] for row in cut] == [row.split(",")[2] for row in full[:3]]
    run([sys.executable, "-m", "depth_refine_training.cli", "export", str(tmp_path / "cut" / "last.pt"),
         str(tmp_path / "model")])
    stage = load_model_dir(tmp_path / "model").card.training["stages"][-1]
    assert stage["steps"] == 3 and stage["schedule_steps"] == 6 and stage["scales"]  # the card says how


def test_unknown_config_key_is_a_clear_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "training"))
    r = subprocess.run(train_cmd("sr", tmp_path, "no_such_key=1"), capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "unknown override 'no_such_key'" in r.stderr


def test_two_gloo_ranks_agree(tmp_path):
    port = str(random.randint(20000, 40000))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           "-m", "depth_refine_training.cli", "sr", "--config", str(TINY), f"out={tmp_path}",
           f"data={require_data('rgbdd')}", "workers=0", "val_limit=2", "steps=3", "val_every=3", "batch=4"]
    run(cmd)
    h0 = (tmp_path / "param_hash_rank0.txt").read_text()
    h1 = (tmp_path / "param_hash_rank1.txt").read_text()
    assert h0 == h1 and len(h0) == 64


def test_training_reads_a_rosbag_and_every_layout(tmp_path):
    """The trainer's reader takes a bag (RGB + depth_gt) and the shared layouts, in metres."""
    from depth_refine_training.data import load_frames

    from depth_refine_ros.data.datasets import load_dataset
    from depth_refine_ros.eval.make_bag import build_bag

    src = load_dataset(require_data("rgbdd"), groups={"20200518"}, limit=3)
    build_bag(src, tmp_path / "bag", "mcap")
    frames = load_frames(tmp_path / "bag")
    assert len(frames) == 3 and frames[0].group == "bag" and frames[0].rgb.shape == (384, 512, 3)
    np.testing.assert_allclose(frames[0].depth, src[0].depth, rtol=0, atol=1e-6, equal_nan=True)
    lu = load_frames(require_data("depth_enh/lu"), limit=1)[0]
    assert 0 < np.nanmax(lu.depth) <= 2.55  # disparity levels as pseudo-metres


def test_init_copies_matching_and_grown_tensors(tmp_path):
    """``init``: an rgb+prior net starts from an rgb-only checkpoint; the grown stem keeps the old
    RGB filters in its leading slice and zeros for the prior channel (same function at the start)."""
    import torch
    from depth_refine_training.trainer import load_init

    from depth_refine_ros.models import build_model, config_to_dict, preset_config

    torch.manual_seed(0)
    src = build_model("sr", preset_config("sr", "lite"))
    for p in src.parameters():
        p.data.normal_()
    torch.save({"model": src.state_dict(), "model_config": config_to_dict(src.cfg)}, tmp_path / "src.pt")
    dst = build_model("sr", preset_config("sr", "lite", guidance="rgb+prior"))
    n = load_init(dst, str(tmp_path / "src.pt"))
    assert n == len(src.state_dict())
    assert torch.equal(dst.depth_enc.stem.weight, src.depth_enc.stem.weight)
    assert torch.equal(dst.guide_enc.stem.weight[:, :3], src.guide_enc.stem.weight)
    assert not dst.guide_enc.stem.weight[:, 3:].any()
    with pytest.raises(FileNotFoundError, match="init weights not found"):
        load_init(dst, str(tmp_path / "missing.pt"))


def test_load_init_skip_leaves_a_changed_head_fresh(tmp_path):
    """``init_skip``: lite -> fast copies the U-Net, not the (half-resolution) head, whose zero last
    conv then makes the net exactly its bicubic input."""
    import torch
    from depth_refine_training.trainer import load_init

    from depth_refine_ros.models import build_model, config_to_dict, preset_config

    torch.manual_seed(0)
    src = build_model("sr", preset_config("sr", "lite", fusion="concat"))
    for p in src.parameters():
        p.data.normal_()
    torch.save({"model": src.state_dict(), "model_config": config_to_dict(src.cfg)}, tmp_path / "src.pt")
    dst = build_model("sr", preset_config("sr", "fast")).eval()
    n = load_init(dst, str(tmp_path / "src.pt"), skip=("head",))
    assert n == sum(1 for k in src.state_dict() if not k.startswith("head"))
    assert torch.equal(dst.middle[0].conv1.weight, src.middle[0].conv1.weight)
    depth, rgb = torch.rand(1, 1, 128, 128) + 0.5, torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(dst(depth, rgb), depth)


def test_fine_tune_from_init_and_export_records_both_stages(tmp_path):
    run(train_cmd("sr", tmp_path / "a", "steps=2", "val_every=2"))
    init = f"init={tmp_path / 'a' / 'last.pt'}"
    r = run(train_cmd("sr", tmp_path / "b", "steps=2", "val_every=2", init, "lr=0.0001"))
    assert "init: " in r.stderr
    run([sys.executable, "-m", "depth_refine_training.cli", "export", str(tmp_path / "b" / "last.pt"),
         str(tmp_path / "model")])
    tr = load_model_dir(tmp_path / "model").card.training
    assert tr["steps"] == 4 and [s["steps"] for s in tr["stages"]] == [2, 2]
    assert tr["stages"][0]["init"] is None and tr["stages"][1]["lr"] == 0.0001


def test_grown_guided_net_starts_as_the_depth_only_net(tmp_path):
    """training/experiments/grow_guidance.py: a concat-fused guided net made from a depth-only one
    computes the same output at step 0, whatever the RGB."""
    import importlib.util

    import torch

    from depth_refine_ros.models import build_model, preset_config

    spec = importlib.util.spec_from_file_location("grow", ROOT / "training" / "experiments" / "grow_guidance.py")
    grow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grow)
    torch.manual_seed(0)
    nets = {"depth_sr": build_model("depth_sr", preset_config("depth_sr", "lite")),
            "sr": build_model("sr", preset_config("sr", "lite"))}
    tc = {"data": "x", "val_groups": [], "lr": 1e-3, "batch": 8, "out": "a", "init": ""}
    for kind, net in nets.items():
        for p in net.parameters():
            p.data.normal_(0, 0.1)
        torch.save({"model": net.state_dict(), "preset": "lite", "step": 5, "train_config": tc},
                   tmp_path / f"{kind}.pt")
    grow.grow(str(tmp_path / "depth_sr.pt"), str(tmp_path / "sr.pt"), str(tmp_path / "grown.pt"))
    ck = torch.load(tmp_path / "grown.pt", weights_only=False)
    grown = build_model("sr", ck["model_config"])
    grown.load_state_dict(ck["model"])
    depth = torch.rand(1, 1, 128, 128) + 0.5
    with torch.no_grad():
        want = nets["depth_sr"].eval()(depth)
        for _ in range(2):
            assert torch.allclose(grown.eval()(depth, torch.rand(1, 3, 128, 128)), want, atol=1e-6)
