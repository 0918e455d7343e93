#!/usr/bin/env bash
# Everything shipped in depth_refine_ros/model_zoo/, one after the other (about 5.4 h on 2 cores).
# depth_sr first: the shipped sr_lite is grown out of its second stage.
set -euo pipefail
here=$(dirname "$0")
bash "$here/depth_sr_lite_cpu.sh"
bash "$here/sr_lite_cpu.sh"
bash "$here/tof_reg_cpu.sh"   # sr_lite_tof, fine-tuned from sr_lite
bash "$here/mono_small_cpu.sh"
