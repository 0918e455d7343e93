#!/usr/bin/env bash
# The monocular net's value as the SR net's relative-depth prior (issue item 8), same budget:
# both arms start from the stage-1 sr_lite checkpoint (runs/sr_lite_cpu, sr_lite_cpu.sh stage 1)
# and fine-tune 7000 steps with identical data, seed and schedule; the `prior` arm adds the
# embedded `small` monocular net (started from runs/mono_small_cpu, mono_small_cpu.sh) as a
# fourth guidance channel, whose stem weights start at zero (the same function at step 0).
# The arms run side by side, one thread each (about 60 and 80 min on the 2-core machine);
# compare the `step N:` validation lines of runs/ft/{rgb,prior}.log.
set -euo pipefail
C="training/configs/sr_lite.yaml degradations=[bicubic] patch=192 batch=8 steps=7000 lr=0.0005 workers=0
   val_every=1000 val_limit=20 init=runs/sr_lite_cpu/last.pt"
mkdir -p runs/ft
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C out=runs/ft/rgb > runs/ft/rgb.log 2>&1 &
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config $C out=runs/ft/prior init_prior=runs/mono_small_cpu/last.pt \
  "model_overrides={guidance: rgb+prior, prior: {widths: [32, 64, 96, 128], stem_width: 32, reduce: 48}}" \
  > runs/ft/prior.log 2>&1 &
wait
grep -h "^step" runs/ft/rgb.log runs/ft/prior.log
