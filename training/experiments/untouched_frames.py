"""RMSE on the held-out RGB-D-D frames that no training decision saw.

The trainer validates on the first ``val_limit`` (20) frames of the held-out days; design choices
were made on those. This scores methods on the remaining frames only (bicubic input, x4/x8/x16).

Usage (repository root)::

    .venv/bin/depth-refine-train export runs/ft/rgb/last.pt /tmp/sr_adain --name sr_adain
    .venv/bin/python training/experiments/untouched_frames.py bicubic /tmp/sr_adain depth_sr_lite sr_lite
    # each method with each depth.sampling, models through OpenVINO
    PYTHONPATH=training .venv/bin/python training/experiments/untouched_frames.py \
        --sampling centred averaged --backend openvino bicubic sr_faster
"""
from __future__ import annotations

import argparse

import numpy as np
from depth_refine_training.config import TrainConfig

from depth_refine_ros.core import metrics
from depth_refine_ros.core.upsample import CLASSICAL_METHODS
from depth_refine_ros.data.datasets import load_dataset
from depth_refine_ros.eval.eval_dataset import make_input
from depth_refine_ros.eval.methods import build_method

HELD_OUT = set(TrainConfig().val_groups)  # the held-out days every shipped recipe uses
VAL_LIMIT = 20  # the recipes' val_limit


def untouched(root: str = "../shared/data/rgbdd") -> list:
    """The held-out frames outside the recipes' validation (``val_limit`` first frames), in name order."""
    seen = {f.name for f in load_dataset(root, HELD_OUT, None, VAL_LIMIT)}
    return [f for f in load_dataset(root, HELD_OUT) if f.name not in seen]


def main(names: list[str], samplings: list[str], backend: str | None = None,
         root: str = "../shared/data/rgbdd") -> None:
    rest = untouched(root)
    print(f"{len(rest)} held-out frames outside the trainer's validation")
    methods = {}
    for n in names:
        for s in samplings:
            m = build_method(n, backend=None if n in CLASSICAL_METHODS else backend, depth_sampling=s)
            methods[m.label] = m
    for s in (4, 8, 16):
        rmse: dict[str, list[float]] = {n: [] for n in methods}
        for f in rest:
            rgb, lr, gt, _ = make_input(f, "bicubic", s)
            for n, m in methods.items():
                rmse[n].append(metrics.standard(m.run(rgb, lr)[0], gt)["rmse"] * 100)
        print(f"x{s}: " + ", ".join(f"{n} {np.mean(v):.3f} cm" for n, v in rmse.items()), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["bicubic", "sr_lite"], help="classical methods and models")
    ap.add_argument("--sampling", nargs="+", default=["centred"], help="depth.sampling values to run each with")
    ap.add_argument("--backend", help="backend for the models (default: the offline settings')")
    a = ap.parse_args()
    main(a.names, a.sampling, a.backend)
