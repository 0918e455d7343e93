#!/usr/bin/env bash
# Everything shipped in depth_refine_ros/model_zoo/, one after the other (about 4.7 h on 2 cores).
# depth_sr first: the shipped sr_lite is grown out of its second stage.
set -euo pipefail
here=$(dirname "$0")
bash "$here/depth_sr_lite_cpu.sh"
bash "$here/sr_lite_cpu.sh"
bash "$here/mono_small_cpu.sh"
