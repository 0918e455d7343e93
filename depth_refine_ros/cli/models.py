"""``depth-refine models`` (list installed model directories), ``model-init`` (write an untrained
model directory: for timing, tests and as a training starting point) and ``build-engine``
(build and cache a TensorRT engine explicitly)."""
from __future__ import annotations

import argparse
import sys


def list_models(args: argparse.Namespace) -> int:
    from depth_refine_ros.data.modeldir import installed, search_paths

    models = installed()
    if args.names:
        for m in models:
            if not m.error:
                print(m.name)
        return 0
    if not models:
        print("no models installed; searched: " + ", ".join(map(str, search_paths())))
        return 0
    print(f"{'name':<28} {'kind':<9} summary / path")
    for m in models:
        print(f"{m.name:<28} {m.kind:<9} {m.error or m.summary}  [{m.path}]")
    return 0


def model_init(args: argparse.Namespace) -> int:
    from depth_refine_ros.models import preset_config
    from depth_refine_ros.models.export import write_random_model_dir

    overrides = {}
    if args.fusion:
        overrides["fusion"] = args.fusion
    if args.guidance:
        overrides["guidance"] = args.guidance
    try:
        cfg = preset_config(args.kind, args.preset, **overrides)
    except (KeyError, TypeError, ValueError) as e:
        print(f"model-init: {e}", file=sys.stderr)
        return 2
    md = write_random_model_dir(args.kind, cfg, args.out, preset=args.preset, seed=args.seed)
    print(f"wrote {md.path}: {md.describe()}, {md.card.params:,} parameters")
    return 0


BUILD_PRECISIONS = {"tensorrt": ("auto", "fp16", "fp32"), "openvino": ("auto", "fp32", "bf16")}
"""What ``build-engine`` accepts per backend; ``auto`` is the backend's own (tensorrt fp16; openvino as a node's)."""


def build_engine(args: argparse.Namespace) -> int:
    from depth_refine_ros.backends import BackendError, create_backend
    from depth_refine_ros.pipeline.factory import PRELOAD_SIZES

    if args.hw and (args.backend != "openvino" or len(args.hw) % 2 or min(args.hw) < 1):
        print("build-engine: --hw takes H W pairs of positive sizes, with --backend openvino", file=sys.stderr)
        return 2
    runs = BUILD_PRECISIONS[args.backend]
    if args.precision not in runs:
        print(f"build-engine: {args.backend} runs {', '.join(runs)}, not {args.precision}", file=sys.stderr)
        return 2
    try:
        if args.backend == "openvino":
            sizes = [tuple(args.opt_hw)] + [tuple(args.hw[i:i + 2]) for i in range(0, len(args.hw or []), 2)]
            be = create_backend("openvino", model=args.model, precision=args.precision, opt_hw=sizes[0])
            for h, w in sizes:  # compiled (or found) and cached; recorded as used, so a live node preloads them
                print(f"{w}x{h} output: {be.engine.prepare((h, w))}")
            if len(sizes) - 1 > PRELOAD_SIZES:
                print(f"note: a live node compiles 640x480 and preloads the {PRELOAD_SIZES} given last "
                      "(the most recently used); the others compile in the background when their frames come")
        else:
            be = create_backend("tensorrt", model=args.model,
                                precision="fp16" if args.precision == "auto" else args.precision,
                                opt_hw=tuple(args.opt_hw), max_hw=tuple(args.max_hw), build="if_missing")
    except BackendError as e:
        print(f"build-engine: {e}", file=sys.stderr)
        return 1
    print(f"ready: {be.describe()}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list installed model directories")
    p.add_argument("--names", action="store_true", help="only the names, one per line")
    p.set_defaults(func=list_models)

    p = sub.add_parser("model-init", help="write an untrained model directory (timing, tests)")
    p.add_argument("kind", choices=["sr", "depth_sr", "mono", "sddr"])
    # typed out, not imported: the presets live beside torch, and --help should not load torch
    p.add_argument("preset", help="sr/depth_sr: lite, base, full; mono: tiny, small, resnet18, resnet50; "
                                  "sddr: base, large")
    p.add_argument("out", help="directory to write")
    p.add_argument("--fusion", choices=["adain", "concat"])
    p.add_argument("--guidance", choices=["rgb", "rgb+prior", "none"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=model_init)

    p = sub.add_parser("build-engine", help="build and cache a TensorRT engine or OpenVINO compiled models")
    p.add_argument("model")
    p.add_argument("--backend", choices=["tensorrt", "openvino"], default="tensorrt",
                   help="openvino: compile --opt-hw and every --hw output size into the cache a live node preloads")
    p.add_argument("--precision", choices=["auto", "fp16", "fp32", "bf16"], default="auto",
                   help="auto: the backend's own, as a node picks it (tensorrt fp16); tensorrt: fp16 or fp32; "
                        "openvino: fp32 or bf16")
    p.add_argument("--opt-hw", type=int, nargs=2, default=[480, 640])
    p.add_argument("--max-hw", type=int, nargs=2, default=[1088, 1920], help="tensorrt: largest output size")
    p.add_argument("--hw", type=int, nargs="+", metavar="H W",
                   help="openvino: more output sizes, as H W pairs (e.g. --hw 720 1280 384 512): your cameras'")
    p.set_defaults(func=build_engine)
