"""Latency of the real small foundation graphs with random weights (docs/foundation_models.md#latency-measured-here).

Builds Depth Anything V2 small (24.8 M parameters) and Prompt Depth Anything vits (25.1 M) from
``transformers`` configs at their published sizes, with seeded random weights (no download), imports
each with ``depth-refine import`` (so the parity check runs on the real graph), and times the imported
``model.onnx`` through ONNX Runtime and OpenVINO (fp32, and bf16 where the CPU runs it natively), and
the ``transformers`` model in torch once, at fixed input sizes.

    .venv/bin/python tools/bench_foundation.py --threads 2 --runs 10 --out out/foundation_bench

Random weights time the same as real ones (same graph, same shapes); accuracy is not measured here.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def small_backbone():
    from transformers import Dinov2Config

    # DINOv2 ViT-S/14 as Depth Anything (V2) small and PromptDA vits use it
    return Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, image_size=518,
                        patch_size=14, layerscale_value=1.0, out_features=["stage3", "stage6", "stage9", "stage12"],
                        reshape_hidden_states=False, apply_layernorm=True)


def build(kind: str, path: Path, seed: int = 0) -> int:
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        PromptDepthAnythingConfig,
        PromptDepthAnythingForDepthEstimation,
    )

    torch.manual_seed(seed)
    head = dict(reassemble_hidden_size=384, neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                head_hidden_size=32)
    if kind == "da_v2_small":
        model = DepthAnythingForDepthEstimation(DepthAnythingConfig(backbone_config=small_backbone(), **head))
    else:
        model = PromptDepthAnythingForDepthEstimation(PromptDepthAnythingConfig(
            backbone_config=small_backbone(), depth_estimation_type="metric", max_depth=1, **head))
    with torch.no_grad():  # torch's default init: a non-constant output for the parity check
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear | torch.nn.ConvTranspose2d):
                mod.reset_parameters()
    model.save_pretrained(str(path))
    (path / "README.md").write_text("---\nlicense: apache-2.0\n---\nrandom weights, for timing\n")
    return int(sum(p.numel() for p in model.parameters()))


def timed(fn, runs: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": round(min(ms), 1),
            "max_ms": round(max(ms), 1), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--torch-runs", type=int, default=1)
    ap.add_argument("--out", default="out/foundation_bench")
    ap.add_argument("--models", nargs="+", default=["da_v2_small", "promptda_vits"])
    ap.add_argument("--sizes", nargs="+", default=[],
                    help="input sizes HxW to time instead of the usual ones (518x518; 378x504), e.g. 308x308 294x392")
    ap.add_argument("--reuse", action="store_true", help="time the model directories already in --out (no import)")
    args = ap.parse_args()
    import onnxruntime as ort
    import openvino as ov
    import torch

    from depth_refine_ros.cli.main import main as cli
    from depth_refine_ros.data.modeldir import load_model_dir
    from depth_refine_ros.models import foundation as fm

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    sizes = {"da_v2_small": (518, 518), "promptda_vits": (378, 504)}
    prompt_hw = (192, 256)  # PromptDA's ARKit LiDAR prompt size
    report = {"machine": platform.processor() or platform.machine(), "threads": args.threads, "results": {}}
    core = ov.Core()
    bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    for kind in args.models:
        src = out / f"{kind}_src"
        t_import = float("nan")
        if not (args.reuse and (out / kind / "card.yaml").is_file()):
            build(kind, src)
            t0 = time.perf_counter()
            rc = cli(["import", str(src), "--out", str(out / kind), "--threads", str(args.threads)])
            t_import = time.perf_counter() - t0
            if rc:
                return rc
        md = load_model_dir(out / kind)
        for hw in [tuple(int(v) for v in x.split("x")) for x in args.sizes] or [sizes[kind]]:
            res = time_one(md, src, hw, prompt_hw, t_import, args, core, bf16, ort, ov, torch, fm)
            report["results"][f"{kind}@{hw[0]}x{hw[1]}"] = res
            print(kind, json.dumps(res, indent=1))
    name = "latency.json" if not args.sizes else f"latency_{'_'.join(args.sizes)}.json"
    (out / name).write_text(json.dumps(report, indent=1))
    print(f"wrote {out / name}")
    return 0


def time_one(md, src, hw, prompt_hw, t_import, args, core, bf16, ort, ov, torch, fm) -> dict:
    """ONNX Runtime, OpenVINO (fp32, bf16 where native) and torch times of one model at one input size."""
    rng = np.random.default_rng(0)
    feeds = {"rgb": rng.random((1, 3, *hw), dtype=np.float32)}
    if md.kind == "prompt_depth":
        feeds["depth"] = (0.5 + 4 * rng.random((1, 1, *prompt_hw))).astype(np.float32)
    res = {"params": md.card.params, "input_hw": list(hw), "import_s": round(t_import, 1),
           "parity": md.card.extra["parity"]}
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(md.graph_path), so, providers=["CPUExecutionProvider"])
    res["onnxruntime_fp32"] = timed(lambda s=sess: s.run(None, feeds), args.runs)
    for prec in ("f32", "bf16") if bf16 else ("f32",):
        m = core.read_model(str(md.graph_path))
        m.reshape({k: list(v.shape) for k, v in feeds.items()})
        c = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": prec,
                                          "INFERENCE_NUM_THREADS": args.threads})
        req = c.create_infer_request()
        res[f"openvino_{prec}"] = timed(lambda r=req: r.infer(feeds), args.runs)
    if not bf16:
        res["openvino_bf16"] = "not run: this CPU has no native bf16 (OpenVINO lists no BF16 capability)"
    if args.torch_runs and src.is_dir():
        graph = fm.ForeignDepthGraph(fm.load_transformers_model(src), md.kind == "prompt_depth").eval()
        tf = {k: torch.from_numpy(v) for k, v in feeds.items()}
        with torch.no_grad():
            res["torch_fp32"] = timed(lambda: graph(*tf.values()), args.torch_runs, warmup=1)
    return res


if __name__ == "__main__":
    raise SystemExit(main())
