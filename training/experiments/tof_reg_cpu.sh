#!/usr/bin/env bash
# The shipped `sr_lite_tof` (about 40 min on 2 cores, after sr_lite_cpu.sh). Can `sr_lite` learn
# the real phone-ToF input *after* registration (the `tof_reg` degradation, core/degrade.py:
# residual shift <= 3 px, point sampling, edge holes and flying pixels filled nearest-style:
# jagged, reshaped boundaries)? Two fine-tuning stages from the shipped checkpoint (runs/ft2/x4,
# sr_lite_cpu.sh), two threads, about 8 min per 1000 steps:
#   b: half of the samples tof_reg, x2..x16, lr 2e-4 (stopped after its step-2000 checkpoint)
#   c: tof_reg only, x2..x4 (the factors of ToF modules beside an RGB camera), lr 5e-4
# Stage c's last checkpoint is the shipped `sr_lite_tof` (length and "last checkpoint" fixed before
# it ran; its step-1000 checkpoint was scored on the real frames while it ran, none was selected). Then: score on synthetic tof_reg (20 held-out
# RGB-D-D frames) and on the three real ToF frames with registration (docs/log/2026-11.md, ninth finding).
set -euo pipefail
T=(.venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml patch=192 batch=8 workers=0
   val_every=1000 val_limit=20 "model_overrides={fusion: concat}")
OMP_NUM_THREADS=2 "${T[@]}" "degradations=[bicubic,tof_reg]" "scales=[2,3,3,4,4,8,16]" steps=3000 stop_step=2000 \
  lr=0.0002 init=runs/ft2/x4/last.pt out=runs/tofreg/b
OMP_NUM_THREADS=2 "${T[@]}" "degradations=[tof_reg]" "scales=[2,3,3,4,4]" steps=4000 lr=0.0005 \
  init=runs/tofreg/b/last.pt out=runs/tofreg/c
.venv/bin/depth-refine-train export runs/tofreg/c/last.pt depth_refine_ros/model_zoo/sr_lite_tof --name sr_lite_tof \
  --use "registered, hole-filled ToF streams (x2..x4, sr_node registration auto or fixed); worse than bicubic on clean input"
E=".venv/bin/depth-refine eval-dataset --no-edges --panels 0"
$E --root ../shared/data/rgbdd --limit 20 --groups 20200518 20200601 20200711 20200715 --scales 3 4 \
  --degradations tof_reg --methods bicubic fgs sr_lite sr_lite_tof --out out/eval/tof_reg_synthetic
$E --root ../shared/data/rgbdd_real_lr --degradations supplied --registration auto \
  --methods bicubic guided_filter fgs sr_lite sr_lite_tof --out out/eval/tof_reg_real_lr
# Not shipped (docs/log/2026-11.md, ninth finding): one set of weights for both kinds of input, from stage c.
if [[ "${ONE_MODEL_ARM:-0}" == 1 ]]; then
  OMP_NUM_THREADS=2 "${T[@]}" "degradations=[bicubic,tof_reg]" "scales=[2,3,4,4,4,8,16]" steps=4000 lr=0.0003 \
    init=runs/tofreg/c/last.pt out=runs/tofreg/d
fi
