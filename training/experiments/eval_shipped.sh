#!/usr/bin/env bash
# The accuracy tables of docs/results.md: the shipped models against bicubic and the classical upsamplers,
# by the project's own evaluation command. Run from the repository root after `make setup`.
set -euo pipefail
D=${DATA:-../shared/data}
CLASSICAL="bicubic joint_bilateral guided_filter fgs"
HELD_OUT="20200518 20200601 20200711 20200715"   # RGB-D-D days never trained on
E=".venv/bin/depth-refine eval-dataset --panels 2"
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 4 8 16 --degradations bicubic \
   --methods $CLASSICAL sr_lite depth_sr_lite --out out/eval/rgbdd_bicubic
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 4 8 --degradations tof tof_fill block_noise \
   --methods $CLASSICAL sr_lite --out out/eval/rgbdd_noisy
$E --root "$D/rgbdd" --groups $HELD_OUT --scales 3 4 --degradations tof_reg \
   --methods $CLASSICAL sr_lite sr_lite_tof --out out/eval/rgbdd_tof_reg
$E --root "$D/rgbdd_real_lr" --degradations supplied --methods $CLASSICAL sr_lite sr_lite_tof --registration none auto \
   --out out/eval/rgbdd_real_lr
$E --root "$D/depth_enh" --scales 4 8 16 --degradations bicubic --methods $CLASSICAL sr_lite --out out/eval/depth_enh
