#!/usr/bin/env bash
# `depth_sr_robust`: the shipped depth-only `depth_sr_lite` (sr_node's choice while RGB is missing,
# `depth_only.model`) fine-tuned on the `robust` mix of every kind of low-res input, as
# `sr_lite_robust` was for the guided net: two samples in three a random kind, strength,
# misregistration and quantisation, one in three the clean protocol. One stage, resumable (re-run
# resumes from runs/depth_sr_robust/last.pt; `touch runs/depth_sr_robust/STOP` ends it, saved).
# THREADS (default 2) sets the training threads. Exports to out/depth_sr_robust.
set -euo pipefail
THREADS=${THREADS:-2}
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train depth_sr --config training/configs/depth_sr_lite.yaml \
  "degradations=[robust,robust,bicubic]" "scales=[2,4,4,4,8,8,16]" patch=192 batch=8 steps=2500 lr=0.0003 \
  workers=0 val_every=500 val_limit=12 time_limit_min=110 init=depth_refine_ros/model_zoo/depth_sr_lite \
  out=runs/depth_sr_robust
.venv/bin/depth-refine-train export runs/depth_sr_robust/last.pt out/depth_sr_robust --name depth_sr_robust \
  --use "depth alone (RGB missing), any low-res depth: bicubic, decimated, non-antialiased resize, noisy, ToF-like; x2..x16"
