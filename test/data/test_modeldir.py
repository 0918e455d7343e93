"""Model directories: loading verifies every file; corrupt ones are refused with a clear message;
``depth-refine models`` lists them; backends turn refusals into BackendError."""
import dataclasses
import shutil
import subprocess
import sys

import pytest
import yaml
from modelkit import make_model_dir

from depth_refine_ros.backends import BackendError, create_backend
from depth_refine_ros.data.modeldir import CARD, GRAPH, WEIGHTS, ModelCard, ModelError, load_model_dir, sha256_file

pytestmark = pytest.mark.unit


@pytest.fixture
def model(tmp_path_factory, tmp_path):
    src = make_model_dir(tmp_path_factory.getbasetemp() / "md_src", "sr", "lite")
    dst = tmp_path / "sr_lite"
    shutil.copytree(src, dst)
    return dst


def test_card_describes_the_model(model):
    md = load_model_dir(model)
    card = md.card
    assert md.kind == "sr" and card.preset == "lite" and md.size_multiple == 64
    assert md.inputs == ["depth", "rgb"] and md.outputs == ["depth_out"]
    assert card.scales == (2, 16) and card.status == "untrained"
    for f in (WEIGHTS, GRAPH):
        assert card.files[f].sha256 == sha256_file(model / f)
    assert "depth" in card.normalisation and card.units["depth_out"] == "metres"


def test_card_round_trips_without_yaml_anchors(model):
    """A card repeating a list (held-out days in two places) is written out in full, never as &id001."""
    card = load_model_dir(model).card
    days = ["20200518", "20200601"]
    twice = dataclasses.replace(card, training={**card.training, "held_out_groups": days, "val_groups": days})
    text = twice.to_yaml()
    assert "&id" not in text and "*id" not in text
    assert ModelCard.from_dict(yaml.safe_load(text)) == twice


def test_card_with_a_malformed_entry_is_refused_by_name(model):
    card = yaml.safe_load((model / CARD).read_text())
    card["files"][GRAPH] = {"sha256": "abc"}  # no size
    (model / CARD).write_text(yaml.safe_dump(card))
    with pytest.raises(ModelError, match="malformed field"):
        load_model_dir(model)


def test_truncated_file_is_refused_naming_file_and_sizes(model):
    data = (model / GRAPH).read_bytes()
    (model / GRAPH).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=rf"{GRAPH}: size {len(data) // 2} bytes, expected {len(data)}"):
        load_model_dir(model)
    with pytest.raises(BackendError, match="model refused.*truncated"):
        create_backend("onnxruntime", model=str(model))


def test_flipped_byte_is_refused_with_expected_and_actual_sha256(model):
    data = bytearray((model / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (model / WEIGHTS).write_bytes(bytes(data))
    expected = yaml.safe_load((model / CARD).read_text())["files"][WEIGHTS]["sha256"]
    with pytest.raises(ModelError) as e:
        load_model_dir(model)
    msg = str(e.value)
    assert WEIGHTS in msg and expected in msg and sha256_file(model / WEIGHTS) in msg
    with pytest.raises(BackendError, match="sha256"):
        create_backend("torch", model=str(model))
    # the ONNX Runtime backend reads only the graph, which is intact
    create_backend("onnxruntime", model=str(model))


def test_missing_file_bad_card_and_unknown_name(model, tmp_path):
    (model / GRAPH).unlink()
    with pytest.raises(ModelError, match=f"{GRAPH}: missing"):
        load_model_dir(model)
    (model / CARD).write_text("format: something-else\n")
    with pytest.raises(ModelError, match="format"):
        load_model_dir(model)
    (model / CARD).write_text(": not yaml : [")
    with pytest.raises(ModelError, match="cannot read the model card"):
        load_model_dir(model)
    with pytest.raises(ModelError, match="no model 'no_such_model'"):
        load_model_dir("no_such_model")
    with pytest.raises(BackendError, match="needs a model"):
        create_backend("onnxruntime", model="")


def test_graph_that_onnxruntime_cannot_parse_is_a_backend_error(model):
    """A corrupt graph whose card was re-hashed to match (so checksums pass) still fails cleanly."""
    (model / GRAPH).write_bytes(b"not an onnx graph")
    card = yaml.safe_load((model / CARD).read_text())
    card["files"][GRAPH] = {"sha256": sha256_file(model / GRAPH), "bytes": (model / GRAPH).stat().st_size}
    (model / CARD).write_text(yaml.safe_dump(card))
    with pytest.raises(BackendError, match="ONNX Runtime cannot load the graph"):
        create_backend("onnxruntime", model=str(model))


def test_models_command_lists_installed_names(model, tmp_path):
    env = {"DEPTH_REFINE_MODEL_PATH": str(model.parent), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "depth_refine_ros.cli", "models"]
    names = subprocess.run(cli + ["--names"], env=env, capture_output=True, text=True, check=True).stdout
    assert "sr_lite" in names.split()
    table = subprocess.run(cli, env=env, capture_output=True, text=True, check=True).stdout
    assert "sr_lite" in table and "untrained" in table
    # and a command refers to it by name
    import os
    old = os.environ.get("DEPTH_REFINE_MODEL_PATH")
    os.environ["DEPTH_REFINE_MODEL_PATH"] = str(model.parent)
    try:
        assert create_backend("onnxruntime", model="sr_lite").model.path == model
    finally:
        if old is None:
            del os.environ["DEPTH_REFINE_MODEL_PATH"]
        else:
            os.environ["DEPTH_REFINE_MODEL_PATH"] = old


def test_wrong_precision_and_device_are_clear_errors(model):
    with pytest.raises(BackendError, match="fp32 graph"):
        create_backend("onnxruntime", model=str(model), precision="fp16")
    with pytest.raises(BackendError, match="fp16 needs device cuda"):
        create_backend("torch", model=str(model), precision="fp16")
    with pytest.raises(BackendError, match="tensorrt|TensorRT"):
        create_backend("tensorrt", model=str(model))
