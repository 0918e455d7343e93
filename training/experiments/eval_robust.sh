#!/usr/bin/env bash
# Issue 14's accuracy check of one set of weights for every kind of low-res input: held-out RGB-D-D
# days degraded by every kind at x4 and x8 (bicubic also x16), and the three real phone-ToF frames
# with and without registration; decimated input also as sr_node runs it with depth.sampling: decimated;
# a real RealSense stream (all 60 frames) resized down and scored against its own frames (also within 4 m).
# METHOD (default sr_lite_robust) against the classical upsamplers and the shipped sr_lite. Tables: readme_tables.py --method $METHOD --target 10 --eval out/eval_robust
# To score one more model against results already there: BASE= METHOD=m OUT=out/eval_robust_m runs m
# alone, and readme_tables.py --eval out/eval_robust out/eval_robust_m reads both. BACKEND (default
# onnxruntime) runs the models on another backend, e.g. BACKEND=openvino as the node runs them.
set -euo pipefail
D=${DATA:-../shared/data}
M=${METHOD:-sr_lite_robust}
O=${OUT:-out/eval_robust}
CLASSICAL="bicubic joint_bilateral guided_filter fgs"
B=${BASE-"$CLASSICAL sr_lite"}   # the methods scored beside $M
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on
E=".venv/bin/depth-refine eval-dataset --panels 0 --no-edges ${LIMIT:+--limit $LIMIT} ${BACKEND:+--backend $BACKEND}"
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 4 8 --degradations bicubic nearest cubic_noaa block_noise tof ais \
   --methods $B $M --out $O/kinds
# decimated input as sr_node runs it when told so (depth.sampling: decimated), every method told the same
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 4 8 --degradations nearest --sampling decimated \
   --methods $B $M --out $O/decimated
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 16 --degradations bicubic \
   --methods $B $M --out $O/x16
$E --root "$D/rgbdd_real_lr" --degradations supplied --registration none auto \
   --methods $B $M --out $O/real_tof
# real sensor depth: realsense_seq's driver-aligned D4xx frames (noise, holes, far range), resized
# down as a driver or a resize would, scored against the sensor's own frames (results.md#real-sensor)
$E --root "$D/realsense_seq" --limit 60 --scales 4 8 --degradations bicubic cubic_noaa \
   --methods $B $M --out $O/realsense
$E --root "$D/realsense_seq" --limit 60 --scales 4 8 --degradations nearest --sampling decimated \
   --methods $B $M --out $O/realsense_decimated
# the same within a robot's working range (4 m): the far range otherwise dominates the RMSE
$E --root "$D/realsense_seq" --limit 60 --scales 4 8 --degradations bicubic cubic_noaa --max-depth 4 \
   --methods $B $M --out $O/realsense_4m
$E --root "$D/realsense_seq" --limit 60 --scales 4 8 --degradations nearest --sampling decimated --max-depth 4 \
   --methods $B $M --out $O/realsense_4m_decimated
