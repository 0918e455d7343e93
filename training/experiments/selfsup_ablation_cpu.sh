#!/usr/bin/env bash
# Seed 003 ablation (docs/ablations.md): self-supervised fine-tuning of mono_small on the shared video
# sequences, arms at an equal budget (300 steps, batch 4, crop 128 x 160, seed 0, so the same
# batches): plain Monodepth2 loss, + Auto-Blur, + Ambiguity-Masking, both; then plain and both with the
# 7-Scenes colour focal length corrected. Each arm is about 6-7 CPU minutes (OMP_NUM_THREADS=1); two
# run at a time. Then the paired per-frame table.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
arm() {
  local name=$1; shift
  .venv/bin/depth-refine-train selfsup steps=300 threads=1 out=runs/seed003/"$name" "$@" \
    > runs/seed003/"$name".log 2>&1
}
mkdir -p runs/seed003
arm plain & arm blur auto_blur=true & wait
arm amb ambiguity_mask=true & arm both auto_blur=true ambiguity_mask=true & wait
# 7-Scenes' camera-intrinsics.txt is the depth camera's (fx 585); its colour frames warp best near fx 525
arm plain_fx525 "fx=[525, 0]" & arm both_fx525 "fx=[525, 0]" auto_blur=true ambiguity_mask=true & wait
.venv/bin/python training/experiments/selfsup_ablation_table.py mono_small \
  runs/seed003/{plain,blur,amb,both,plain_fx525,both_fx525}/model
# shipped: runs/seed003/both_fx525/model as depth_refine_ros/model_zoo/mono_small_selfsup (card renamed,
# training.intended_use added)
