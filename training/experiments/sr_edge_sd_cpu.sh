#!/usr/bin/env bash
# Issue 12, item 1: SDDR's edge self-distillation (METHODS 3; w_edge_sd, training/depth_refine_training/
# sr_edge_sd.py) as an extra loss for the SR net, whose remaining error sits within a few pixels of
# depth edges. Two arms side by side, one thread each, identical seed, data, patches and schedule,
# both fine-tuned from the `fast` stage-a weights (runs/fast/a/last.pt) on bicubic inputs:
#   base:    w_edge_sd=0 (the plain L1 + Sobel loss)
#   edge_sd: w_edge_sd=$W (default 0.5, SDDR's L_grad weight), pseudo-label every $EVERY-th step
# Validated once, at the end. Each arm exports to out/edge_sd_<arm>; then the held-out RGB-D-D days
# at x4/x8/x16 (bicubic), edge metrics on: the "RMSE boundary" column of out/eval_edge_sd/table.md
# (metrics.json: rmse_boundary_cm) is the error within 4 px of a ground-truth depth discontinuity.
# Cost measured on the busy 2-core box (fast, patch 192, batch 8, 1 thread): 0.33 s/step without the
# term, 1.4 s/step with it every step, 0.6 s/step with EVERY=4.
# An arm resumes from its own last.pt when re-run; a different STEPS needs a fresh R (runs dir).
# Smoke run: STEPS=2 LIMIT=2 R=/tmp/edge_sd O=/tmp/edge_sd/out training/experiments/sr_edge_sd_cpu.sh
set -euo pipefail
STEPS=${STEPS:-600}
W=${W:-0.5}
EVERY=${EVERY:-1}
LIMIT=${LIMIT:-24}
D=${DATA:-../shared/data}
R=${R:-runs/edge_sd}
O=${O:-out}
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on
T=(.venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml preset=fast "degradations=[bicubic]"
   "scales=[4,8,8,16]" patch=192 batch=8 steps="$STEPS" lr=0.0003 workers=0 val_every=1000000 val_limit=12
   seed=0 data="$D/rgbdd" init=runs/fast/a/last.pt)
mkdir -p "$R"
OMP_NUM_THREADS=1 "${T[@]}" w_edge_sd=0 out="$R/base" > "$R/base.log" 2>&1 &
OMP_NUM_THREADS=1 "${T[@]}" w_edge_sd="$W" edge_sd_every="$EVERY" out="$R/edge_sd" > "$R/edge_sd.log" 2>&1 &
wait
grep -h "^step" "$R"/base.log "$R"/edge_sd.log
for arm in base edge_sd; do
  .venv/bin/depth-refine-train export "$R/$arm/last.pt" "$O/edge_sd_$arm" --name "edge_sd_$arm" \
    --use "bicubic-downsampled depth, x4..x16 (issue 12 edge self-distillation A/B, arm $arm)"
done
OMP_NUM_THREADS=1 .venv/bin/depth-refine eval-dataset --panels 0 --limit "$LIMIT" --root "$D/rgbdd" \
  --groups $HELD_OUT --scales 4 8 16 --degradations bicubic \
  --methods bicubic "$O/edge_sd_base" "$O/edge_sd_edge_sd" --out "$O/eval_edge_sd"
