#!/usr/bin/env bash
# Issue 28's equal-budget A/B: the unrolled-WLS net (`faster_wls`) against the U-Net it grows from
# (`faster`), both started from the shipped sr_faster, same data, mix, scales, crops, batch, learning
# rate, seed and steps (stage j's mix of faster_cpu.sh). ARM=a trains the U-Net, ARM=b the WLS net.
# Run the two arms side by side with THREADS=1 each; each resumes from its own last.pt when re-run,
# and `touch runs/wls_ab/$ARM/STOP` ends it at the next step, validated and saved. STEPS (default 6000)
# sets the budget; INIT (default the shipped sr_faster) the start. Exports to out/wls_ab_$ARM.
set -euo pipefail
ARM=${ARM:-b}
THREADS=${THREADS:-1}
STEPS=${STEPS:-6000}
R=runs/wls_ab
case "$ARM" in
  a) PRESET=faster; NAME=sr_faster ;;
  b) PRESET=faster_wls; NAME=sr_wls ;;
  *) echo "ARM must be a or b" >&2; exit 2 ;;
esac
OMP_NUM_THREADS=$THREADS .venv/bin/depth-refine-train sr --config training/configs/faster_ab.yaml preset=$PRESET \
  steps="$STEPS" init="${INIT:-depth_refine_ros/model_zoo/sr_faster}" out=$R/$ARM
.venv/bin/depth-refine-train export "$R/$ARM/last.pt" "out/wls_ab_$ARM" --name "$NAME" \
  --use "any low-res depth: bicubic, nearest/decimated (with depth.sampling: decimated), non-antialiased resize, noisy, ToF-like, with holes; x2..x16"
