#!/usr/bin/env bash
# Issue 28, a probe: how close does the `faster` net (head at 1/4) come to `sr_lite` on clean input when it
# trains on clean input only? Arm A's recipe of wls_ab_cpu.sh (start, scales, crops, batch, lr, seed, 6000 steps)
# with bicubic input only. It decides nothing shipped: it measures the headroom that telling the net its
# input is clean (depth.sampling as a graph input) could reach with this head. Resumes from runs/clean_probe/last.pt;
# `touch runs/clean_probe/STOP` ends it at the next step. THREADS (default 1). Exports to out/clean_probe.
set -euo pipefail
THREADS=${THREADS:-1}
R=${RUN:-runs/clean_probe}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml "degradations=[bicubic]" \
  steps="${STEPS:-6000}" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=$R
.venv/bin/depth-refine-train export "$R/last.pt" "${EXPORT:-out/clean_probe}" --name sr_faster_clean \
  --use "clean block-averaged low-res depth only (the literature's bicubic protocol); a probe, not for real sensors"
