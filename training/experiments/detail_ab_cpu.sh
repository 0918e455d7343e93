#!/usr/bin/env bash
# Issue 28: `faster_detail` (`faster` plus the image's grey-level detail in each 4x4 head cell, times a gain the
# head predicts per cell) against the U-Net it grows from. Same recipe as wls_ab_cpu.sh's arms (stage j's mix,
# scales, crops, batch, learning rate, seed, steps), started from the shipped sr_faster, so it compares with arm A
# of that A/B (`faster`, 6000 steps more). Resumes from runs/detail/last.pt when re-run; `touch runs/detail/STOP`
# ends it at the next step, validated and saved. STEPS (default 6000), THREADS (default 1), INIT (default the
# shipped sr_faster). Exports to out/detail.
set -euo pipefail
THREADS=${THREADS:-1}
STEPS=${STEPS:-6000}
R=${RUN:-runs/detail}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml preset=faster_detail \
  steps="$STEPS" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=$R
.venv/bin/depth-refine-train export "$R/last.pt" "${EXPORT:-out/detail}" --name sr_detail \
  --use "any low-res depth: bicubic, nearest/decimated (with depth.sampling: decimated), non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
