#!/usr/bin/env bash
# `sr_fast` (issue 14): the `fast` preset (lite's U-Net, head at half resolution). The U-Net starts
# from the shipped `sr_lite_robust` (same shapes); the head starts fresh (init_skip=[head]), its
# zero last conv making step 0 exactly the bicubic input.
#   STAGE=a: bicubic inputs only, so the fresh head learns edges (on the robust mix from the start
#            it stayed at bicubic for 332 steps: docs/log/2026-11.md, 2026-11-29).
#   STAGE=b: the `robust` mix of robust_cpu.sh, from stage a's weights.
# Same patches and threads as robust_cpu.sh. A stage resumes from its own last.pt when re-run (each
# fits in ~2 h on 2 cores); `touch runs/fast/$STAGE/STOP` ends it at the next step, validated and
# saved. Each stage exports to out/sr_fast_$STAGE; shipping is copying one to the model zoo.
# FUSION=adain trains the AdaIN-fused twin (shipped as sr_fast_adain) the same way, in runs/fast_adain
# and out/sr_fast_adain_$STAGE; no AdaIN `lite` is shipped, so its U-Net starts from the AdaIN arm of
# the 6000-step fusion A/B (fusion_ab_cpu.sh with STEPS=6000 R=runs/fusion_ab_6000) unless INIT says.
# THREADS (default 2) sets the training threads: 1 when another training shares the two cores (two
# threads each on 2 cores oversubscribe them, and OpenMP's barriers then slow a step ~10x).
set -euo pipefail
STAGE=${STAGE:-a}
THREADS=${THREADS:-2}
FUSION=${FUSION:-concat}
if [ "$FUSION" = concat ]; then
  NAME=sr_fast; R=runs/fast; INIT=${INIT:-depth_refine_ros/model_zoo/sr_lite_robust}
else
  NAME=sr_fast_$FUSION; R=runs/fast_$FUSION; INIT=${INIT:-runs/fusion_ab_6000/$FUSION/last.pt}
fi
T=(.venv/bin/depth-refine-train sr --config training/configs/sr_lite.yaml preset=fast patch=192 batch=8 workers=0
   val_every=250 val_limit=12 "model_overrides={fusion: $FUSION}")
if [ "$STAGE" = a ]; then
  OMP_NUM_THREADS=$THREADS "${T[@]}" "degradations=[bicubic]" "scales=[2,4,4,8,8,16]" steps=3000 lr=0.0005 \
    time_limit_min=110 "init=$INIT" "init_skip=[head]" out=$R/a
else
  OMP_NUM_THREADS=$THREADS "${T[@]}" "degradations=[robust,robust,bicubic]" "scales=[2,4,4,4,8,8,16]" steps=3000 \
    lr=0.0003 time_limit_min=110 init=$R/a/last.pt out=$R/b
fi
.venv/bin/depth-refine-train export "$R/$STAGE/last.pt" "out/${NAME}_$STAGE" --name "$NAME" \
  --use "any low-res depth: bicubic, nearest/decimated, non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
