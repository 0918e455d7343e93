"""The benchmark's untrained model copies follow the network code (no stale graph is timed)."""
import pytest
import yaml

from depth_refine_ros.backends import create_backend
from depth_refine_ros.cli.bench_models import ensure_model
from depth_refine_ros.models import config_to_dict, preset_config

pytestmark = pytest.mark.unit


def test_a_copy_from_older_network_code_is_rewritten(tmp_path):
    path = ensure_model("mono/tiny", tmp_path)
    card = yaml.safe_load((path / "card.yaml").read_text())
    assert card["config"] == config_to_dict(preset_config("mono", "tiny"))
    stale = dict(card, config={**card["config"], "stale_field": 1})  # as if written by older code
    (path / "card.yaml").write_text(yaml.safe_dump(stale))
    assert ensure_model("mono/tiny", tmp_path) == path
    assert yaml.safe_load((path / "card.yaml").read_text())["config"] == card["config"]
    create_backend("torch", model=str(path))  # the rewritten weights load into today's module
