#!/usr/bin/env bash
# The shipped guided SR `lite` model: trained on this project's 2-core CPU machine (no GPU lent).
# Held-out RGB-D-D days (config val_groups) never enter training. Run from the repository root,
# after depth_sr_lite_cpu.sh (stage 3 grows this net out of the depth-only one).
# Stage 1 (about 25 min): AdaIN-guided, from scratch, lr 1e-3, 3500 steps.
# Stage 2 (about 60 min, one thread): fine-tune stage 1, lr 5e-4 cosine, 7000 steps (this is also
#   the `rgb` arm of prior_ab_cpu.sh). Measured: still worse than the depth-only net at x8/x16.
# Stage 3 (about 22 min, two threads): a concat-fused guided net grown out of the depth-only
#   net (runs/ft/depth_sr) as the same function, with stage 2's guidance encoder, fine-tuned
#   3000 steps at lr 5e-4 (the `sr_lite` shipped until 2026-11-21: 1.95 / 2.60 / 4.05 cm).
# Stages 4-6 (about 90 min, one thread): fine-tuning weighted to x4, the scale whose target was
#   still open (x4 drawn 3 times in 7 scales, then 4 in 8). Stage 4: lr 3e-4 planned for 5000 steps, stopped at
#   2000. Stage 5: lr 3e-4 planned for 6000, stopped at 3000. Stage 6: lr 2e-4, 5000 steps,
#   x4 4 times in 8. Each stop is where the exploratory run's next stage branched off (docs/log/2026-11.md).
#   Stage 6's last checkpoint is the shipped `sr_lite`.
set -euo pipefail
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=3500 lr=0.001 workers=1 val_every=700 val_limit=20 time_limit_min=45 \
  out=runs/sr_lite_cpu
OMP_NUM_THREADS=1 .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=7000 lr=0.0005 workers=0 val_every=1000 val_limit=20 \
  init=runs/sr_lite_cpu/last.pt out=runs/ft/rgb
mkdir -p runs/grow
.venv/bin/python training/experiments/grow_guidance.py runs/ft/depth_sr/last.pt runs/ft/rgb/last.pt runs/grow/init.pt
OMP_NUM_THREADS=2 .venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml \
  degradations=[bicubic] patch=192 batch=8 steps=3000 lr=0.0005 workers=0 val_every=1000 val_limit=20 \
  "model_overrides={fusion: concat}" init=runs/grow/init.pt out=runs/ft/grown
T=".venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml degradations=[bicubic] patch=192 batch=8"
T="$T workers=0 val_limit=20"
OMP_NUM_THREADS=1 $T "scales=[2,4,4,4,8,8,16]" steps=5000 stop_step=2000 lr=0.0003 val_every=1000 \
  "model_overrides={fusion: concat}" init=runs/ft/grown/last.pt out=runs/ft2/bic
OMP_NUM_THREADS=1 $T "scales=[2,4,4,4,8,8,16]" steps=6000 stop_step=3000 lr=0.0003 val_every=1500 \
  "model_overrides={fusion: concat}" init=runs/ft2/bic/last.pt out=runs/ft2/long
OMP_NUM_THREADS=1 $T "scales=[2,4,4,4,4,8,8,16]" steps=5000 lr=0.0002 val_every=1000 \
  "model_overrides={fusion: concat}" init=runs/ft2/long/last.pt out=runs/ft2/x4
.venv/bin/depth-refine-train export runs/ft2/x4/last.pt depth_refine_ros/model_zoo/sr_lite --name sr_lite
