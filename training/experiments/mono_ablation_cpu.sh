#!/usr/bin/env bash
# Seed 004 ablation (docs/ablations.md): the monocular net's four arms at an equal budget, in the
# paper's order: baseline (strided ResNet, plain decoder) -> + DFE -> + AFB -> + dilated CRB (full).
# Same data, held-out days (TrainConfig.val_groups), seed, steps, batch and schedule; `tiny` widths.
# Each arm runs in its own folder (runs/mono_ablation/<arm>_s<seed>, log beside it); a finished arm
# (DONE) is skipped. `touch runs/mono_ablation/<arm>_s<seed>/STOP` ends an arm early, validated and
# saved; running the script again resumes it from its last.pt. One thread: about 3 (baseline) to 6
# CPU-minutes an arm on this machine (longer in wall time when it is shared).
# SEEDS=1 ARMS="dfe_afb full" reruns chosen arms with another seed.
# The table (AbsRel, RMSE, delta1 on all 58 held-out frames from each last.pt, params, ms/frame)
# is printed by mono_ablation_table.py and written to runs/mono_ablation/table.md.
set -euo pipefail
export OMP_NUM_THREADS=1
ARMS=${ARMS:-"baseline dfe dfe_afb full"}
SEEDS=${SEEDS:-0}
STEPS=${STEPS:-3000}
declare -A OV=(
  [baseline]="{strides: [1, 2, 2, 2], dilations: [1, 1, 1, 1], fuse: add, crb_dilated: false}"
  [dfe]="{fuse: add, crb_dilated: false}"
  [dfe_afb]="{crb_dilated: false}"
  [full]="{}"
)
ROOT=runs/mono_ablation
mkdir -p "$ROOT"
for seed in $SEEDS; do
  for arm in $ARMS; do
    out=$ROOT/${arm}_s$seed
    [[ -f $out/DONE ]] && continue
    .venv/bin/depth-refine-train mono --config training/configs/mono_small.yaml preset=tiny \
      "model_overrides=${OV[$arm]}" seed="$seed" steps="$STEPS" batch=8 lr=0.001 workers=0 \
      val_every="$STEPS" val_limit=0 out="$out" >> "$out.log" 2>&1
    # the trainer's last line is its JSON summary: DONE only when it reached the planned step
    tail -n 1 "$out.log" | grep -q "\"step\": $STEPS," && touch "$out/DONE"
  done
done
.venv/bin/python training/experiments/mono_ablation_table.py "$ROOT" | tee "$ROOT/table.md"
