"""One command-line dialect for every ``depth-refine-train`` command: ``[--config YAML] [key=value ...]
[--set key=value ...]``, the keys being the fields of the command's config dataclass.

Each command runs through ``cli.main`` up to the point where it would train: the function that trains
is replaced by one that records the config it was given."""
import dataclasses

import pytest
import torch
import yaml
from depth_refine_training import adapt, cli, distill, sddr, selfsup, trainer
from depth_refine_training.config import TrainConfig

pytestmark = pytest.mark.unit

CONFIGS = {"sr": TrainConfig, "depth_sr": TrainConfig, "mono": TrainConfig, "adapt": adapt.AdaptConfig,
           "distill": distill.DistillConfig, "selfsup": selfsup.SelfSupConfig, "sddr": sddr.SddrTrainConfig}
REQUIRED = {"adapt": {"bag": "out/bag", "model": "sr_lite"}}
"""The fields a command needs besides the ones a test sets."""


class Captured(Exception):
    """Raised in place of training, with the config the command built."""


@pytest.fixture
def run(monkeypatch):
    """``run(command, *args) -> config``: ``cli.main([command, *args])`` with training replaced."""

    def capture(cfg, *_):
        raise Captured(cfg)

    monkeypatch.setattr(trainer, "train", capture)
    monkeypatch.setattr(adapt, "adapt", capture)
    monkeypatch.setattr(distill, "run", capture)
    monkeypatch.setattr(selfsup, "train", capture)
    monkeypatch.setattr(sddr, "train", capture)
    threads = torch.get_num_threads()  # sddr sets its threads before training

    def call(command: str, *args: str):
        with pytest.raises(Captured) as e:
            cli.main([command, *args])
        torch.set_num_threads(threads)
        return e.value.args[0]
    return call


@pytest.mark.parametrize("command", list(CONFIGS))
def test_every_command_rejects_an_unknown_key_naming_the_valid_ones(command, capsys):
    assert cli.main([command, "no_such_key=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown override 'no_such_key'" in err
    assert all(f"'{f.name}'" in err for f in dataclasses.fields(CONFIGS[command]))
    assert cli.main([command, "--set", "no_such_key=1"]) == 2
    assert "unknown override 'no_such_key'" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(CONFIGS))
def test_every_command_takes_key_value_set_and_a_yaml_they_override(command, run, tmp_path):
    extra = [f"{k}={v}" for k, v in REQUIRED.get(command, {}).items()]
    cfg = run(command, "out=runs/from_cli", "--set", "seed=7", *extra)
    assert isinstance(cfg, CONFIGS[command]) and (cfg.out, cfg.seed) == ("runs/from_cli", 7)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"out": "runs/from_yaml", "seed": 5, **REQUIRED.get(command, {})}))
    cfg = run(command, "--config", str(tmp_path / "c.yaml"), "out=runs/from_cli")
    assert (cfg.out, cfg.seed) == ("runs/from_cli", 5)  # key=value over the YAML; the rest from the YAML
    cfg = run(command, "seed=6", "--config", str(tmp_path / "c.yaml"), "--set", "seed=8")
    assert cfg.seed == 8  # --set last
    if command in ("sr", "depth_sr", "mono"):
        assert cfg.task == command


@pytest.mark.parametrize("command", list(CONFIGS))
def test_help_lists_every_field_with_its_default(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and f"depth-refine-train {command} [--config YAML] [key=value ...]" in out
    for f in dataclasses.fields(CONFIGS[command]):
        line = next((s for s in out.splitlines() if s.startswith(f"  {f.name} ")), "")
        assert line, f"{f.name} missing from --help"
        assert f.metadata.get("help"), f"{f.name} has no help"
    assert "[default: 0]" in out  # seed


def test_values_take_the_field_type_and_the_old_flags_are_refused(run, capsys):
    cfg = run("selfsup", "data=../shared/data/one", "crop=[64, 96]", "fx=[525, 0]", "gap=1", "auto_blur=true",
              "automask=false")
    assert cfg.data == ["../shared/data/one"] and cfg.crop == (64, 96) and cfg.fx == [525.0, 0.0]
    assert cfg.gap == [1] and cfg.auto_blur is True and cfg.automask is False
    assert run("distill", "val_groups=[20200518]").val_groups == ["20200518"]
    assert cli.main(["selfsup", "auto_blur=maybe"]) == 2 and "not a boolean" in capsys.readouterr().err
    assert cli.main(["sddr", "hw=[96]"]) == 2 and "needs 2 values" in capsys.readouterr().err
    assert cli.main(["distill", "de_kind=rgb"]) == 2 and "not one of mono, sr" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["selfsup", "--steps", "30"])
    assert e.value.code == 2 and "steps=..." in capsys.readouterr().err


def test_a_required_field_left_out_is_an_error(capsys):
    assert cli.main(["adapt", "model=sr_lite"]) == 2
    assert "bag is required" in capsys.readouterr().err
    assert cli.main(["adapt"]) == 2
    assert "bag and model are required" in capsys.readouterr().err


def test_sddr_defaults_its_cache_from_the_grid_and_frames(run):
    cfg = run("sddr", "hw=[96, 128]", "max_frames=2", "val_limit=1")
    assert cfg.cache == "runs/sddr/cache_96x128_2_1.pt"
