"""tools/device_check.sh --dry-run: the prepared GPU check runs its steps on the CPU and prints its table."""
import json
import os
import subprocess

import pytest
from conftest import ROOT


def _dry_run(tmp_path, *extra):
    pytest.importorskip("torch", reason="the check's CPU rows run the models in torch (Jazzy's venv has none)")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([str(ROOT / "tools" / "device_check.sh"), "--dry-run", "--models", "sr_faster", "mono_small",
                        "--sizes", "160x128", "--presets", "faster", "--train-steps", "1", *extra],
                       capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout, json.loads((ROOT / "out" / "device_check.json").read_text())


@pytest.mark.unit
@pytest.mark.slow
def test_the_dry_run_times_every_model_checks_parity_and_times_training(tmp_path):
    out, data = _dry_run(tmp_path, "--live-frames", "0")
    assert "| sr_faster | 160x128 | torch cpu | fp32 |" in out
    assert [r["model"] for r in data["models"]] == ["sr_faster", "mono_small"]
    for r in data["models"]:
        assert r["status"] == "ok" and r["parity"] <= r["tol"] and r["median_ms"] > 0
    assert data["training"][0]["preset"] == "faster" and data["training"][0]["steps_per_s"] > 0
    assert data["live"]["live"] == "skipped"


@pytest.mark.ros
@pytest.mark.slow
def test_the_dry_run_streams_through_the_live_node(tmp_path):
    _, data = _dry_run(tmp_path, "--live-frames", "10")
    assert data["live"]["live"] == "ok", data["live"]
    assert {r["stage"] for r in data["live"]["rows"]} == {"e2e_depth_only", "e2e_depth+cloud"}
    assert all(r["received"] > 0 for r in data["live"]["rows"])
