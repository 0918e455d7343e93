"""The prepared GPU check (docs/results.md#gpu-check): one command, one table.

For every shipped model and each size, it runs the model's graph on every engine this machine has:
TensorRT fp16 and fp32, ONNX Runtime's CUDA provider, torch on CUDA in fp16 and fp32. Each row
gives the inference median and p95 and the parity against ONNX Runtime on the CPU, as a fraction
of the output's range, checked against the tolerance the backends use at start-up. An engine
this machine lacks is a row that says why. Then it times training steps of the ``base`` and
``full`` SR presets, and, where rclpy is importable, the live node at 30 Hz.

``--dry-run`` runs the same steps on the CPU (torch fp32 in place of the GPU engines), with fewer
frames: that keeps the script tested where no GPU is (test/repo/test_device_check.py).

Run from the repository root with ``tools/device_check.sh``; it needs numpy, torch, onnxruntime,
pyyaml and safetensors, and nothing else from this package's set-up (a GPU machine's image).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARITY_TOL = {"fp32": 1e-3, "fp16": 0.02}
"""Largest |difference| / range against ONNX Runtime on the CPU; fp16 as the TensorRT backend's start-up check."""


def feeds_for(md, hw: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Graph inputs of a model at output size ``hw`` (padded to its size multiple), seeded."""
    from depth_refine_ros.core.net_input import padded_size

    h, w = padded_size(hw, md.size_multiple)
    channels = {"depth": 1, "rgb": 3, "low": 1, "high": 1}
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(0.3, 1.0, (1, channels[n], h, w)).astype(np.float32) for n in md.inputs}


def timed(run, feeds, n: int) -> tuple[list[np.ndarray], float, float]:
    """Run ``n`` times after two warm-ups; returns (outputs, median ms, p95 ms)."""
    for _ in range(2):
        out = run(feeds)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = run(feeds)
        ts.append((time.perf_counter() - t0) * 1e3)
    return out, float(np.median(ts)), float(np.percentile(ts, 95))


def engines(md, dry_run: bool):
    """(row name, precision, factory or skip reason) for every engine the check tries."""
    from depth_refine_ros.backends.base import BackendError

    def trt(precision):
        from depth_refine_ros.backends.tensorrt_backend import TrtEngine
        return lambda: TrtEngine(md, precision, build="if_missing")

    def ort_cuda():
        import onnxruntime as ort

        from depth_refine_ros.backends.onnxruntime_backend import OrtEngine
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendError(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider "
                               f"(providers: {', '.join(ort.get_available_providers())}); needs onnxruntime-gpu")
        return OrtEngine(md, "cuda")

    def torch_engine(device, precision):
        from depth_refine_ros.backends.torch_backend import TorchEngine
        return lambda: TorchEngine(md, device, precision)

    if dry_run:
        return [("torch cpu", "fp32", torch_engine("cpu", "fp32"))]
    return [("tensorrt", "fp16", trt("fp16")), ("tensorrt", "fp32", trt("fp32")),
            ("onnxruntime cuda", "fp32", ort_cuda), ("torch cuda", "fp16", torch_engine("cuda", "fp16")),
            ("torch cuda", "fp32", torch_engine("cuda", "fp32"))]


def model_rows(names: list[str], sizes: list[tuple[int, int]], n: int, dry_run: bool) -> list[dict]:
    from depth_refine_ros.backends.base import BackendError
    from depth_refine_ros.backends.onnxruntime_backend import OrtEngine
    from depth_refine_ros.data.modeldir import GRAPH, load_model_dir

    rows = []
    for name in names:
        md = load_model_dir(name, (GRAPH,))
        ref_engine = OrtEngine(md, "cpu")
        for hw in sizes:
            feeds = feeds_for(md, hw)
            ref = ref_engine.run(feeds)
            for label, precision, make in engines(md, dry_run):
                row = {"model": name, "size": f"{hw[1]}x{hw[0]}", "engine": label, "precision": precision}
                try:
                    eng = make()
                    out, med, p95 = timed(eng.run, feeds, n)
                except (BackendError, ImportError, RuntimeError) as e:
                    rows.append(row | {"status": f"skipped: {str(e).splitlines()[0][:150]}"})
                    continue
                err = max(float(np.max(np.abs(r - g)) / (np.ptp(r) + 1e-6)) for r, g in zip(ref, out, strict=True))
                tol = PARITY_TOL[precision]
                rows.append(row | {"median_ms": round(med, 2), "p95_ms": round(p95, 2), "parity": float(f"{err:.2g}"),
                                   "tol": tol, "status": "ok" if err <= tol else "PARITY FAIL"})
    return rows


def training_rows(presets: list[str], steps: int, dry_run: bool) -> list[dict]:
    """Steps per second of an ``sr`` preset at batch 8 on 192 px crops (random data: speed only)."""
    import torch

    from depth_refine_ros.models import build_model, preset_config

    device = "cpu" if dry_run or not torch.cuda.is_available() else "cuda"
    rows = []
    for preset in presets:
        net = build_model("sr", preset_config("sr", preset)).to(device)
        opt = torch.optim.AdamW(net.parameters(), 1e-4)
        d = torch.rand(8, 1, 192, 192, device=device) * 0.5 + 0.5
        rgb = torch.rand(8, 3, 192, 192, device=device)
        ts = []
        for i in range(steps + 2):
            t0 = time.perf_counter()
            loss = (net(d, rgb) - d).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 2:
                ts.append(time.perf_counter() - t0)
        rows.append({"preset": preset, "device": device, "batch": 8, "patch": 192,
                     "steps_per_s": round(1 / float(np.median(ts)), 2)})
    return rows


def live_row(frames: int) -> dict:
    """The live node's latency at 30 Hz through ``depth-refine bench`` (needs rclpy: the ROS wheels)."""
    try:
        import rclpy  # noqa: F401
    except ImportError as e:
        return {"live": "skipped", "reason": f"rclpy is not importable here ({e}): no ROS 2 on this machine"}
    exe = pathlib.Path(sys.executable).with_name("depth-refine")
    cmd = [str(exe), "bench", "--methods", "bicubic", "--iters", "5", "--live-methods", "sr_faster@auto",
           "--live-frames", str(frames), "--rate", "30", "--models", "--json", "/tmp/device_check_live.json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode:
        return {"live": "failed", "reason": r.stderr.strip().splitlines()[-1][:200] if r.stderr else "no output"}
    rows = json.loads(pathlib.Path("/tmp/device_check_live.json").read_text())
    keep = ("stage", "node_backend", "received", "n", "median_ms", "p95_ms")
    return {"live": "ok", "rows": [{k: x[k] for k in keep} for x in rows if x.get("kind") == "end_to_end"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, fewer frames")
    ap.add_argument("--models", nargs="*", help="model names (default: every shipped sr, depth_sr and mono model)")
    ap.add_argument("--sizes", nargs="*", default=["640x480", "1280x720"], help="output sizes WxH")
    ap.add_argument("--frames", type=int, default=0, help="timed runs per row (default 50, dry run 3)")
    ap.add_argument("--presets", nargs="*", default=["base", "full"], help="SR presets for training speed")
    ap.add_argument("--train-steps", type=int, default=0, help="timed training steps (default 20, dry run 2)")
    ap.add_argument("--live-frames", type=int, default=150, help="frames for the live node (0: skip)")
    ap.add_argument("--json", help="also write every row to this file")
    args = ap.parse_args(argv)
    from depth_refine_ros.data.modeldir import installed

    names = args.models or [m.name for m in installed() if m.kind in ("sr", "depth_sr", "mono")]
    sizes = [tuple(int(v) for v in s.split("x"))[::-1] for s in args.sizes]
    n = args.frames or (3 if args.dry_run else 50)
    t0 = time.time()
    print(f"# device check on {platform.node()} ({platform.machine()}), python {platform.python_version()}, "
          f"{'dry run (CPU)' if args.dry_run else 'GPU'}")
    rows = model_rows(names, sizes, n, args.dry_run)
    print("\n| model | size | engine | precision | median ms | p95 ms | parity | tol | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['size']} | {r['engine']} | {r['precision']} | {r.get('median_ms', '')} | "
              f"{r.get('p95_ms', '')} | {r.get('parity', '')} | {r.get('tol', '')} | {r['status']} |")
    train = training_rows(args.presets, args.train_steps or (2 if args.dry_run else 20), args.dry_run)
    print("\n| preset | device | batch | patch | steps/s |\n|---|---|---|---|---|")
    for r in train:
        print(f"| {r['preset']} | {r['device']} | {r['batch']} | {r['patch']} | {r['steps_per_s']} |")
    live = live_row(args.live_frames) if args.live_frames else {"live": "skipped", "reason": "--live-frames 0"}
    print(f"\nlive node at 30 Hz: {json.dumps(live)}")
    print(f"\n# {time.time() - t0:.0f} s")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"models": rows, "training": train, "live": live}, indent=1))
    return 1 if any(r["status"] == "PARITY FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
