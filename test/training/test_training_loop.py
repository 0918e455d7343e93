"""The shared training loop (training/depth_refine_training/loop.py) on a toy task: a resume after a
stop equals the unbroken run, a STOP file ends a run saved, best.pt follows the key metric, a run
without a directory keeps nothing; and the one config dialect (YAML, ``key=value``, ``--set``)."""
import dataclasses
import os

import numpy as np
import pytest
import torch
from conftest import ROOT
from depth_refine_training import config, loop

pytestmark = pytest.mark.unit


class Line(loop.Task):
    """Fit ``y = 3 x - 1`` from seeded batches (one generator per step: resumable)."""

    def __init__(self, stop_at: int = 0, errors: tuple[float, ...] = ()) -> None:
        self.stop_at, self.errors, self.validations = stop_at, list(errors), 0

    def build(self, ctx):
        self.model = torch.nn.Linear(1, 1)

    def optimiser(self, params):
        return loop.adamw_cosine(params, 0.05, 0.0, 6)

    def batches(self, start):
        step = start
        while True:
            x = torch.from_numpy(np.random.default_rng([7, step]).normal(size=(8, 1))).float()
            yield x, 3 * x - 1
            step += 1

    def loss(self, batch, step):
        if self.stop_at and step + 1 == self.stop_at:
            (self.ctx.out / "STOP").touch()
        x, y = batch
        loss = (self.net(x) - y).pow(2).mean()
        return loss, {"mse": float(loss.detach())}

    def validate(self):
        self.validations += 1
        return {"err": self.errors.pop(0) if self.errors else 0.0}

    def key(self, metrics):
        return metrics["err"]

    def checkpoint(self, metrics):
        return {"metrics": metrics}


def _run(out, task=None, **kw):
    return loop.run(task or Line(), loop.LoopConfig(out=str(out), steps=6, val_every=2, **kw))


def test_a_resume_after_a_stop_equals_the_unbroken_run(tmp_path):
    assert _run(tmp_path / "a")["step"] == 6
    assert _run(tmp_path / "b", stop_step=3)["step"] == 3
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["step"] == 3
    assert _run(tmp_path / "b")["step"] == 6
    h = [(tmp_path / d / "param_hash_rank0.txt").read_text() for d in ("a", "b")]
    assert h[0] == h[1] and len(h[0]) == 64
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4", "5", "6"]


def test_a_stop_file_ends_the_run_validated_and_saved(tmp_path):
    task = Line(stop_at=3)
    assert _run(tmp_path, task)["step"] == 3
    assert torch.load(tmp_path / "last.pt", weights_only=False)["step"] == 3
    assert task.validations == 2  # step 2 (cadence) and step 3 (the stop)
    assert _run(tmp_path)["step"] == 6  # the STOP left behind is not a request to the next run


def test_best_follows_the_key_metric(tmp_path):
    res = _run(tmp_path, Line(errors=(2.0, 1.0, 5.0)))
    assert res["metrics"] == {"err": 5.0}
    assert torch.load(tmp_path / "best.pt", weights_only=False)["step"] == 4
    assert torch.load(tmp_path / "last.pt", weights_only=False)["metrics"] == {"err": 5.0}


def test_a_run_without_a_directory_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = loop.run(Line(), loop.LoopConfig(steps=4, val_every=2))
    assert res["step"] == 4 and res["metrics"] == {} and not list(tmp_path.iterdir())


@dataclasses.dataclass
class _Cfg:
    steps: int = 10
    lr: float = 0.1
    crop: tuple[int, int] = (4, 8)
    names: list[str] = dataclasses.field(default_factory=list)


def test_one_dialect_yaml_key_value_and_set(tmp_path):
    def parse(argv):
        return config.parse_config_command("t", "a toy command", _Cfg, argv)

    (tmp_path / "c.yaml").write_text("steps: 20\nlr: 0.5\ncrop: [2, 3]\n")
    cfg = parse(["--config", str(tmp_path / "c.yaml"), "lr=0.2", "--set", "names=[x, y]"])
    # the YAML first, a bare key=value overrides it, a field only in the YAML comes from it,
    # --set overrides everything
    assert (cfg.steps, cfg.lr, cfg.crop, cfg.names) == (20, 0.2, (2, 3), ["x", "y"])
    assert dataclasses.astuple(parse(["--set", "lr=0.3", "--set", "crop=[5, 6]"])) == (10, 0.3, (5, 6), [])
    assert parse(["--set", "lr=0.4", "lr=0.3"]).lr == 0.4  # --set after the bare ones, wherever it stands
    with pytest.raises(ValueError, match="unknown override 'nope'"):
        parse(["--set", "nope=1"])
    (tmp_path / "bad.yaml").write_text("nope: 1\n")
    with pytest.raises(ValueError, match="unknown config keys"):
        parse(["--config", str(tmp_path / "bad.yaml")])


def test_supervised_tasks_take_set_like_a_bare_override(capsys):
    from depth_refine_training import cli

    tiny = str(ROOT / "training" / "configs" / "tiny_cpu.yaml")
    assert cli.main(["sr", "--config", tiny, "--set", "no_such_key=1"]) == 2
    assert "unknown override 'no_such_key'" in capsys.readouterr().err


@pytest.mark.unit
@pytest.mark.slow
def test_a_card_records_the_cpu_hours_of_its_stages(tmp_path):
    """Two stages (the second from the first's checkpoint): each checkpoint records its CPU time, a resume
    adds to it, and the exported card sums the stages."""
    import subprocess
    import sys

    import yaml
    from conftest import require_data

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "training"))
    base = [sys.executable, "-m", "depth_refine_training.cli", "sr", "--config",
            str(ROOT / "training" / "configs" / "tiny_cpu.yaml"), f"data={require_data('rgbdd')}", "workers=0",
            "val_limit=1", "val_every=2", "steps=4"]

    def run(*args):
        r = subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]

    run(f"out={tmp_path / 'a'}", "stop_step=2")
    first = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["compute"]
    run(f"out={tmp_path / 'a'}")  # resume to step 4
    whole = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["compute"]
    assert 0 < first["cpu_hours"] < whole["cpu_hours"] and whole["wall_hours"] > first["wall_hours"]
    run(f"out={tmp_path / 'b'}", f"init={tmp_path / 'a' / 'last.pt'}")
    r = subprocess.run([sys.executable, "-m", "depth_refine_training.cli", "export", str(tmp_path / "b" / "last.pt"),
                        str(tmp_path / "model")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    card = yaml.safe_load((tmp_path / "model" / "card.yaml").read_text())["training"]
    hours = [s["cpu_hours"] for s in card["stages"]]
    assert len(hours) == 2 and hours[0] == whole["cpu_hours"]
    assert abs(card["cpu_hours"] - sum(hours)) < 1e-3 and "cpu_hours_note" not in card
