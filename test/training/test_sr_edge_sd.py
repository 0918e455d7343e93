"""SDDR's edge self-distillation for the SR net (``w_edge_sd``, issue 12): the pseudo-label of a step
edge lies on the edge, and the trainer runs with the term on."""
import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, require_data
from depth_refine_training import sr_edge_sd
from depth_refine_training.sddr import edge_regions

from depth_refine_ros.models import build_model, preset_config

pytestmark = pytest.mark.unit


def step_edge(b: int = 2, hw: int = 128, at: float = 63.5) -> torch.Tensor:
    """``(b, 1, hw, hw)`` depth 0.5 left of column ``at``, 1.0 right of it (a 1 px sigmoid ramp)."""
    row = 0.5 + 0.5 / (1 + np.exp(-(np.arange(hw) - at)))
    return torch.tensor(np.tile(row, (hw, 1)), dtype=torch.float32)[None, None].repeat(b, 1, 1, 1)


def test_pseudo_label_of_a_step_edge_lies_on_the_edge():
    torch.manual_seed(0)
    model = build_model("sr", preset_config("sr", "fast"))  # untrained: its output is the input
    d = step_edge()
    rgb = d.repeat(1, 3, 1, 1)
    pred = model(d, rgb)
    gs = sr_edge_sd.pseudo_labels(model, d, rgb, pred)
    assert gs.shape == (2, 128, 128) and gs.dtype == np.float32 and np.isfinite(gs).all()
    for g in gs:
        lab = edge_regions(g, 0.05)
        assert lab.max() >= 1
        cols = np.nonzero(lab)[1]
        assert np.abs(cols - 63.5).max() <= 4.5, "top-5 % regions off the edge"
    loss = sr_edge_sd.edge_sd_loss(model, d, rgb, pred)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()  # differentiable through the net's gradient map
    assert any(p.grad is not None for p in model.parameters())


@pytest.mark.slow
def test_trainer_runs_with_the_edge_self_distillation_term(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "depth_refine_training.cli", "sr",
           "--config", str(ROOT / "training" / "configs" / "tiny_cpu.yaml"), f"out={out}",
           f"data={require_data('rgbdd')}", "preset=fast", "patch=64", "batch=2", "steps=3", "val_every=3",
           "val_limit=1", "workers=0", "w_edge_sd=0.5", "edge_sd_every=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "training"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.reader((out / "log.csv").open()))
    assert len(rows) == 3 and all(math.isfinite(float(row[1])) for row in rows)
    assert "edge_sd" in r.stderr
