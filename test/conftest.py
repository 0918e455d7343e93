"""Shared test setup: data locations, and an isolated DDS domain for every test session.

The domain ID and LOCALHOST discovery are set before anything imports rclpy, so concurrent
runs on one machine never cross-talk.

The tests sit in one folder per layer (test/core, test/ros, ...); this module, frames.py and modelkit.py
stay in test/, which pyproject.toml puts on the path (``pythonpath``): ``from conftest import ...`` works
from every folder, so no folder has a conftest.py of its own.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(120 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _data() -> pathlib.Path:
    """The package's own data folder (:func:`~depth_refine_ros.data.paths.data_root`), or where it is
    looked for first when absent (then :func:`require_data` skips)."""
    from depth_refine_ros.data.paths import DataMissing, data_root

    try:
        return data_root()
    except DataMissing:
        return SHARED / "data"


DATA = _data()


KINDS = ("unit", "ros", "slow")

# A venv without torch (`make test ROS_DISTRO=jazzy`: PyPI has no CPU torch for Jazzy's Python 3.12)
# cannot import the test modules that build models with torch: there, and only there, such a module is
# reported as skipped instead of as a collection error. Where torch is installed (`make test`) all run.
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if not HAS_TORCH and rep.failed and isinstance(collector, pytest.Module) \
            and "No module named 'torch'" in str(rep.longrepr):
        rep.outcome = "skipped"
        rep.longrepr = (str(collector.path), 0, "Skipped: imports torch, which this venv does not have")


def pytest_collection_modifyitems(config, items) -> None:
    """Every test says what it needs (``unit``, ``ros`` and/or ``slow``): an unmarked one is an error,
    because ``make test-fast`` (``-m unit``) would skip it silently."""
    unmarked = [i.nodeid for i in items if not any(i.get_closest_marker(k) for k in KINDS)]
    if unmarked:
        raise pytest.UsageError("tests without a unit/ros/slow marker:\n  " + "\n  ".join(unmarked))


def require_data(sub: str) -> pathlib.Path:
    """Path of ``<data>/<sub>`` (:data:`DATA`); skips the test only when the data folder is absent."""
    if not DATA.exists():
        pytest.skip(f"{DATA} is absent (a user's fresh machine; set DEPTH_REFINE_DATA): data tests skipped")
    path = DATA / sub
    assert path.exists(), f"{path} missing although {DATA} exists"
    return path


def classical_unless_named(overrides: tuple[str, ...]) -> tuple[str, ...]:
    """``overrides`` with ``backend:=classical`` first unless they name a backend: the live tests of
    the node's plumbing compare against the exactly known classical result, not the shipped network."""
    if any(o.startswith("backend:=") for o in overrides):
        return tuple(overrides)
    return ("backend:=classical", *overrides)


class LiveNode:
    """The live-node scaffold: a node as its own process and a rig publishing to / recording from it.

    ``start(*overrides, executable=..., match_s=..., shipped_default=False, **rig_kwargs)`` starts
    the node (parameter overrides ``name:=value``), a :class:`~depth_refine_ros.ros.rig.Rig`, and
    waits until they match. The live tests check the node's plumbing (formats, stamps, clouds,
    registration, bad input) against the exactly known classical result, so an ``sr_node`` runs
    ``backend:=classical`` unless the overrides name a backend; ``shipped_default=True`` runs
    ``config/sr.yaml`` as shipped (the learned default). ``stop()`` closes the rig, stops the node
    with SIGINT and asserts a clean exit (code 0, no traceback in its log); the ``live_node``
    fixture calls it at teardown if the test did not.
    """

    def __init__(self) -> None:
        self.node = None
        self.rig = None

    def start(self, *overrides: str, executable: str = "sr_node", match_s: float = 30.0,
              shipped_default: bool = False, **rig_kwargs):
        from depth_refine_ros.ros.rig import NodeProcess, Rig

        if executable == "sr_node" and not shipped_default:
            overrides = classical_unless_named(overrides)
        self.node = NodeProcess(*overrides, executable=executable).__enter__()
        self.rig = Rig(**rig_kwargs)
        self.rig.wait_matched(match_s)
        return self.node, self.rig

    def stop(self) -> str:
        """Close the rig, SIGINT the node; asserts exit code 0 and no traceback. Returns the node's log."""
        if self.node is None:
            return ""
        node, self.node = self.node, None
        if self.rig is not None:
            self.rig.close()
        code = node.stop()
        log = node.log()
        node.__exit__(None, None, None)
        assert code == 0, f"node exited with {code}\n{log[-2000:]}"
        assert "Traceback" not in log, log[-2000:]
        return log


@pytest.fixture
def live_node():
    """A :class:`LiveNode`, stopped (and checked for a clean exit) at teardown."""
    live = LiveNode()
    yield live
    live.stop()


# ---------------------------------------------------------------- test/launch/: launch_testing tests
LAUNCH_TESTS = ROOT / "test" / "launch"


def pytest_pycollect_makemodule(module_path, parent):
    """A launch_testing file of ``test/launch/`` is collected as one test that runs ``launch_test`` on it.

    Those files (``generate_test_description`` + unittest classes) need launch_testing's runner:
    its own pytest plugin, which would collect them, breaks under pytest 9 and is disabled in
    pyproject.toml, and the venv has no launch_testing. So pytest never imports them: each becomes
    one ``ros``/``slow`` test running ``launch_test <file>`` where ``launch_test`` is on PATH (a sourced
    ROS 2 shell), skipped with the command to run where it is not. (No conftest.py in test/launch/:
    a second ``conftest`` module would shadow this one for ``from conftest import ...``.)
    """
    if module_path.parent == LAUNCH_TESTS and module_path.name.startswith("test_"):
        return LaunchTestFile.from_parent(parent, path=module_path)
    return None


class LaunchTestFile(pytest.File):
    def collect(self):
        item = LaunchTestItem.from_parent(self, name="launch_test")
        item.add_marker(pytest.mark.ros)
        item.add_marker(pytest.mark.slow)
        yield item


class LaunchTestItem(pytest.Item):
    def runtest(self) -> None:
        rel = self.path.relative_to(ROOT)
        exe = shutil.which("launch_test")
        if exe is None:
            pytest.skip(f"launch_test (launch_testing, from a ROS 2 install or workspace) is not on PATH: in a "
                        f"sourced ROS 2 shell run `launch_test {rel}`")
        env = dict(os.environ, ROS_HOME=tempfile.mkdtemp(prefix="launch_test_"), PYTHONUNBUFFERED="1")
        proc = subprocess.run([exe, str(self.path)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or "Ran 0 tests" in out:
            raise AssertionError(f"launch_test {rel} exited with {proc.returncode}\n{out[-6000:]}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"launch_test {self.path.relative_to(ROOT)}"
