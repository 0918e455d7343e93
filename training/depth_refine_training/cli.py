"""``depth-refine-train <command> [--config YAML] [key=value ...] [--set key=value ...]``.

Every command but ``export`` takes its settings in one dialect: the fields of its config dataclass,
from a YAML file (``--config``), then bare ``key=value`` overrides, then ``--set key=value``
(:mod:`depth_refine_training.config`); ``depth-refine-train <command> --help`` lists the keys.
Supervised tasks (:data:`TASKS`): ``sr`` (guided SR), ``depth_sr`` (depth-only SR), ``mono``
(monocular); under ``torchrun`` the same command trains with DistributedDataParallel. The other
commands are in :data:`COMMANDS`.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from depth_refine_training.config import USAGE


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
    """``depth-refine-train adapt bag=BAG model=M [key=value ...]``; returns the exit code."""
    from depth_refine_training.adapt import AdaptConfig
    from depth_refine_training.config import parse_config_command

    try:
        cfg = parse_config_command(
            "depth-refine-train adapt",
            "Fine-tune an SR model (sr or depth_sr) to a sensor from a recorded rosbag (rgb/image + depth_lr/image), "
            "without ground truth: low-res consistency under a sensor model, edge-aware smoothness, an anchor to "
            "the starting model. Writes a model directory.", AdaptConfig, argv)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train adapt: {e}", file=sys.stderr)
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


TASKS: dict[str, str] = {
    "sr": "guided depth SR (RGB + low-res depth)",
    "depth_sr": "depth-only SR (low-res depth alone)",
    "mono": "monocular depth (RGB alone)",
}
"""The supervised tasks: one config (:class:`~depth_refine_training.config.TrainConfig`), one loop."""

COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:function" taking argv and returning an exit code, one-line help)
    "export": (f"{__name__}:export_main", "checkpoint -> model directory"),
    "adapt": (f"{__name__}:adapt_main", "fine-tune an SR model to a sensor from a rosbag, without ground truth"),
    "sddr": ("depth_refine_training.sddr:main", "self-distil an SDDR depth refiner on a monocular model's inferences"),
    "distill": ("depth_refine_training.distill:main", "depth-only SR taught by an RGB->depth net (METHODS 4)"),
    "selfsup": ("depth_refine_training.selfsup:main", "self-supervised monocular training from raw video (METHODS 5)"),
}
"""Commands besides the supervised tasks; each parses its own arguments (all but ``export`` with
:func:`depth_refine_training.config.parse_config_command`)."""


def _command(name: str):
    import importlib

    module, _, func = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), func)


def train_main(task: str, argv: list[str]) -> int:
    """``depth-refine-train {sr,depth_sr,mono} [--config YAML] [key=value ...]``; returns the exit code."""
    from depth_refine_training.config import TrainConfig, parse_config_command

    try:
        cfg = parse_config_command(f"depth-refine-train {task}", f"Supervised training: {TASKS[task]}. Under "
                                   "torchrun the same command trains with DistributedDataParallel.", TrainConfig, argv)
    except (ValueError, OSError) as e:
        print(f"depth-refine-train {task}: {e}", file=sys.stderr)
        return 2
    cfg.task = task
    from depth_refine_training.trainer import train

    print(json.dumps(train(cfg)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``depth-refine-train <command> [--config YAML] [key=value ...] [--set key=value ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TASKS:
        return train_main(argv[0], argv[1:])
    if argv and argv[0] in COMMANDS:
        return _command(argv[0])(argv[1:])
    listing = "\n".join(f"  {k:9s} {v}" for k, v in TASKS.items())
    listing += "\n" + "\n".join(f"  {k:9s} {v[1]}" for k, v in COMMANDS.items())
    ap = argparse.ArgumentParser(
        prog="depth-refine-train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training, distillation, adaptation and export for depth_refine_ros. Every command but export\n"
                    "takes its settings as key=value (the fields of its config; --config YAML and --set key=value\n"
                    "too): `depth-refine-train <command> --help` lists them.\n\ncommands:\n" + listing,
        usage=f"depth-refine-train <command> {USAGE}\n       depth-refine-train export CHECKPOINT OUT [--name N]")
    ap.add_argument("command", choices=[*TASKS, *COMMANDS], help="what to run (first on the line)")
    ap.parse_args(argv[:1])  # --help prints the help; no command or an unknown one exits with the usage
    ap.error("the command comes first")


if __name__ == "__main__":
    sys.exit(main())
