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


def require_data(sub: str) -> pathlib.Path:
    """Path of ``../shared/data/<sub>``; skips the test only when ``../shared`` is absent."""
    if not SHARED.exists():
        pytest.skip("../shared is absent (a user's fresh machine): data tests skipped")
    path = DATA / sub
    assert path.exists(), f"{path} missing although ../shared exists"
    return path
