#!/usr/bin/env bash
# The shipped guided SR `lite` model: trained on this project's 2-core CPU machine (no GPU lent).
# Held-out RGB-D-D days (config val_groups) never enter training. Run from the repository root.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=3500 lr=0.001 workers=1 val_every=700 val_limit=20 time_limit_min=45 \
  out=runs/sr_lite_cpu
.venv/bin/depth-refine-train export runs/sr_lite_cpu/last.pt depth_refine_ros/model_zoo/sr_lite --name sr_lite
