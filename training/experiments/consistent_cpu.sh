#!/usr/bin/env bash
# Issue 28: the net with a projection gate (`faster_consistent`: `faster` whose head also predicts, per pixel,
# how much of the projection onto the low-res samples to take; core/projection.py) against the U-Net it grows
# from. Same recipe as wls_ab_cpu.sh's arms (stage j's mix, scales, crops, batch, learning rate, seed, steps),
# started from the shipped sr_faster, so it compares with arm A of that A/B (`faster`, 6000 steps more).
# Resumes from runs/consistent/last.pt when re-run; `touch runs/consistent/STOP` ends it at the next step,
# validated and saved. STEPS (default 6000), THREADS (default 2), INIT (default the shipped sr_faster).
# Exports to out/consistent.
set -euo pipefail
THREADS=${THREADS:-2}
STEPS=${STEPS:-6000}
R=${RUN:-runs/consistent}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml preset=faster_consistent \
  steps="$STEPS" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=$R
.venv/bin/depth-refine-train export "$R/last.pt" "${EXPORT:-out/consistent}" --name sr_consistent \
  --use "any low-res depth: bicubic, nearest/decimated (with depth.sampling: decimated), non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
