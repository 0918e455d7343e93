#!/usr/bin/env bash
# Seed 001 ablation (docs/ablations.md), equal budget: the guided `lite` net trained from scratch
# three ways with identical data, seed, patches and schedule: AdaIN fusion (the paper), concat
# fusion (1x1 conv over both paths), and concat without the Sobel term (w_grad=0). Bicubic inputs
# (the paper's protocol), held-out days validated every 500 steps. The arms run side by side, one
# thread each; STEPS (default 1500) sets the budget. Each arm resumes from its own last.pt when
# re-run; compare the `step N:` validation lines of runs/fusion_ab/*.log.
set -euo pipefail
STEPS=${STEPS:-1500}
C="training/configs/sr_lite.yaml degradations=[bicubic] scales=[4,8,8,16] patch=128 batch=8 steps=$STEPS
   lr=0.001 workers=0 val_every=500 val_limit=20 seed=0"
mkdir -p runs/fusion_ab
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: adain}" \
  out=runs/fusion_ab/adain > runs/fusion_ab/adain.log 2>&1 &
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: concat}" \
  out=runs/fusion_ab/concat > runs/fusion_ab/concat.log 2>&1 &
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: concat}" w_grad=0 \
  out=runs/fusion_ab/concat_nosobel > runs/fusion_ab/concat_nosobel.log 2>&1 &
wait
grep -h "^step" runs/fusion_ab/*.log
