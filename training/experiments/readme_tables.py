"""Print the accuracy tables of docs/results.md from `eval_shipped.sh`'s `out/eval/*/metrics.json`.

Usage (repository root): ``.venv/bin/python training/experiments/readme_tables.py [--method sr_lite]``.
One markdown row per dataset x degradation x scale: bicubic, the best classical upsampler, the
model, and the model's RMSE change against both (negative = better). Disparity-valued sets
(Middlebury, Lu: unit ``level``) are in levels, metric ones in cm.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from depth_refine_ros.core.upsample import CLASSICAL_METHODS as CLASSICAL
from depth_refine_ros.eval.scoring import shown


def split_tags(row: dict) -> tuple[str, str]:
    """``(method, tags)``: the row's method without its settings (``method_name``), and the settings
    it ran with as the input column shows them (``''`` for none): eval-dataset --sampling decimated/averaged,
    --registration auto. Such rows compare among themselves."""
    tags = ""
    if row.get("depth_sampling", "centred") != "centred":
        tags += f", `depth.sampling: {row['depth_sampling']}`"
    if row.get("registration_mode", "none") != "none":
        tags += ", `+reg`"
    if row.get("temporal_enable"):
        tags += ", `+temporal`"
    return row.get("method_name") or row["method"], tags


def table(rows: list[dict], method: str, target: float = 30.0, ref: str | None = None,
          metric: str = "rmse") -> list[str]:
    """Markdown lines comparing ``method`` with bicubic and the best classical method.

    Changes of at least ``target`` % against both are set in bold. ``ref`` (e.g. ``sr_lite``) adds a
    column: ``method``'s change against that model on the same rows. ``metric``: ``rmse``, or
    ``scaled`` (the RMSE after each frame's least-squares scale, ``core/metrics.py``), for every method.
    """
    col = f"{metric}_shown"
    extra = f" vs {ref} |" if ref else ""
    out = [f"| data | input | scale | unit | bicubic | best classical | {method} | vs bicubic | vs best classical |"
           + extra, "|---|---|---|---|---|---|---|---|---|" + ("---|" if ref else "")]
    def key(r: dict) -> tuple:  # rows run with a setting (TAGS) or a range limit compare among themselves
        within = f", within {r['max_depth_m']:g} m" if r.get("max_depth_m") is not None else ""
        if r.get("depth_max_m", 20.0) != 20.0:  # the methods' range clamp (sr_node's depth.max_m)
            within += f", `depth.max_m: {r['depth_max_m']:g}`"
        return r["dataset"], r["degradation"] + split_tags(r)[1] + within, float(r["scale"])

    for ds, deg, sc in sorted({key(r) for r in rows}):
        group = {split_tags(r)[0]: shown(r) for r in rows if key(r) == (ds, deg, sc)}
        if method not in group or "bicubic" not in group:
            continue
        classical = {m: group[m][col] for m in CLASSICAL if group.get(m, {}).get(col) is not None}
        if group[method].get(col) is None or "bicubic" not in classical:
            print(f"readme_tables: no {col} for {method} or bicubic in {ds} {deg} x{sc:g} (metrics.json written "
                  "before the metric existed?): row left out", file=sys.stderr)
            continue
        best = min(classical, key=classical.get)
        bic, m = group["bicubic"][col], group[method][col]
        unit = "levels" if group[method]["unit_shown"] == "level" else group[method]["unit_shown"]
        scale = f"x{sc:g}" if sc == int(sc) else f"x{sc:.3f}".rstrip("0")
        vb, vc = 100 * (m / bic - 1), 100 * (m / classical[best] - 1)
        b = "**" if vb <= -target and vc <= -target else ""  # the target: this much better than both
        line = (f"| {ds} | {deg} | {scale} | {unit} | {bic:.2f} | {classical[best]:.2f} ({best}) | {m:.2f} "
                f"| {b}{vb:+.1f} %{b} | {b}{vc:+.1f} %{b} |")
        if ref:
            line += f" {100 * (m / group[ref][col] - 1):+.1f} % |" if group.get(ref, {}).get(col) else " |"
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="sr_lite")
    ap.add_argument("--eval", nargs="+", default=["out/eval"],
                    help="folders holding eval_shipped.sh's (or eval_robust.sh's) outputs; rows of all are merged")
    ap.add_argument("--runs", nargs="*", default=None, help="sub-folders to include (default: all)")
    ap.add_argument("--target", type=float, default=30.0, help="bold where at least this %% better than both")
    ap.add_argument("--ref", help="also compare with this model (e.g. sr_lite)")
    ap.add_argument("--metric", choices=("rmse", "scaled"), default="rmse",
                    help="rmse, or scaled: the RMSE after each frame's least-squares scale (a gain error forgiven)")
    args = ap.parse_args()
    rows: list[dict] = []
    for folder in args.eval:
        for p in sorted(pathlib.Path(folder).glob("*/metrics.json")):
            if args.runs is None or p.parent.name in args.runs:
                rows += json.loads(p.read_text())
    print("\n".join(table(rows, args.method, args.target, args.ref, args.metric)))


if __name__ == "__main__":
    main()
