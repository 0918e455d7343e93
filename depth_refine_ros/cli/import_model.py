"""``depth-refine import SRC --out MODEL_DIR``: a foundation depth model -> one of this project's model
directories (docs/foundation_models.md).

SRC is a Hugging Face-format checkpoint directory (``config.json`` + ``model.safetensors``) of Depth
Anything (v1/v2, ``model_type: depth_anything``) or Prompt Depth Anything, read with ``transformers``
from the local disk only; or an ``.onnx`` file with its signature declared on the command line
(``--kind``, ``--output-kind``, ``--normalisation``). The result holds ``model.onnx`` (dynamic height
and width), the source weights and config (checkpoint sources), and ``card.yaml``: kind, normalisation,
input size policy, output kind, licence, parity, file hashes. Parity: the ``transformers`` model, ONNX
Runtime and OpenVINO fp32 on the same inputs at two sizes, each within :data:`PARITY_TOL` of the
reference's range, or nothing is written (the card last, so a failed import leaves no loadable model).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: max |x - reference| / range(reference), fp32 (the project's measure, test_parity.py: 1e-4). Measured on
#: random-weight graphs (test/cli/test_import_foundation.py, docs/foundation_models.md#parity).
PARITY_TOL = {"onnxruntime": 1e-4, "openvino_fp32": 1e-4}
DEFAULT_LONG_SIDE = {"mono": 518, "prompt_depth": 504}
CAMERA_HW = (480, 640)  # the parity size follows the size policy for this camera, and a smaller one


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a Depth Anything / Prompt Depth Anything checkpoint or an ONNX file "
                                      "as a model directory", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="checkpoint directory (config.json + model.safetensors) or an .onnx file")
    p.add_argument("--out", required=True, help="model directory to write (created)")
    p.add_argument("--name", help="model name for the card (default: the --out directory's name)")
    p.add_argument("--long-side", type=int, default=0,
                   help="input size policy: the RGB's longer side in pixels, kept a multiple of 14 "
                        "(default: 518 for Depth Anything, 504 for Prompt Depth Anything)")
    p.add_argument("--multiple", type=int, default=14, help="input sides are multiples of this (the ViT patch: 14)")
    p.add_argument("--licence", default="", help="licence to record when the source's metadata gives none")
    p.add_argument("--no-parity", action="store_true", help="skip the ONNX Runtime / OpenVINO parity check")
    p.add_argument("--threads", type=int, default=0, help="threads for the parity runs (0: the libraries' default)")
    g = p.add_argument_group("an .onnx source: its declared signature")
    g.add_argument("--kind", choices=("mono",), default="mono", help="what the graph is (mono: RGB -> depth)")
    g.add_argument("--output-kind", choices=("relative_inverse", "relative", "metric"),
                   help="what it outputs: relative inverse depth (Depth Anything-like), relative depth, metres")
    g.add_argument("--normalisation", choices=("imagenet", "unit"), default="imagenet",
                   help="what the graph's input expects: ImageNet mean/std-normalised RGB, or RGB in [0, 1]")
    g.add_argument("--input", default="", help="the graph's image input name (default: its only input)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src, out = Path(args.src).expanduser(), Path(args.out).expanduser()
    try:
        if src.is_file() and src.suffix == ".onnx":
            md = import_onnx(src, out, args)
        elif src.is_dir():
            md = import_checkpoint(src, out, args)
        else:
            raise ValueError(f"{src}: neither a checkpoint directory nor an .onnx file")
    except (ValueError, RuntimeError) as e:
        print(f"import: {e}", file=sys.stderr)
        return 1
    card = md.card
    print(f"wrote {md.path}: {md.describe()}, {card.params:,} parameters, output {card.units['depth_out']}, "
          f"licence {card.extra['imported']['licence']}")
    for k, v in card.extra.get("parity", {}).get("measured", {}).items():
        print(f"  parity {k}: {v}")
    return 0


def _files(out: Path, names: list[str]) -> dict[str, Any]:
    from depth_refine_ros.data.modeldir import FileEntry, sha256_file

    return {f: FileEntry(sha256_file(out / f), (out / f).stat().st_size) for f in names}


def _parity_sizes(kind: str, long_side: int, multiple: int) -> list[tuple[int, int]]:
    from depth_refine_ros.core.foundation import policy_hw

    return [policy_hw(CAMERA_HW, long_side, multiple), policy_hw((240, 320), long_side // 2, multiple)]


def _prompt_hw(hw: tuple[int, int]) -> tuple[int, int]:
    """A ToF-like prompt for an RGB input of ``hw``: about a quarter of its size (PromptDA: 192x256)."""
    return max(4, hw[0] // 2 // 2), max(4, hw[1] // 2 // 2)


def check_parity(graph: Path, feeds_list: list[dict[str, np.ndarray]], reference, threads: int = 0
                 ) -> dict[str, Any]:
    """ONNX Runtime and OpenVINO fp32 against ``reference(feeds)`` (None: against ONNX Runtime).

    Returns:
        ``{"tolerance": ..., "sizes": [...], "measured": {engine: worst error}}``.

    Raises:
        RuntimeError: an engine beyond its tolerance (the message names it, the size and the error).
    """
    from depth_refine_ros.backends import graph_check

    worst: dict[str, float] = {}
    for feeds in feeds_list:
        ort_out = graph_check.run_onnxruntime(graph, feeds, threads)[0]
        ref = reference(feeds) if reference is not None else ort_out
        outs = {"openvino_fp32": graph_check.run_openvino(graph, feeds, threads)[0]}
        if reference is not None:
            outs["onnxruntime"] = ort_out
        for engine, got in outs.items():
            err = graph_check.relative_error(ref, got)
            worst[engine] = max(worst.get(engine, 0.0), err)
            if not np.isfinite(err) or err > PARITY_TOL[engine]:
                hw = feeds["rgb"].shape[2:]
                raise RuntimeError(f"parity: {engine} differs from {'transformers' if reference else 'onnxruntime'} "
                                   f"by {err:.3g} of the output's range at {hw[0]}x{hw[1]} "
                                   f"(tolerance {PARITY_TOL[engine]:g}); nothing written")
    return {"tolerance": {k: PARITY_TOL[k] for k in worst}, "measure": "max |x - ref| / range(ref), fp32",
            "reference": "transformers (torch)" if reference is not None else "onnxruntime",
            "sizes": [list(f["rgb"].shape[2:]) for f in feeds_list],
            "measured": {k: float(f"{v:.3g}") for k, v in worst.items()}}


def _card(out: Path, name: str, kind: str, files: list[str], *, inputs: list[str], outputs: list[str],
          out_kind: str, long_side: int, multiple: int, n_params: int, model_class: str,
          config: dict[str, Any], imported: dict[str, Any], parity: dict[str, Any], normalisation: str):
    from depth_refine_ros.data.modeldir import GRAPH, ModelCard

    rgb_text = (f"RGB uint8 / 255, NCHW, resized keeping the aspect ratio so that the longer side is {long_side} px "
                f"and both sides are multiples of {multiple}; {normalisation}")
    norm = {"rgb": rgb_text}
    if kind == "prompt_depth":
        norm["depth"] = ("the low-res metric depth prompt (m), holes filled nearest-valid, at its own size; "
                         "min-max normalised inside the graph and the output mapped back to metres")
    norm["output"] = {"relative_inverse": "affine-invariant inverse depth at the input size (larger = nearer): "
                                          "fit scale and shift on 1 / depth for metres",
                      "metric": "metric depth (m) at the input size",
                      "relative": "affine-invariant depth at the input size"}[out_kind]
    dynamic = ["height", "width"] + (["prompt_height", "prompt_width"] if kind == "prompt_depth" else [])
    return ModelCard(
        name=name, kind=kind, config=config,
        graph={"file": GRAPH, "opset": imported.get("opset", 18), "inputs": inputs, "outputs": outputs,
               "layout": "NCHW float32", "dynamic": dynamic},
        files=_files(out, files), size_multiple=multiple, preset="imported", model_class=model_class,
        params=n_params, weights="model.safetensors" if "model.safetensors" in files else "",
        normalisation=norm,
        units={"depth_in": "metres" if kind == "prompt_depth" else "none", "depth_out": out_kind},
        input_hw=(long_side, long_side),
        training={"status": "imported", "note": "weights as the source gave them; accuracy not measured here "
                                                "(docs/foundation_models.md)"},
        extra={"imported": imported,
               "input_size": {"policy": "long_side", "long_side": long_side, "multiple": multiple},
               "parity": parity,
               "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


def import_checkpoint(src: Path, out: Path, args: argparse.Namespace):
    """A ``transformers`` checkpoint directory -> model directory (module docstring)."""
    from depth_refine_ros.data.modeldir import GRAPH, load_model_dir, sha256_file, write_card
    from depth_refine_ros.models import foundation as fm

    cfg = fm.read_source_config(src)
    cls_name, kind = fm.ARCHITECTURES[cfg["model_type"]]
    prompt = kind == "prompt_depth"
    model = fm.load_transformers_model(src)
    graph = fm.ForeignDepthGraph(model, prompt).eval()
    long_side = args.long_side or DEFAULT_LONG_SIDE[kind]
    out.mkdir(parents=True, exist_ok=True)
    (out / "card.yaml").unlink(missing_ok=True)  # a failed import must not leave an older card vouching
    fm.export_onnx(graph, out / GRAPH, (4 * args.multiple, 6 * args.multiple))
    parity: dict[str, Any] = {"skipped": "--no-parity"}
    if not args.no_parity:
        feeds = []
        for i, hw in enumerate(_parity_sizes(kind, long_side, args.multiple)):
            f = fm.example_feeds(prompt, hw, _prompt_hw(hw), seed=i)
            feeds.append({k: v.numpy() for k, v in f.items()})
        parity = check_parity(out / GRAPH, feeds, lambda f: fm.torch_outputs(graph, f), args.threads)
    weights = sorted(src.glob("*.safetensors"))
    files = [GRAPH, "hf_config.json"]
    shutil.copyfile(src / "config.json", out / "hf_config.json")
    if len(weights) == 1:
        shutil.copyfile(weights[0], out / "model.safetensors")
        files.append("model.safetensors")
    source_files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                    for p in [src / "config.json", *weights]}
    out_kind = fm.output_kind(cfg)
    imported = {"from": str(src.resolve()), "format": "transformers", "model_type": cfg["model_type"],
                "architecture": cls_name, **fm.versions(), "opset": fm.OPSET, "licence": fm.source_licence(src, cfg),
                "depth_estimation_type": cfg.get("depth_estimation_type", "relative"),
                "max_depth": cfg.get("max_depth"), "source_files": source_files}
    if imported["licence"] == "unknown" and args.licence:  # the source's metadata wins over the flag
        imported["licence"] = f"{args.licence} (declared at import)"
    card = _card(out, args.name or out.name, kind, files, inputs=["rgb", "depth"] if prompt else ["rgb"],
                 outputs=["depth_out"] if prompt else ["depth"], out_kind=out_kind, long_side=long_side,
                 multiple=args.multiple, n_params=fm.params(model), model_class=cls_name,
                 config={"source": "transformers", "hf_config": "hf_config.json", "model_type": cfg["model_type"]},
                 imported=imported, parity=parity,
                 normalisation="ImageNet mean/std applied inside the graph")
    write_card(out, card)
    return load_model_dir(out)


def import_onnx(src: Path, out: Path, args: argparse.Namespace):
    """An ONNX file with a declared signature -> model directory: its image input renamed ``rgb`` (and,
    with ``--normalisation imagenet``, ImageNet mean/std prepended), its first output made ``(1, 1, H, W)``
    ``depth``. Parity: OpenVINO fp32 against ONNX Runtime (there is no other reference)."""
    from depth_refine_ros.data.modeldir import GRAPH, load_model_dir, sha256_file, write_card
    from depth_refine_ros.models.foundation_onnx import adapt_graph

    if not args.output_kind:
        raise ValueError("an .onnx source needs --output-kind (relative_inverse, relative or metric)")
    long_side = args.long_side or DEFAULT_LONG_SIDE["mono"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "card.yaml").unlink(missing_ok=True)
    info = adapt_graph(src, out / GRAPH, args.input, args.normalisation == "imagenet")
    parity: dict[str, Any] = {"skipped": "--no-parity"}
    if not args.no_parity:
        rng = np.random.default_rng(0)
        feeds = [{"rgb": rng.random((1, 3, *hw), dtype=np.float32)}
                 for hw in _parity_sizes("mono", long_side, args.multiple)]
        parity = check_parity(out / GRAPH, feeds, None, args.threads)
    imported = {"from": str(src.resolve()), "format": "onnx", "opset": info["opset"],
                "licence": args.licence or "unknown", "declared": {
                    "kind": args.kind, "output_kind": args.output_kind, "normalisation": args.normalisation,
                    "input": info["input"], "output": info["output"]},
                "source_files": {src.name: {"sha256": sha256_file(src), "bytes": src.stat().st_size}}}
    norm = ("ImageNet mean/std prepended to the graph at import" if args.normalisation == "imagenet"
            else "fed in [0, 1] as declared")
    card = _card(out, args.name or out.name, "mono", [GRAPH], inputs=["rgb"], outputs=["depth"],
                 out_kind=args.output_kind, long_side=long_side, multiple=args.multiple, n_params=info["params"],
                 model_class="onnx", config={"source": "onnx"}, imported=imported, parity=parity,
                 normalisation=norm)
    write_card(out, card)
    return load_model_dir(out)
