#!/usr/bin/env bash
# Issue 28: arm A's recipe of wls_ab_cpu.sh (the `faster` net from the shipped sr_faster, scales, crops, batch, lr,
# seed, 6000 steps) with more clean input in the mix: stage j's mix plus a second `bicubic` entry (about 39 % clean
# samples instead of 27 %). Compares with arm A. MIX overrides the degradation list. Resumes from
# runs/mix/last.pt; `touch runs/mix/STOP` ends it at the next step. THREADS (default 1). Exports to out/mix.
set -euo pipefail
THREADS=${THREADS:-1}
R=${RUN:-runs/mix}
MIX=${MIX:-"[robust_recentred,robust_recentred,cubic_noaa,block_noise,bicubic,bicubic]"}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml "degradations=$MIX" \
  steps="${STEPS:-6000}" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=$R
.venv/bin/depth-refine-train export "$R/last.pt" "${EXPORT:-out/mix}" --name sr_faster \
  --use "any low-res depth: bicubic, nearest/decimated (with depth.sampling: decimated), non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
