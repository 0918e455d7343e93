#!/usr/bin/env bash
# Seed 002 (docs/ablations.md), our variant: the depth-only SR net taught by an RGB-aware teacher that
# is better than it, a shipped guided SR model as DENet (`de_kind=sr`; TEACHER=sr_lite, the default,
# or sr_faster, whose clean accuracy is close to depth_sr_lite's), instead of the paper's
# monocular DENet (ten times worse than DSRNet here, so the role rule never let it teach). Same DSRNet
# schedule and batches as distill_ab_cpu.sh's baseline (`teacher=none`, 1000 DSRNet steps from
# depth_sr_lite); `teacher=auto` picks the teacher each epoch by role-validation RMSE (logged). The
# distillation weight rho2 is 0.5 here (0.02 in distill_ab_cpu.sh, where the teacher was weak), set
# before the run. DENet gets no phase-1 steps: it is already trained (on the role days too, so its
# role-validation error is optimistic; it only decides the roles). Both runs with one thread side by
# side, then both and depth_sr_lite on the held-out days.
set -euo pipefail
D=${DATA:-../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=("data=$D/rgbdd" init_dsr=depth_sr_lite p1_dsr=300 epochs=7 epoch_steps=100 sp_warmup=100)
[ -f runs/distill/base/model/card.yaml ] || \
  .venv/bin/depth-refine-train distill out=runs/distill/base teacher=none init_de=mono_small p1_de=100 "${COMMON[@]}" &
T=${TEACHER:-sr_lite}
.venv/bin/depth-refine-train distill out=runs/distill/teacher_$T teacher=auto de_kind=sr init_de=$T \
  p1_de=0 rho2=0.5 "${COMMON[@]}"
wait
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on (config.py val_groups)
E=".venv/bin/depth-refine eval-dataset --panels 0 --no-edges --root $D/rgbdd --groups $HELD_OUT"
$E --scales 4 8 16 --degradations bicubic tof \
   --methods bicubic depth_sr_lite runs/distill/base/model runs/distill/teacher_$T/model --out out/eval_distill_$T
