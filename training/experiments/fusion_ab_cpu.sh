#!/usr/bin/env bash
# Seed 001 ablation (docs/ablations.md), equal budget: the guided `lite` net trained from scratch
# three ways with identical data, seed, patches and schedule: AdaIN fusion (the paper), concat
# fusion (1x1 conv over both paths), and concat without the Sobel term (w_grad=0). Bicubic inputs
# (the paper's protocol), held-out days validated every 500 steps. The arms run side by side, one
# thread each; STEPS (default 1500) sets the budget. Each arm resumes from its own last.pt when
# re-run; compare the `step N:` validation lines of runs/fusion_ab*/*.log. PRESET (default lite)
# picks the net: `fast` (the same U-Net and fusion points, head at half resolution) runs the three
# arms about 2.5x faster, which is what fits beside other work in one session.
set -euo pipefail
STEPS=${STEPS:-1500}
PRESET=${PRESET:-lite}
R=${R:-runs/fusion_ab$([ "$PRESET" = lite ] || echo "_$PRESET")}   # a new STEPS needs a new R
C="training/configs/sr_lite.yaml preset=$PRESET degradations=[bicubic] scales=[4,8,8,16] patch=128 batch=8
   steps=$STEPS lr=0.001 workers=0 val_every=500 val_limit=20 seed=0"
mkdir -p $R
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: adain}" \
  out=$R/adain > $R/adain.log 2>&1 &
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: concat}" \
  out=$R/concat > $R/concat.log 2>&1 &
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C "model_overrides={fusion: concat}" w_grad=0 \
  out=$R/concat_nosobel > $R/concat_nosobel.log 2>&1 &
wait
grep "^step" $R/*.log
