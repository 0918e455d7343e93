#!/usr/bin/env bash
# `sr_lite_robust`: one set of weights for every kind of low-res input (issue 14), fine-tuned from
# the shipped `sr_lite` (same graph and cost) on the `robust` mix of core/degrade.py: per sample a
# kind out of bicubic, nearest, cubic_noaa, block_noise, tof, ais at a random strength, a
# misregistration of up to 2 px and 1 mm quantisation on half the samples; one sample in three
# is the plain bicubic protocol so the clean accuracy stays. Two threads, batch 8, 192 px patches.
# Stage a resumes from its own last.pt when re-run (each stage fits in ~2 h on 2 cores); `touch
# runs/robust/a/STOP` ends it at the next step, validated and saved.
set -euo pipefail
T=(.venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml patch=192 batch=8 workers=0
   val_every=250 val_limit=12 "model_overrides={fusion: concat}")
OMP_NUM_THREADS=2 "${T[@]}" "degradations=[robust,robust,bicubic]" "scales=[2,4,4,4,8,8,16]" steps=3000 \
  lr=0.0003 time_limit_min=110 init=depth_refine_ros/model_zoo/sr_lite out=runs/robust/a
.venv/bin/depth-refine-train export runs/robust/a/last.pt depth_refine_ros/model_zoo/sr_lite_robust \
  --name sr_lite_robust --use "any low-res depth: bicubic, nearest/decimated, non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
