#!/usr/bin/env bash
# The shipped monocular estimator (mono_node, and the relative-depth prior), CPU budget.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train mono --config training/configs/mono_small.yaml \
  batch=8 steps=700 lr=0.001 workers=1 val_every=350 val_limit=20 time_limit_min=14 \
  out=runs/mono_small_cpu
.venv/bin/depth-refine-train export runs/mono_small_cpu/last.pt depth_refine_ros/model_zoo/mono_small --name mono_small
