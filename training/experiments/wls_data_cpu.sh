#!/usr/bin/env bash
# Issue 28's "every reference frame": the WLS net trained on RGB-D-D plus the Middlebury 2005 scenes
# (halved to 688 px wide, a fifth of the samples), against the same net on RGB-D-D alone
# (wls_ab_cpu.sh ARM=b). Same start, mix, scales, crops, batch, learning rate, seed and steps.
# Sources left out, and why (docs/log/2026-12.md): depth_enh (its Lu, NYU and Middlebury pairs are
# evaluation rows), realsense_seq (an evaluation row, scored against its own frames), sevenscenes_seq
# (depth not registered to RGB: edges 10-15 px off would teach the net to ignore RGB edges).
# Resumes from runs/wls_data/last.pt when re-run; `touch runs/wls_data/STOP` ends it at the next step.
set -euo pipefail
THREADS=${THREADS:-1}
STEPS=${STEPS:-6000}
D=${DATA:-../shared/data}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml preset=faster_wls \
  "extra_data=[{path: $D/middlebury2005, weight: 0.25, downscale: 2}]" \
  steps="$STEPS" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=runs/wls_data
.venv/bin/depth-refine-train export runs/wls_data/last.pt out/wls_data --name sr_wls \
  --use "any low-res depth: bicubic, nearest/decimated (with depth.sampling: decimated), non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
