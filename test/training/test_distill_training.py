"""``depth-refine-train distill`` (docs/architecture.md, METHODS 4): a few steps of both phases on three
real RGB-D-D frames, the teacher chosen by the role-validation error, and the exported depth-only net
run by the node's pipeline."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, require_data

from depth_refine_ros.backends import create_backend
from depth_refine_ros.data.modeldir import load_model_dir
from depth_refine_ros.pipeline.sr import Pipeline

pytestmark = [pytest.mark.unit, pytest.mark.slow]


@pytest.mark.parametrize("errors, forced, expected", [
    ((2.0, 9.0), "auto", ("dsr", "dsr")), ((9.0, 2.0), "auto", ("de", "de")),
    ((2.0, 9.0), "de", ("de", "dsr")), ((9.0, 2.0), "dsr", ("dsr", "de"))])
def test_teacher_is_the_lower_validation_error_unless_forced(errors, forced, expected):
    sys.path.insert(0, str(ROOT / "training"))
    from depth_refine_training.distill import choose_teacher

    assert choose_teacher(*errors, forced) == expected


def _tiny_distill(out, *args: str) -> None:
    """A few steps of ``depth-refine-train distill`` on three frames (two epochs of two steps), in a
    subprocess with one thread; ``args`` add to or override the common ones."""
    cmd = [sys.executable, "-m", "depth_refine_training.distill", f"data={require_data('rgbdd')}",
           f"out={out}", "train_limit=3", "role_limit=1", "val_limit=1",
           "val_scales=[8]", "role_scales=[8]", "patch=64", "batch=2", "p1_dsr=2",
           "epochs=2", "epoch_steps=2", "sp_warmup=1", "teacher=auto", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "training"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_distill_runs_both_phases_switches_by_error_and_exports_a_depth_only_model(tmp_path):
    out = tmp_path / "run"
    _tiny_distill(out, "preset_de=tiny", "p1_de=2")
    roles = json.loads((out / "roles.json").read_text())
    assert [e["epoch"] for e in roles] == [0, 1]
    for e in roles:  # the lower role-validation RMSE teaches
        assert e["teacher"] == e["auto_teacher"] == ("dsr" if e["dsr_rmse_cm"] <= e["de_rmse_cm"] else "de")
    md = load_model_dir(out / "model")
    tr = md.card.training
    assert md.kind == "depth_sr" and tr["status"] == "trained" and tr["validation"]["rmse_cm_x8"] > 0
    dist = tr["distillation"]
    assert dist["roles"] == roles
    # every epoch trains its student only: phase-1 steps + 2 per epoch a net was the student
    for net in ("dsr", "de"):
        student_epochs = sum(e["teacher"] != net for e in roles)
        assert dist["steps"][net] == 2 + 2 * student_epochs, dist["steps"]
    assert dist["steps"]["sp"] == 1 + 2 * 2
    be = create_backend("onnxruntime", model=str(out / "model"))
    lr = (1 + np.random.default_rng(0).random((24, 32))).astype(np.float32)
    res = Pipeline(be).process(None, lr, out_hw=(96, 128))
    assert res.depth.shape == (96, 128) and np.isfinite(res.depth).all()


def test_guided_sr_denet_teaches_a_depth_only_student(tmp_path):
    """``de_kind=sr``: the shipped guided sr_faster as DENet; its role-validation error is the
    guided net's metric RMSE (far below the depth-only student's), so ``auto`` makes it the teacher of
    every epoch and only DSRNet trains; the card records DENet's kind."""
    out = tmp_path / "run"
    _tiny_distill(out, "de_kind=sr", "init_de=sr_faster", "init_dsr=depth_sr_lite", "p1_de=0", "rho2=0.5")
    roles = json.loads((out / "roles.json").read_text())
    assert [e["teacher"] for e in roles] == ["de", "de"], roles
    assert all(e["de_rmse_cm"] < e["dsr_rmse_cm"] for e in roles), roles
    dist = load_model_dir(out / "model").card.training["distillation"]
    assert dist["denet"]["kind"] == "sr" and dist["rho2_distill"] == 0.5
    assert dist["steps"] == {"dsr": 2 + 2 * 2, "de": 0, "sp": 1 + 2 * 2}


def test_baseline_trains_the_depth_only_net_alone_and_exports_it(tmp_path):
    """``teacher=none`` (the equal-steps baseline of every distillation A/B): DSRNet alone for
    ``p1_dsr + epochs * epoch_steps`` steps, no DENet or SPNet, and an exported model whose card says so."""
    out = tmp_path / "run"
    _tiny_distill(out, "teacher=none", "init_dsr=depth_sr_lite")
    tr = load_model_dir(out / "model").card.training
    assert "distillation" not in tr and "baseline" in tr["stages"][-1]["method"]
    assert tr["stages"][-1]["steps"] == 2 + 2 * 2


# ------------------------------------------------------------------ an imported foundation model as teacher
def test_imported_teacher_losses_vanish_for_a_teacher_that_agrees():
    """``L_distill`` of an imported teacher: a prompt-depth teacher is compared as it is; a relative inverse
    depth one after the per-image scale and shift fit in inverse depth; a metric monocular one after a fit
    in depth. A teacher that agrees up to those gives 0; holes in the teacher's output are left out."""
    import torch

    sys.path.insert(0, str(ROOT / "training"))
    from depth_refine_training.foundation_teacher import distill_loss

    g = torch.Generator().manual_seed(0)
    out = 0.2 + 0.8 * torch.rand(2, 1, 16, 16, generator=g)
    mask = torch.rand(2, 1, 16, 16, generator=g) > 0.2
    inv = torch.stack([3.0 / out[0] + 0.5, 0.2 / out[1] - 0.1])  # another scale and shift per image
    assert distill_loss(out, inv, mask, "relative_inverse", False) < 1e-4
    assert distill_loss(out, 2 * out + 1, mask, "metric", False) < 1e-5
    teacher = out.clone()
    teacher[0, 0, :4] = float("nan")
    assert distill_loss(out, teacher, mask, "metric", True) == 0
    assert abs(distill_loss(out, out + 0.1, mask, "metric", True) - 0.1) < 1e-5


@pytest.mark.parametrize("teacher, message", [
    ("atuo", "teacher must be auto, dsr, de, none or a model directory"),
    ("depth_sr_lite", "is a depth_sr model, not a foundation depth model"),
    ("sr_lite", "is a sr model")])
def test_a_teacher_that_is_no_imported_model_is_refused(teacher, message, capsys):
    sys.path.insert(0, str(ROOT / "training"))
    from depth_refine_training.distill import main

    assert main([f"teacher={teacher}", "out=/nonexistent/never_written"]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def imported(tmp_path):
    """``depth-refine import`` of a tiny random-weight checkpoint (test_import_foundation.py's); returns
    ``make(prompt) -> model directory``."""
    pytest.importorskip("transformers")
    from foundationkit import run_import, save_checkpoint

    def make(prompt: bool):
        name = "pda" if prompt else "da"
        (tmp_path / f"{name}_src").mkdir()
        src = save_checkpoint(tmp_path / f"{name}_src", prompt=prompt)
        assert run_import(src, tmp_path / name, "--no-parity") == 0
        return tmp_path / name
    return make


def _epoch_rows(out) -> list[dict]:
    """The logged terms of the epochs' steps (``log.csv``: label, epoch, counters, terms as JSON, seconds)."""
    import csv

    with open(out / "log.csv", newline="") as f:
        return [json.loads(r[5]) for r in csv.reader(f) if r[0].startswith("epoch")]


@pytest.mark.parametrize("prompt", [True, False], ids=["prompt_depth_anything", "depth_anything"])
def test_an_imported_foundation_model_teaches_the_depth_only_net(tmp_path, imported, prompt):
    """``teacher=MODEL_DIR`` (issue 26, item 4): the frozen imported model teaches DSRNet in every epoch, no
    DENet trains and no roles are decided; the distillation term is in the log, finite; a stop and a rerun
    resume it; the checkpoint and the exported card name the teacher (name, kind, licence, weights' hash)."""
    import torch

    from depth_refine_ros.data.modeldir import load_model_dir

    teacher = imported(prompt)
    out = tmp_path / "run"
    args = [f"teacher={teacher}", "epochs=1", f"teacher_long_side={126 if prompt else 0}"]
    if prompt:  # three steps (phase 1, SPNet's warm-up), then a rerun resumes into the epoch
        _tiny_distill(out, *args, "stop_step=3")
        assert not (out / "model").exists() and torch.load(out / "last.pt", weights_only=False)["state"]["dsr"] == 2
    _tiny_distill(out, *args)
    rows = _epoch_rows(out)
    assert len(rows) == 2 and all(np.isfinite(list(r.values())).all() and r["distill"] > 0 for r in rows), rows
    assert json.loads((out / "roles.json").read_text()) == []
    src = load_model_dir(teacher).card
    ck = torch.load(out / "last.pt", weights_only=False)
    assert "de" not in ck and ck["teacher"]["weights_sha256"] == src.files["model.safetensors"].sha256
    md = load_model_dir(out / "model")
    dist = md.card.training["distillation"]
    assert md.kind == "depth_sr" and dist["teacher_mode"] == "imported"
    assert {k: dist["teacher"][k] for k in ("name", "kind", "licence", "output")} == {
        "name": teacher.name, "kind": "prompt_depth" if prompt else "mono", "licence": "apache-2.0",
        "output": "metric" if prompt else "relative_inverse"}
    assert dist["teacher"]["input_long_side"] == (126 if prompt else 518)
    assert dist["steps"] == {"dsr": 2 + 2, "sp": 1 + 2} and teacher.name in md.card.training["stages"][-1]["method"]
