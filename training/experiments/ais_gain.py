"""How much of the AIS-like rows' RMSE is the per-frame gain no single frame reveals.

``degrade.ais`` multiplies each low-res frame by a random factor in 0.9..1.0 (times a smooth
+-1.5 % field). Nothing in one frame of depth, or in its RGB, tells that factor, so every method
carries it into its output. On the held-out frames and seeds of ``eval_robust.sh`` (the first
``--limit``, 24 as the tables' ``LIMIT=24``), this prints
per method (mean over frames of the per-frame RMSE, cm):

* ``rmse``: the score of the tables;
* ``x c``: the output times ``c = E[g] / E[g^2]``, the least-squares correction of a method that knows
  only the gain's distribution (what a network trained on this kind alone could learn);
* ``scaled``: after each frame's own least-squares scale (``core.metrics``: ``rmse_scaled``);
* ``no gain``: the same holes, no attenuation;

and the floor of any gain-blind method: the ground truth itself, attenuated and times ``c``.

Usage (repository root): ``.venv/bin/python training/experiments/ais_gain.py [--limit 24]
[--methods bicubic fgs sr_faster] [--backend openvino]``.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from depth_refine_ros.core.degrade import ais, bicubic
from depth_refine_ros.core.metrics import standard
from depth_refine_ros.data.datasets import load_dataset
from depth_refine_ros.eval.eval_dataset import _seed
from depth_refine_ros.eval.methods import build_method

HELD_OUT = {"20200518", "20200601", "20200711", "20200715"}  # as eval_robust.sh


def gain_correction(n: int = 200_000, seed: int = 0) -> float:
    """``E[g] / E[g^2]`` of ``degrade.ais``'s gain (Monte Carlo over its factor and field)."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.9, 1.0, n) * (1 + 0.03 * (rng.random(n) - 0.5))
    return float(g.mean() / (g**2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/rgbdd")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--scales", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--methods", nargs="+", default=["bicubic", "guided_filter", "fgs", "sr_lite", "sr_faster"])
    ap.add_argument("--backend", default="onnxruntime")
    args = ap.parse_args()
    frames = load_dataset(args.data, HELD_OUT, None, args.limit)
    c = gain_correction()
    methods = [build_method(m, args.backend) for m in args.methods]
    print(f"c = E[g] / E[g^2] = {c:.4f}; {len(frames)} frames; RMSE in cm, mean over frames")
    print("| scale | method | rmse | x c | scaled | no gain |")
    print("|---|---|---|---|---|---|")
    for scale in args.scales:
        res: dict[str, list[list[float]]] = {m.label: [] for m in methods}
        floor = []
        for f in frames:
            h, w = (f.depth.shape[0] // scale) * scale, (f.depth.shape[1] // scale) * scale
            rgb, gt = f.rgb[:h, :w], f.depth[:h, :w] * f.to_metres
            seed = _seed(f.name, scale, "ais")  # eval-dataset's seed: the same inputs as the tables
            lr = ais(gt, scale, seed=seed)
            lr_ng = ais(gt, scale, seed=seed, attenuation=(1.0, 1.0))  # the same draws, no gain
            # the attenuation alone (holes: NaN, scored nowhere); the smooth field is bilinear like it
            gain = cv2.resize(ais(gt, scale, seed=seed, drop=(0.0, 0.0)) / bicubic(gt, scale), (w, h),
                              interpolation=cv2.INTER_LINEAR)
            floor.append(standard(gt * gain * c, gt)["rmse"])
            for m in methods:
                p, _ = m.run(rgb, lr, f.intrinsics)
                s = standard(p, gt)
                res[m.label].append([s["rmse"], standard(p * c, gt)["rmse"], s["rmse_scaled"],
                                     standard(m.run(rgb, lr_ng, f.intrinsics)[0], gt)["rmse"]])
        for label, vals in res.items():
            r = 100 * np.mean(vals, axis=0)
            print(f"| x{scale} | {label} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} |")
        print(f"| x{scale} | floor: ground truth x gain x c | {100 * np.mean(floor):.2f} | | | |")


if __name__ == "__main__":
    main()
