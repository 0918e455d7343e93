"""The pictures of a report (matplotlib, Agg backend, PNG): per-frame panels, accuracy vs scale,
latency histogram. Depth maps share one colour scale (the ground truth's 1..99 %) so methods can be
compared by eye; error maps share one too."""
from __future__ import annotations

import pathlib

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panel(path: pathlib.Path, title: str, rgb: np.ndarray, lr: np.ndarray, gt: np.ndarray,
          refined: dict[str, np.ndarray], unit: str = "m") -> None:
    """One frame: RGB, low-res input, ground truth, then per method its output and |error| map.

    Args:
        rgb: ``(H, W, 3) uint8``. lr: ``(h, w)`` low-res input. gt: ``(H, W)`` ground truth.
        refined: method label -> ``(H, W)`` output; all in ``unit`` (errors shown in cm for ``m``).
    """
    plt = _plt()
    valid = np.isfinite(gt)
    lo, hi = (np.percentile(gt[valid], [1, 99]) if valid.any() else (0.0, 1.0))
    err_scale, err_unit = (100.0, "cm") if unit == "m" else (1.0, unit)
    errs = {k: np.abs(v - gt) * err_scale for k, v in refined.items()}
    emax = max([np.nanpercentile(e, 99) for e in errs.values() if np.isfinite(e).any()] + [1e-3])
    rows = 1 + len(refined)
    fig, ax = plt.subplots(rows, 3, figsize=(13, 3.3 * rows), squeeze=False)
    ax[0, 0].imshow(rgb)
    ax[0, 0].set_title("RGB (guidance)")
    ax[0, 1].imshow(lr, vmin=lo, vmax=hi, cmap="turbo", interpolation="nearest")
    ax[0, 1].set_title(f"low-res input {lr.shape[1]}x{lr.shape[0]}")
    im = ax[0, 2].imshow(gt, vmin=lo, vmax=hi, cmap="turbo")
    ax[0, 2].set_title("ground truth")
    fig.colorbar(im, ax=ax[0, 2], fraction=0.04, label=unit)
    for r, (label, d) in enumerate(refined.items(), start=1):
        ax[r, 0].imshow(d, vmin=lo, vmax=hi, cmap="turbo")
        ax[r, 0].set_title(label)
        im = ax[r, 1].imshow(errs[label], vmin=0, vmax=emax, cmap="inferno")
        ax[r, 1].set_title(f"|error| {label}")
        fig.colorbar(im, ax=ax[r, 1], fraction=0.04, label=err_unit)
        e = errs[label][valid & np.isfinite(errs[label])]
        rmse = float(np.sqrt(np.mean(e**2))) if e.size else float("nan")
        ax[r, 2].text(0.05, 0.5, f"{label}\nRMSE {rmse:.3g} {err_unit}\nMAE {np.mean(e) if e.size else np.nan:.3g} "
                      f"{err_unit}\ncoverage {e.size / max(valid.sum(), 1):.3f}", fontsize=12, va="center")
    for a in ax.ravel():
        a.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def accuracy_vs_scale(path: pathlib.Path, rows: list[dict], metric: str = "rmse") -> bool:
    """One line per method: ``metric`` against the scale factor, a panel per dataset x degradation.

    Returns:
        False when there is nothing to plot (fewer than one scale), else True.
    """
    groups = sorted({(r["dataset"], r["degradation"]) for r in rows if r.get(metric) is not None})
    if not groups:
        return False
    plt = _plt()
    fig, ax = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.8), squeeze=False)
    for a, (ds, deg) in zip(ax[0], groups, strict=True):
        sub = [r for r in rows if (r["dataset"], r["degradation"]) == (ds, deg) and r.get(metric) is not None]
        for m in sorted({r["method"] for r in sub}):
            pts = sorted((float(r["scale"]), r[metric]) for r in sub if r["method"] == m)
            a.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
        unit = sub[0].get("unit", "")
        a.set_xscale("log", base=2)
        a.set_xlabel("scale factor")
        a.set_ylabel(f"{metric} ({'cm' if unit == 'm' and metric in ('rmse_cm', 'mae_cm') else unit})")
        a.set_title(f"{ds} / {deg}")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def latency_histogram(path: pathlib.Path, latencies_ms: dict[str, list[float]]) -> bool:
    """Histogram of per-frame latencies, one series per label. False if there are none."""
    series = {k: v for k, v in latencies_ms.items() if len(v)}
    if not series:
        return False
    plt = _plt()
    fig, a = plt.subplots(figsize=(7, 3.8))
    hi = max(max(v) for v in series.values())
    bins = np.linspace(0, hi * 1.05 + 1e-6, 40)
    for k, v in series.items():
        a.hist(v, bins=bins, alpha=0.6, label=f"{k} (median {np.median(v):.1f}, p95 {np.percentile(v, 95):.1f} ms)")
    a.set_xlabel("latency (ms)")
    a.set_ylabel("frames")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
