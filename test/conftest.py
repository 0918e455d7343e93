"""Shared test setup: data locations, and an isolated DDS domain for every test session.

The domain ID and LOCALHOST discovery are set before anything imports rclpy, so concurrent
runs on one machine never cross-talk.
"""
from __future__ import annotations

import os
import pathlib

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(120 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


KINDS = ("unit", "ros", "slow")


def pytest_collection_modifyitems(config, items) -> None:
    """Every test says what it needs (``unit``, ``ros`` and/or ``slow``): an unmarked one is an error,
    because ``make test-fast`` (``-m unit``) would skip it silently."""
    unmarked = [i.nodeid for i in items if not any(i.get_closest_marker(k) for k in KINDS)]
    if unmarked:
        raise pytest.UsageError("tests without a unit/ros/slow marker:\n  " + "\n  ".join(unmarked))


def require_data(sub: str) -> pathlib.Path:
    """Path of ``../shared/data/<sub>``; skips the test only when ``../shared`` is absent."""
    if not SHARED.exists():
        pytest.skip("../shared is absent (a user's fresh machine): data tests skipped")
    path = DATA / sub
    assert path.exists(), f"{path} missing although ../shared exists"
    return path


class LiveNode:
    """The live-node scaffold: a node as its own process and a rig publishing to / recording from it.

    ``start(*overrides, executable=..., match_s=..., **rig_kwargs)`` starts the node (parameter
    overrides ``name:=value``), a :class:`~depth_refine_ros.ros.rig.Rig`, and waits until they
    match. ``stop()`` closes the rig, stops the node with SIGINT and asserts a clean exit (code 0, no
    traceback in its log); the ``live_node`` fixture calls it at teardown if the test did not.
    """

    def __init__(self) -> None:
        self.node = None
        self.rig = None

    def start(self, *overrides: str, executable: str = "sr_node", match_s: float = 30.0, **rig_kwargs):
        from depth_refine_ros.ros.rig import NodeProcess, Rig

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
