"""RMSE with and without the flip self-ensemble (``flip_ensemble``), on the held-out RGB-D-D frames no
training decision saw (as untouched_frames.py), bicubic input x4 / x8 / x16, run as the node runs it.

Usage (repository root)::

    PYTHONPATH=training:training/experiments .venv/bin/python training/experiments/flip_ensemble.py sr_faster
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from untouched_frames import untouched

from depth_refine_ros.core import metrics
from depth_refine_ros.eval.eval_dataset import make_input
from depth_refine_ros.pipeline.factory import SrPipelineSpec, build_sr_pipelines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--backend", default="openvino")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--root", default="../shared/data/rgbdd")
    args = ap.parse_args()
    frames = untouched(args.root)
    print(f"{len(frames)} held-out frames outside the trainers' validation; {args.backend} {args.precision}")
    print("| model | flip | x4 cm | x8 cm | x16 cm | infer ms (median, x4) |\n|---|---|---|---|---|---|")
    for name in args.models:
        for flip in (False, True):
            spec = SrPipelineSpec(backend=args.backend, model=name, precision=args.precision, flip_ensemble=flip)
            pipe, _ = build_sr_pipelines(spec, warmup=False)
            row, infer = [], []
            for s in (4, 8, 16):
                rmse = []
                for f in frames:
                    rgb, lr, gt, _ = make_input(f, "bicubic", s)
                    t0 = time.perf_counter()
                    res = pipe.process(rgb, lr)
                    if s == 4:
                        infer.append(res.timings_ms.get("infer", (time.perf_counter() - t0) * 1e3))
                    rmse.append(metrics.standard(res.depth, gt)["rmse"] * 100)
                row.append(float(np.mean(rmse)))
            print(f"| {name} | {'on' if flip else 'off'} | " + " | ".join(f"{v:.3f}" for v in row)
                  + f" | {np.median(infer):.1f} |", flush=True)


if __name__ == "__main__":
    main()
