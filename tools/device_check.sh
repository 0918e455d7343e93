#!/usr/bin/env bash
# The prepared GPU check: one command, one table (tools/device_check.py; docs/results.md#gpu-check).
# On a GPU machine: `tools/device_check.sh` (about 4-6 minutes; writes out/device_check.json).
# Anywhere: `tools/device_check.sh --dry-run` runs the same steps on the CPU.
# Uses .venv's Python when there is one, else python3 (a GPU machine's image, which holds torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
mkdir -p out
exec env PYTHONUNBUFFERED=1 "$PY" tools/device_check.py --json out/device_check.json "$@"
