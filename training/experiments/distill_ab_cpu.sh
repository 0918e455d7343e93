#!/usr/bin/env bash
# Seed 002 (docs/ablations.md, METHODS 4): the depth-only SR net with and without cross-task
# distillation, both from the shipped depth_sr_lite, the same 1000 DSRNet steps on the same batches
# (same seed, same stream of crops, same cosine): `teacher=none` is DSRNet alone, `teacher=de`
# makes DSRNet the student of every phase-2 epoch (the role-validation errors that `auto` would
# follow are logged in roles.json and the card). Then both, and depth_sr_lite, on the held-out days.
# About 10 (baseline) + 20 (distillation) core-minutes on a CPU; the two runs are independent.
set -euo pipefail
D=${DATA:-../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=("data=$D/rgbdd" init_dsr=depth_sr_lite init_de=mono_small p1_dsr=300 p1_de=100 epochs=7 epoch_steps=100 sp_warmup=100)
.venv/bin/depth-refine-train distill out=runs/distill/base teacher=none "${COMMON[@]}" &
.venv/bin/depth-refine-train distill out=runs/distill/de_teacher teacher=de "${COMMON[@]}"
wait
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on (config.py val_groups)
E=".venv/bin/depth-refine eval-dataset --panels 0 --no-edges --root $D/rgbdd --groups $HELD_OUT"
$E --scales 4 8 16 --degradations bicubic tof \
   --methods bicubic depth_sr_lite runs/distill/base/model runs/distill/de_teacher/model --out out/eval_distill
