#!/usr/bin/env bash
# The shipped depth-only SR model (sr_node's fallback while RGB is missing), CPU budget.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train depth_sr --config training/configs/depth_sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=1400 lr=0.001 workers=1 val_every=700 val_limit=20 time_limit_min=17 \
  out=runs/depth_sr_lite_cpu
.venv/bin/depth-refine-train export runs/depth_sr_lite_cpu/last.pt depth_refine_ros/model_zoo/depth_sr_lite --name depth_sr_lite
