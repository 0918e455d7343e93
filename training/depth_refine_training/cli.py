"""``depth-refine-train <task> --config <yaml> [key=value ...]`` and ``depth-refine-train <command> ...``.

Supervised tasks: ``sr`` (guided SR), ``depth_sr`` (depth-only SR), ``mono`` (monocular). Under
``torchrun`` the same command trains with DistributedDataParallel. The other commands
(:data:`COMMANDS`) each have their own flags (``depth-refine-train <command> --help``). Every task
takes the one dialect too: ``--config YAML`` of its config fields and ``--set key=value``.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys


def stages(tc: dict, step: int, compute: dict | None = None) -> list[dict]:
    """The training stages behind a checkpoint, oldest first: each ``init=`` hop is followed back
    (a ``.pt`` checkpoint, or a model directory's card) so a fine-tuned model's card shows its
    whole recipe, not only the last run. A stage whose checkpoint recorded its compute
    (``loop.compute_record``) carries ``cpu_hours`` (and ``gpu_hours`` on a GPU)."""
    import torch

    earlier: list[dict] = []
    init = tc.get("init") or ""
    src = pathlib.Path(init)
    if init and src.is_file():
        ck = torch.load(src, map_location="cpu", weights_only=False)
        earlier = stages(ck["train_config"], ck["step"], ck.get("compute"))
    elif init and (src / "card.yaml").is_file():
        from depth_refine_ros.data.modeldir import read_card

        tr = read_card(src).training
        earlier = tr.get("stages") or [{"steps": tr.get("steps"), "lr": tr.get("lr"), "from": str(src)}]
    elif init:
        earlier = [{"from": init, "note": "not found at export time"}]
    this = {"steps": step, "lr": tc["lr"], "batch": tc["batch"], "patch": tc.get("patch"),
            "degradations": tc.get("degradations"), "scales": tc.get("scales"), "init": init or None,
            "out": tc.get("out")}
    if 0 < step < (tc.get("steps") or 0):  # stopped mid-schedule (stop_step): the cosine's length
        this["schedule_steps"] = tc["steps"]
    if tc.get("note"):  # e.g. a checkpoint assembled by a script rather than trained
        this["note"] = tc["note"]
    if tc.get("extra_data"):
        this["extra_data"] = tc["extra_data"]
    for k in ("cpu_hours", "gpu_hours"):
        if compute and k in compute:
            this[k] = compute[k]
    return earlier + [this]


def total_compute(runs: list[dict]) -> dict:
    """``cpu_hours`` summed over the stages that recorded it, and how many did not."""
    known = [r["cpu_hours"] for r in runs if "cpu_hours" in r]
    out = {"cpu_hours": round(sum(known), 3)}
    if len(known) < len(runs):
        out["cpu_hours_note"] = (f"{len(runs) - len(known)} of {len(runs)} stages ran before CPU time was "
                                 "recorded; the total is a lower bound")
    return out


def export(ckpt: str, out: str, name: str | None, use: str | None = None) -> int:
    """Checkpoint -> model directory (safetensors + ONNX + card with training data and metrics).

    ``use`` (optional) is written to the card as ``training.intended_use``: what input the model
    was trained for, when that is narrower than "any depth" (e.g. a registered ToF stream).
    """
    import torch

    from depth_refine_ros.models import config_from_dict
    from depth_refine_ros.models.export import write_model_dir
    from depth_refine_training.foundation_prior import build_sr, prior_record

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    kind = ck["kind"]
    cfg = config_from_dict(kind, ck["model_config"])
    model = build_sr(kind, cfg)  # an imported prior (prior_import) is rebuilt from its directory
    model.load_state_dict(ck["model"])
    tc = ck["train_config"]
    runs = stages(tc, ck["step"], ck.get("compute"))
    training = {"status": "trained", "data": tc["data"], "held_out_groups": tc["val_groups"],
                "degradations": tc.get("degradations"), "scales": tc.get("scales"),
                "steps": sum(r.get("steps") or 0 for r in runs), **total_compute(runs), "stages": runs,
                "batch": tc["batch"], "lr": tc["lr"], "seed": tc["seed"],
                "validation": {k: round(float(v), 4) for k, v in ck["metrics"].items()},
                "validation_note": "held-out days (val_limit frames), last checkpoint (no selection on them)",
                "config": tc}
    if use:
        training["intended_use"] = use
    prior = prior_record(model)
    if prior:  # the frozen foundation prior inside the graph: name, licence, hashes (as a teacher's)
        training["prior"] = prior
    md = write_model_dir(model, kind, cfg, out, name=name, preset=ck["preset"], training=training)
    print(f"wrote {md.path}: {md.describe()}")
    return 0


def adapt_main(argv: list[str]) -> int:
    """``depth-refine-train adapt --bag BAG --model M [--out DIR] [--steps N] [--config YAML] [--set K=V] ...``"""
    from depth_refine_training.adapt import SENSOR_MODELS, AdaptConfig
    from depth_refine_training.config import add_config_options, parse_command

    d = AdaptConfig(bag="", model="")
    ap = argparse.ArgumentParser(
        prog="depth-refine-train adapt",
        description="Fine-tune an SR model (sr or depth_sr) to a sensor from a recorded rosbag (rgb/image + "
                    "depth_lr/image), without ground truth: low-res consistency under a sensor model, "
                    "edge-aware smoothness, an anchor to the starting model. Writes a model directory.")
    ap.add_argument("--bag", default="", help="rosbag2 directory (sqlite3 or MCAP); required")
    ap.add_argument("--model", default="", help="starting model: installed name or model directory; required")
    ap.add_argument("--out", default="", help="model directory to write (default runs/adapt/<model>_<bag>)")
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--patch", type=int, default=d.patch, help="crop size on the output grid")
    ap.add_argument("--sensor", default=d.sensor,
                    help=f"how the sensor samples depth: auto (the one the starting model's output fits best), "
                         f"{', '.join(SENSOR_MODELS)}, or point:PHASE (where in the footprint, 0..1: point:0 "
                         "keeps the top-left pixel, as a decimating driver)")
    ap.add_argument("--w-cons", type=float, default=d.w_cons, help="weight of the low-res consistency term")
    ap.add_argument("--w-edge", type=float, default=d.w_edge, help="weight of the edge-aware smoothness term")
    ap.add_argument("--w-anchor", type=float, default=d.w_anchor, help="weight of the L1 to the starting model")
    ap.add_argument("--registration", choices=["none", "auto"], default=d.registration,
                    help="auto: undo the bag's depth-to-RGB offset as sr_node's registration.mode auto does")
    ap.add_argument("--val-frac", type=float, default=d.val_frac, help="fraction of frames kept for validation")
    ap.add_argument("--max-frames", type=int, default=d.max_frames, help="at most this many frames (evenly spaced)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--name", default="", help="the adapted model's name (default: the directory's)")
    add_config_options(ap)
    try:
        a, finish = parse_command(ap, argv, AdaptConfig)
        cfg = finish(AdaptConfig(bag=a.bag, model=a.model, out=a.out, steps=a.steps, batch=a.batch, lr=a.lr,
                                 patch=a.patch, sensor=a.sensor, w_cons=a.w_cons, w_edge=a.w_edge, w_anchor=a.w_anchor,
                                 registration=a.registration, val_frac=a.val_frac, max_frames=a.max_frames,
                                 seed=a.seed, name=a.name))
    except (ValueError, OSError) as e:
        print(f"depth-refine-train adapt: {e}", file=sys.stderr)
        return 2
    if not cfg.bag or not cfg.model:
        print("depth-refine-train adapt: --bag and --model are required (flags, --config or --set)", file=sys.stderr)
        return 2
    from depth_refine_ros.data.modeldir import ModelError
    from depth_refine_training.adapt import AdaptError, adapt

    try:
        result = adapt(cfg)
    except (AdaptError, ModelError) as e:
        print(f"depth-refine-train adapt: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def export_main(argv: list[str]) -> int:
    """``depth-refine-train export CHECKPOINT OUT [--name N] [--use TEXT]``"""
    ap = argparse.ArgumentParser(prog="depth-refine-train export",
                                 description="Checkpoint -> model directory (safetensors + ONNX + card).")
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--name")
    ap.add_argument("--use", help="intended input, recorded in the card (training.intended_use)")
    a = ap.parse_args(argv)
    return export(a.checkpoint, a.out, a.name, a.use)


COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:function" taking argv and returning an exit code, one-line help)
    "export": (f"{__name__}:export_main", "checkpoint -> model directory"),
    "adapt": (f"{__name__}:adapt_main", "fine-tune an SR model to a sensor from a rosbag, without ground truth"),
    "sddr": ("depth_refine_training.sddr:main", "self-distil an SDDR depth refiner on a monocular model's inferences"),
    "distill": ("depth_refine_training.distill:main", "depth-only SR taught by an RGB->depth net (METHODS 4)"),
    "selfsup": ("depth_refine_training.selfsup:main", "self-supervised monocular training from raw video (METHODS 5)"),
}
"""Commands besides the supervised tasks; each parses its own arguments."""


def _command(name: str):
    import importlib

    module, _, func = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return _command(argv[0])(argv[1:])
    commands = "\n".join(f"  {k:9s} {v[1]}" for k, v in COMMANDS.items())
    ap = argparse.ArgumentParser(
        prog="depth-refine-train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__ + "\ncommands:\n" + commands,
        usage="depth-refine-train {sr,depth_sr,mono} [--config YAML] [key=value ...] [--set key=value ...]\n"
              f"       depth-refine-train {{{','.join(COMMANDS)}}} ...")
    ap.add_argument("task", choices=["sr", "depth_sr", "mono"])
    ap.add_argument("--config", help="YAML config (training/configs/*.yaml)")
    ap.add_argument("overrides", nargs="*", help="key=value overrides of the config")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a key=value override, as the other commands take it (the same as a bare one)")
    a = ap.parse_intermixed_args(argv)
    from depth_refine_training.config import load_config
    from depth_refine_training.trainer import train

    try:
        cfg = load_config(a.config, a.overrides + a.set, a.task)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train: {e}", file=sys.stderr)
        return 2
    result = train(cfg)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
