#!/usr/bin/env bash
# The shipped depth-only SR model (sr_node's fallback while RGB is missing), CPU budget.
# Stage 1 (about 11 min): from scratch, lr 1e-3, 1400 steps. Stage 2 (about 40 min on one
# thread): fine-tune from stage 1, lr 5e-4 cosine, 4000 steps (sr_lite_cpu.sh grows sr_lite out of
# this stage). Stage 3 (29 min on 2 threads): 4000 steps at lr 3e-4 with x4 drawn 4 times in 8 (as
# sr_lite's last stages); the shipped model.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train depth_sr --config training/configs/depth_sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=1400 lr=0.001 workers=1 val_every=700 val_limit=20 time_limit_min=17 \
  out=runs/depth_sr_lite_cpu
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} .venv/bin/depth-refine-train depth_sr --config training/configs/depth_sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=4000 lr=0.0005 workers=0 val_every=1000 val_limit=20 \
  init=runs/depth_sr_lite_cpu/last.pt out=runs/ft/depth_sr
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train depth_sr --config training/configs/depth_sr_lite.yaml \
  degradations=[bicubic] "scales=[2,4,4,4,4,8,8,16]" patch=192 batch=8 steps=4000 lr=0.0003 workers=0 val_every=1000 \
  val_limit=20 time_limit_min=35 init=runs/ft/depth_sr/last.pt out=runs/ft2/depth_sr_x4
.venv/bin/depth-refine-train export runs/ft2/depth_sr_x4/last.pt depth_refine_ros/model_zoo/depth_sr_lite --name depth_sr_lite
