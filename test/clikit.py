"""``depth-refine`` run as a user runs it, and the held-out capture day the CLI tests score: shared by the
eval and compressed-transport tests."""
from __future__ import annotations

import os
import subprocess
import sys

HELD_OUT_DAY = "20200518"


def cli(*args, timeout=300):
    """``depth-refine <args>`` as a user runs it -> (exit code, stdout + stderr)."""
    p = subprocess.run([sys.executable, "-m", "depth_refine_ros.cli", *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return p.returncode, p.stdout + p.stderr
