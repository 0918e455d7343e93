"""Seed 003 table: mono models scored on the held-out frames of the shared video sequences.

``python training/experiments/selfsup_ablation_table.py MODEL [MODEL ...]`` (installed names or
model directories; the first is the reference). Each model predicts the last 20 % of
``../shared/data/sevenscenes_seq`` and ``../shared/data/realsense_seq`` at its ``input_hw``; scoring
is :func:`depth_refine_training.selfsup.evaluate`'s (per-frame median scaling, sensor depth in
0.1..8 m). Besides the per-sequence means it prints, against the reference, the per-frame paired
AbsRel difference with a 95 % bootstrap interval over frames (2000 resamples, seed 0): how far apart
two models are beyond frame-to-frame spread (not seed-to-seed spread, which one run per arm cannot
show).
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
from depth_refine_training.selfsup import EVAL_RANGE_M, load_sequence, predict, split

from depth_refine_ros.core.metrics import standard
from depth_refine_ros.data.modeldir import load_model_dir
from depth_refine_ros.models.export import load_torch_model

DATA = ("../shared/data/sevenscenes_seq", "../shared/data/realsense_seq")


def per_frame(model, seq, input_hw) -> np.ndarray:
    """``(N, 3)`` AbsRel, RMSE (m), delta1 of each held-out frame."""
    rows = []
    for i in split(len(seq.rgb), 0.2)[1]:
        gt = seq.depth[i]
        pred = cv2.resize(predict(model, seq.rgb[i]), gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
        with np.errstate(invalid="ignore"):
            v = np.isfinite(gt) & (gt > EVAL_RANGE_M[0]) & (gt < EVAL_RANGE_M[1])
        pred = pred * (np.median(gt[v]) / np.median(pred[v]))
        m = standard(pred, gt, v)
        rows.append((m["absrel"], m["rmse"], m["delta1"]))
    return np.array(rows)


def main(names: list[str]) -> None:
    rng = np.random.default_rng(0)
    scores: dict[str, dict[str, np.ndarray]] = {}
    seqs: dict[tuple, list] = {}
    for name in names:
        md = load_model_dir(name)
        hw = tuple(md.config["input_hw"])
        if hw not in seqs:
            seqs[hw] = [load_sequence(d, hw) for d in DATA]
        model = load_torch_model(md)
        scores[name] = {s.name: per_frame(model, s, hw) for s in seqs[hw]}
    ref = names[0]
    seq_names = list(scores[ref])
    print("| model | " + " | ".join(f"{s} AbsRel / RMSE m / delta1" for s in seq_names)
          + " | mean AbsRel | paired dAbsRel vs " + ref + " (95 % CI), per sequence |")
    print("|---" * (len(seq_names) + 3) + "|")
    for name in names:
        cells, diffs = [], []
        for s in seq_names:
            a = scores[name][s]
            cells.append(f"{a[:, 0].mean():.4f} / {a[:, 1].mean():.3f} / {a[:, 2].mean():.3f}")
            d = a[:, 0] - scores[ref][s][:, 0]
            boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(2000)]
            lo, hi = np.percentile(boots, [2.5, 97.5])
            diffs.append(f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
        mean = np.mean([scores[name][s][:, 0].mean() for s in seq_names])
        print(f"| {name} | " + " | ".join(cells) + f" | {mean:.4f} | " + "; ".join(diffs) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["mono_small"])
