"""The one progress line every trainer prints (stderr, rewritten in place): bar, step, terms, ETA."""
from __future__ import annotations

import sys
import time


def show(step: int, total: int, terms: dict[str, float], t0: float, start: int = 0, label: str = "") -> None:
    """Rewrite the progress line.

    Args:
        step: steps done; total: steps planned.
        terms: loss terms to show (name -> value).
        t0: ``time.time()`` when this process started training.
        start: the step this process started at (a resume), so the ETA uses this process's rate.
        label: optional prefix (e.g. a phase name).
    """
    el = time.time() - t0
    eta = el / max(step - start, 1) * (total - step)
    bar = "#" * int(30 * step / max(total, 1))
    text = " ".join(f"{k} {v:.4g}" for k, v in terms.items())
    prefix = f"{label} " if label else ""
    sys.stderr.write(f"\r{prefix}[{bar:<30}] {step}/{total} {text} elapsed {el / 60:.1f} min "
                     f"ETA {eta / 60:.1f} min ")
    sys.stderr.flush()
