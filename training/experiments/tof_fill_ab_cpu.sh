#!/usr/bin/env bash
# Does training on the `tof_fill` degradation (a registered phone-ToF stream: misregistration,
# foreground fattening, footprint blur; core/degrade.py) make `sr_lite` better on RGB-D-D's three
# real ToF frames? Fine-tunes the stage-3 checkpoint (runs/ft/grown, from sr_lite_cpu.sh) with half
# of the samples `tof_fill`, one thread (about 8 min per 1000 steps). The lab log's (docs/log/2026-11.md) seventh
# training finding reports this run's step-1000 checkpoint (`last.pt` after the first
# validation; the run was stopped there): it was worse on the real frames, not better.
# Afterwards: export and score it on the real frames and on synthetic `tof_fill` input.
set -euo pipefail
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  "degradations=[bicubic,tof_fill]" "scales=[2,3,4,4,8,8,16]" patch=192 batch=8 steps=4000 lr=0.0005 \
  workers=0 val_every=1000 val_limit=20 "model_overrides={fusion: concat}" init=runs/ft/grown/last.pt \
  out=runs/tof_ab/half
.venv/bin/depth-refine-train export runs/tof_ab/half/last.pt runs/tof_ab/half/model --name tof_half
.venv/bin/depth-refine eval-dataset --no-edges --panels 0 --root ../shared/data/rgbdd_real_lr \
  --degradations supplied --methods bicubic fgs sr_lite runs/tof_ab/half/model --out out/eval/tof_ab_real_lr
.venv/bin/depth-refine eval-dataset --no-edges --panels 0 --root ../shared/data/rgbdd --limit 20 \
  --groups 20200518 20200601 20200711 20200715 --scales 4 --degradations tof_fill \
  --methods bicubic fgs sr_lite runs/tof_ab/half/model --out out/eval/tof_ab_synthetic
