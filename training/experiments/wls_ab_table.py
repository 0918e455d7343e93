"""Issue 28's table of kinds from eval_robust.sh outputs: every row's best classical method, the named
nets, and each net against the best classical method (%), plus B against A.

Usage (repository root)::

    .venv/bin/python training/experiments/wls_ab_table.py out/eval_wls_base out/eval_wls_a out/eval_wls_b \\
        --a out/wls_ab_a --b out/wls_ab_b

The AIS-like rows are scored with the scaled RMSE (their per-frame gain is a global scale no upsampler
can see); every other row with the RMSE. Units: cm, except disparity levels where a set has them.
"""
from __future__ import annotations

import argparse
import json
import pathlib

CLASSICAL = ("bicubic", "joint_bilateral", "guided_filter", "fgs")
PARTS = ("kinds", "decimated", "x16", "real_tof", "realsense", "realsense_decimated", "realsense_4m",
         "realsense_4m_decimated")


def load(dirs: list[str]) -> list[dict]:
    rows = []
    for d in dirs:
        for part in PARTS:
            f = pathlib.Path(d) / part / "metrics.json"
            if f.is_file():
                rows += [r | {"part": part} for r in json.loads(f.read_text())]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--a", default="out/wls_ab_a", help="arm A's method name (as eval-dataset printed it)")
    ap.add_argument("--b", default="out/wls_ab_b")
    ap.add_argument("--nets", nargs="*", default=["sr_lite", "sr_faster"])
    args = ap.parse_args()
    rows = load(args.dirs)
    keys: dict[tuple, dict[str, float]] = {}
    for r in rows:
        name = r.get("method_name", r["method"])
        key = (r["part"], r["dataset"], r["degradation"], r["scale"], r["depth_sampling"], r["registration_mode"])
        metric = "rmse_scaled_cm" if r["degradation"] == "ais" else "rmse_cm"
        v = r.get(metric)
        if v is None:  # disparity-level sets
            v = r.get("rmse_scaled" if r["degradation"] == "ais" else "rmse")
        keys.setdefault(key, {})[name.split(" (")[0]] = v
    nets = [*args.nets, args.a, args.b]
    print("| set | input | scale | best classical | " + " | ".join(f"`{pathlib.Path(n).name}`" for n in nets)
          + " | " + " | ".join(f"`{pathlib.Path(n).name}` vs classical" for n in nets) + " | B vs A |")
    print("|---" * (5 + 2 * len(nets)) + "|")
    for key, vals in keys.items():
        part, ds, deg, scale, sampling, reg = key
        cl = {m: vals[m] for m in CLASSICAL if m in vals}
        if not cl:
            continue
        best = min(cl, key=cl.get)
        inp = (deg + (", depth.sampling decimated" if sampling == "decimated" else "")
               + (", +reg" if reg != "none" else ""))
        cells = [f"{vals[n]:.3f}" if n in vals else "" for n in nets]
        rel = [f"{100 * (vals[n] / cl[best] - 1):+.1f} %" if n in vals else "" for n in nets]
        ab = (f"{100 * (vals[args.b] / vals[args.a] - 1):+.1f} %" if args.a in vals and args.b in vals else "")
        print(f"| {ds} | {inp} | x{scale:g} | {cl[best]:.3f} ({best}) | " + " | ".join(cells) + " | "
              + " | ".join(rel) + f" | {ab} |")


if __name__ == "__main__":
    main()
