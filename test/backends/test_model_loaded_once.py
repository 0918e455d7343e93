"""``backend: auto`` loads and verifies a model directory once, and hands it to the engine it picks."""
import pytest

from depth_refine_ros.backends import create_model_backend
from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import load_for_engine
from depth_refine_ros.data import modeldir
from depth_refine_ros.data.modeldir import GRAPH, WEIGHTS, load_model_dir

pytestmark = pytest.mark.unit


def test_auto_reads_and_hashes_the_model_once(monkeypatch):
    hashed: list[str] = []
    real = modeldir.verify_files

    def counting(path, card, only=None):
        hashed.extend(only if only is not None else card.files)
        return real(path, card, only)

    monkeypatch.setattr(modeldir, "verify_files", counting)
    be = create_model_backend("auto", "sr_faster", threads=1, kinds=("sr",))
    assert be.model.name == "sr_faster"
    assert hashed.count(GRAPH) == 1, hashed


def test_a_loaded_model_is_checked_only_for_the_files_it_has_not_verified(tmp_path, monkeypatch):
    md = load_model_dir("sr_faster", (GRAPH,))
    assert md.verified == {GRAPH}
    assert load_for_engine(md, (GRAPH,)) is md  # nothing left to check
    more = load_for_engine(md, (WEIGHTS,))
    assert more.verified == {GRAPH, WEIGHTS}
    # a file the card lists but that no longer matches is refused, as on a fresh load
    monkeypatch.setattr(modeldir, "verify_files", lambda *a, **k: (_ for _ in ()).throw(modeldir.ModelError("bad")))
    with pytest.raises(BackendError, match="model refused: bad"):
        load_for_engine(md, (WEIGHTS,))
