"""Print the Seed 004 ablation table from mono_ablation_cpu.sh's run folders (markdown).

Usage: ``python training/experiments/mono_ablation_table.py runs/mono_ablation``

Per run folder ``<arm>_s<seed>``: the held-out metrics its trainer stored with ``last.pt`` (AbsRel,
RMSE in metres, delta1 on every frame of the held-out days), the parameter count, and the torch CPU
latency of one ``(1, 3, H, W)`` frame at the run's input size with one thread (the fastest of 200
runs after 5 warm-up runs, eval mode, no autograd: on a machine shared with other jobs the minimum
is the least disturbed estimate; the median moved by 2-3x between two calls here).
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
import torch

from depth_refine_ros.models import build_model, config_from_dict
from depth_refine_ros.models.mono_net import MONO_ABLATION


@torch.no_grad()
def cpu_ms_per_frame(model: torch.nn.Module, hw: tuple[int, int], runs: int = 200) -> float:
    """Fastest wall time (ms) of one forward pass of a ``(1, 3, H, W) float32`` frame."""
    model.eval()
    x = torch.rand(1, 3, *hw)
    for _ in range(5):
        model(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t)
    return float(np.min(times) * 1000)


def main(root: str) -> int:
    """Print one row per finished run, in the ablation's arm order, then seed."""
    torch.set_num_threads(1)
    order = {a: i for i, a in enumerate(MONO_ABLATION)}
    runs = [p for p in pathlib.Path(root).iterdir() if (p / "last.pt").exists()]
    runs.sort(key=lambda p: (order.get(p.name.rsplit("_s", 1)[0], 99), p.name))
    print("| arm | seed | steps | params | CPU ms/frame | AbsRel | RMSE (m) | delta1 |")
    print("|---|---|---|---|---|---|---|---|")
    for p in runs:
        ck = torch.load(p / "last.pt", map_location="cpu", weights_only=False)
        cfg = config_from_dict("mono", ck["model_config"])
        model = build_model("mono", cfg)
        model.load_state_dict(ck["model"])
        n = sum(t.numel() for t in model.parameters())
        ms = cpu_ms_per_frame(model, tuple(cfg.input_hw))
        m = ck["metrics"]
        arm, seed = p.name.rsplit("_s", 1)
        print(f"| {arm} | {seed} | {ck['step']} | {n:,} | {ms:.1f} | {m['absrel']:.3f} | {m['rmse_m']:.3f} "
              f"| {m['delta1']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/mono_ablation"))
