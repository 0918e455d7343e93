"""Model rows of ``depth-refine bench``: every model kind/preset through each backend at 640x480
output (SR kinds: from 160x120 input), with parameters, GFLOPs, median/p95 latency, peak memory.

Each (model, backend) runs in its own process, so peak memory is that run's alone: the row's
``peak_mem_mb`` is the highest resident set sampled every 2 ms (``/proc/self/statm``) while the
backend loads and runs, minus the resident set just before (interpreter and imports). Sampling,
because ``ru_maxrss`` was seen not to move here for allocations made by native libraries.
Latency is :meth:`Backend.infer` (padding, normalisation, graph, crop: what the node's refine
stage costs), after one warm-up run.
Untrained weights (``depth-refine model-init``) are fine for timing: the cost does not depend
on the values. GFLOPs are counted by torch's FlopCounterMode at the graph's input size
(multiply-add = 2 FLOPs).
"""
from __future__ import annotations

import json
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np

OUT_HW = (480, 640)
SPECS = ["sr/lite", "sr/base", "sr/full", "depth_sr/lite", "depth_sr/base", "depth_sr/full",
         "mono/tiny", "mono/resnet18", "mono/resnet50", "sddr/base", "sddr/large"]
CACHE = pathlib.Path("out") / "bench_models"


def ensure_model(spec: str, root: pathlib.Path = CACHE) -> pathlib.Path:
    """The model directory for ``spec``: an installed model's name or a directory as it is, or for
    ``kind/preset`` an untrained copy (written once under ``root``)."""
    if "/" not in spec or pathlib.Path(spec).is_dir():
        from depth_refine_ros.data.modeldir import resolve

        return resolve(spec)
    import yaml

    from depth_refine_ros.models import config_to_dict, preset_config

    kind, preset = spec.split("/")
    path = root / f"{kind}_{preset}"
    cfg = preset_config(kind, preset)
    card = path / "card.yaml"
    # a copy written by an older version of the network code would time a stale graph (and its
    # weights no longer load into the current torch module): rewrite it when the preset changed
    if not card.exists() or (yaml.safe_load(card.read_text()) or {}).get("config") != config_to_dict(cfg):
        from depth_refine_ros.models.export import write_random_model_dir

        write_random_model_dir(kind, cfg, path, preset=preset, seed=0)
    return path


def graph_hw(md, out_hw: tuple[int, int] = OUT_HW) -> tuple[int, int]:
    """The graph's input size for an ``out_hw`` output (padded to the size multiple)."""
    from depth_refine_ros.core.net_input import padded_size

    hw = tuple(md.card.input_hw) if md.kind == "mono" else out_hw
    return padded_size(hw, md.size_multiple)


def gflops(md, out_hw: tuple[int, int] = OUT_HW) -> float:
    """Forward GFLOPs at :func:`graph_hw` (torch's FlopCounterMode)."""
    from depth_refine_ros.models.profile import forward_gflops

    return forward_gflops(md.kind, md.config, md.inputs, graph_hw(md, out_hw))


def _inputs(md, out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """Random inputs for an ``out_hw`` output; SR depth at a quarter of it (the x4 case)."""
    rng = np.random.default_rng(0)
    if md.kind == "sddr":
        d = (1 + rng.random(out_hw)).astype(np.float32)
        return {"low": d, "high": d + 0.01}
    return {"rgb": rng.integers(0, 255, (*out_hw, 3), dtype=np.uint8),
            "depth_lr": (1 + rng.random((out_hw[0] // 4, out_hw[1] // 4))).astype(np.float32)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class _RssSampler:
    """Samples this process's resident set in a thread; :meth:`stop` returns peak - start (MB)."""

    def __init__(self, period_s: float = 0.002) -> None:
        import threading

        self.start = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(period_s,), daemon=True)
        self._t.start()

    def _run(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss_mb())
        return self.peak - self.start


def run_one(path: str, backend: str, min_iters: int, budget_s: float, out_hw: tuple[int, int] = OUT_HW) -> dict:
    """Time one model through one backend at one output size in this process (module docstring)."""
    from depth_refine_ros.backends import create_backend

    sampler = _RssSampler()
    be = create_backend(backend, model=path)
    md = be.model
    x = _inputs(md, out_hw)
    be.infer(x, out_hw)  # warm-up
    times = []
    t_end = time.monotonic() + budget_s
    while len(times) < min_iters or (time.monotonic() < t_end and len(times) < 200):
        t0 = time.perf_counter()
        be.infer(x, out_hw)
        times.append((time.perf_counter() - t0) * 1e3)
    peak_mb = sampler.stop()
    sr_in = [out_hw[0] // 4, out_hw[1] // 4]
    in_hw = sr_in if md.kind in ("sr", "depth_sr") else list(graph_hw(md, out_hw) if md.kind == "mono" else out_hw)
    return {"kind": "model", "model": md.name, "model_kind": md.kind, "preset": md.card.preset,
            "backend": backend, "device": "cpu", "input_hw": in_hw, "output_hw": list(out_hw),
            "graph_hw": list(graph_hw(md, out_hw)), "n": len(times), "median_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)), "params": md.card.params,
            "gflops": round(gflops(md, out_hw), 2), "peak_mem_mb": round(peak_mb, 1)}


def bench_models(specs: list[str], backends: list[str], min_iters: int = 3, budget_s: float = 15.0,
                 progress=print, resolutions: list[tuple[int, int]] = (OUT_HW,)) -> list[dict]:
    """One row per (spec, backend, output resolution), each measured in a fresh process."""
    rows = []
    for spec in specs:
        path = ensure_model(spec)
        for backend, hw in [(b, r) for b in backends for r in resolutions]:
            cmd = [sys.executable, "-m", "depth_refine_ros.cli.bench_models", str(path), backend, str(min_iters),
                   str(budget_s), f"{hw[1]}x{hw[0]}"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                progress(f"  {spec} / {backend}: FAILED: {res.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(res.stdout.strip().splitlines()[-1])
            progress(f"  {spec:<16} {backend:<12} {hw[1]}x{hw[0]} median {row['median_ms']:8.1f} ms  "
                     f"p95 {row['p95_ms']:8.1f} ms")
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'model':<16} {'backend':<12} {'input':>8} {'output':>8} {'median ms':>10} {'p95 ms':>9} "
          f"{'params M':>9} {'GFLOPs':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['model_kind'] + '/' + r['preset']:<16} {r['backend']:<12} "
              f"{'x'.join(map(str, r['input_hw'][::-1])):>8} {'x'.join(map(str, r['output_hw'][::-1])):>8} "
              f"{r['median_ms']:>10.1f} {r['p95_ms']:>9.1f} {r['params'] / 1e6:>9.2f} {r['gflops']:>8.1f} "
              f"{r['peak_mem_mb']:>8.0f}")


if __name__ == "__main__":
    p, b, n, budget = sys.argv[1:5]
    w, h = (int(v) for v in (sys.argv[5] if len(sys.argv) > 5 else "640x480").split("x"))
    print(json.dumps(run_one(p, b, int(n), float(budget), (h, w))))
