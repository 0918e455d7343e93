#!/usr/bin/env bash
# The shipped guided SR `lite` model: trained on this project's 2-core CPU machine (no GPU lent).
# Held-out RGB-D-D days (config val_groups) never enter training. Run from the repository root.
# Stage 1 (about 25 min): from scratch, lr 1e-3, 3500 steps.
# Stage 2 (about 60 min on one thread): fine-tune from stage 1, lr 5e-4 cosine, 7000 steps; this
# is also the `rgb` arm of prior_ab_cpu.sh (same command), which ran it.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=3500 lr=0.001 workers=1 val_every=700 val_limit=20 time_limit_min=45 \
  out=runs/sr_lite_cpu
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=7000 lr=0.0005 workers=0 val_every=1000 val_limit=20 \
  init=runs/sr_lite_cpu/last.pt out=runs/ft/rgb
.venv/bin/depth-refine-train export runs/ft/rgb/last.pt depth_refine_ros/model_zoo/sr_lite --name sr_lite
