#!/usr/bin/env bash
# Seed 002 (docs/ablations.md), sr_node's RGB-free fallback (`depth_only.model`), in two stages:
# the shipped depth-only `depth_sr_robust` distilled from the shipped guided `sr_faster` (`de_kind=sr`)
# on the `robust` mix of every kind of low-res input, where the RGB-aware teacher leads the depth-only
# net by 10-35 % (decimated, ToF-like, aliased input) instead of the 7 % it leads by on clean input.
# Same recipe as distill_sr_teacher_cpu.sh otherwise (rho2 0.5, set before the run; `teacher=auto`
# decides the roles each epoch on the role days; DENet is not trained), longer: 300 + 8 x 300 DSRNet
# steps on 192 px crops. The equal-steps baseline (`teacher=none`) runs beside it, one thread each
# (about an hour on 2 cores); each run resumes from its last.pt (TIME_LIMIT minutes a stage, default
# 110). Then both against depth_sr_robust on the robust table's 24 held-out frames per kind (the
# classical rows from `LIMIT=24 bash training/experiments/eval_robust.sh`) and on all 58 held-out
# frames at x4 / x8 / x16 (bicubic and ToF-like input).
set -euo pipefail
D=${DATA:-../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=("data=$D/rgbdd" init_dsr=depth_sr_robust p1_dsr=300 epochs=8 epoch_steps=300 sp_warmup=100
  patch=192 "degradations=[robust, robust, bicubic]" "scales=[2, 4, 4, 4, 8, 8, 16]" "time_limit_min=${TIME_LIMIT:-110}")
[ -f runs/distill_robust/base/model/card.yaml ] || \
  .venv/bin/depth-refine-train distill out=runs/distill_robust/base teacher=none init_de=mono_small \
    p1_de=0 "${COMMON[@]}" &
[ -f runs/distill_robust/sr_faster/model/card.yaml ] || \
  .venv/bin/depth-refine-train distill out=runs/distill_robust/sr_faster teacher=auto de_kind=sr \
    init_de=sr_faster p1_de=0 rho2=0.5 "${COMMON[@]}"
wait
# the second stage (the shipped depth_sr_distilled): the distilled net taught again, by sr_faster's shipped
# stage j, on the same mix, 8 x 300 steps with no solo phase, both threads (about 30 min)
[ -f runs/distill_robust/j3/model/card.yaml ] || \
  OMP_NUM_THREADS=2 .venv/bin/depth-refine-train distill "data=$D/rgbdd" out=runs/distill_robust/j3 \
    name=depth_sr_distilled teacher=auto de_kind=sr init_de=sr_faster p1_de=0 rho2=0.5 \
    init_dsr=runs/distill_robust/sr_faster/model p1_dsr=0 epochs=8 epoch_steps=300 sp_warmup=100 \
    patch=192 "degradations=[robust, robust, bicubic]" "scales=[2, 4, 4, 4, 8, 8, 16]" "time_limit_min=${TIME_LIMIT:-110}"
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on (config.py val_groups)
M="runs/distill_robust/base/model runs/distill_robust/sr_faster/model"
LIMIT=24 BASE= METHOD="$M" OUT=out/eval_robust_distill bash training/experiments/eval_robust.sh
.venv/bin/depth-refine eval-dataset --panels 0 --no-edges --root $D/rgbdd --groups $HELD_OUT --scales 4 8 16 \
  --degradations bicubic tof --methods bicubic depth_sr_robust $M --out out/eval_distill_robust
# the second stage against the first, as the node runs them (OpenVINO)
LIMIT=24 BASE=runs/distill_robust/sr_faster/model METHOD=runs/distill_robust/j3/model BACKEND=openvino \
  OUT=out/eval_robust_distill_j3 bash training/experiments/eval_robust.sh
.venv/bin/depth-refine eval-dataset --panels 0 --no-edges --root $D/rgbdd --groups $HELD_OUT --scales 4 8 16 \
  --degradations bicubic tof --methods bicubic runs/distill_robust/j3/model --out out/eval_distill_j3_58
