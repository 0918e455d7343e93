#!/usr/bin/env bash
# Seed 000 ablation (docs/ablations.md): the SDDR refiner with L_gt only against the full
# self-distillation loss (L_gt + 0.5 L_grad + 0.1 L_fusion), same data, seed, schedule and steps.
# Both arms read the same cache of monocular inferences (built by the first run that needs it,
# about 4 CPU-minutes) and run side by side, one thread each; each ends with its held-out table
# (runs/sddr/abl_{gt,full}/eval.json and the end of the .log).
set -euo pipefail
STEPS=${STEPS:-150}
mkdir -p runs/sddr
export OMP_NUM_THREADS=1
.venv/bin/depth-refine-train sddr steps=1 max_frames=48 val_limit=16 evaluate=false out=runs/sddr/abl_cache_probe \
    > runs/sddr/abl_cache.log 2>&1  # builds the shared cache once (or finds it)
.venv/bin/depth-refine-train sddr steps="$STEPS" w_grad=0 w_fusion=0 out=runs/sddr/abl_gt > runs/sddr/abl_gt.log 2>&1 &
.venv/bin/depth-refine-train sddr steps="$STEPS" out=runs/sddr/abl_full > runs/sddr/abl_full.log 2>&1 &
wait
tail -n 8 runs/sddr/abl_gt.log runs/sddr/abl_full.log
