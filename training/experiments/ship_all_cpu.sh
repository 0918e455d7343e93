#!/usr/bin/env bash
# Everything shipped in depth_refine_ros/model_zoo/, one after the other (about 2.5 h on 2 cores).
set -euo pipefail
here=$(dirname "$0")
bash "$here/sr_lite_cpu.sh"
bash "$here/depth_sr_lite_cpu.sh"
bash "$here/mono_small_cpu.sh"
