"""Use the package's Fast DDS profile unless the user configured their own.

Measured (docs/architecture.md, ROS conventions): the publisher's shared-memory segment decides
large-message latency; with the default 512 KiB segment a 1 MB image takes ~24 ms (reliable) or
never arrives (best-effort), with the shipped 32 MiB segment ~2.5 ms, for any subscriber. Fast DDS
reads the variable when the participant is created, so this must run before ``rclpy.init``.
"""
from __future__ import annotations

import os
from importlib import resources

PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def packaged_profile_path() -> str:
    """Absolute path of the shipped ``fastdds_profile.xml``."""
    return str(resources.files("depth_refine_ros").joinpath("resources/fastdds_profile.xml"))


def use_packaged_fastdds_profile() -> str | None:
    """Point Fast DDS at the shipped profile when no profile variable is set.

    Returns:
        The profile path now in use, or None when the user's own setting was kept.
    """
    if any(os.environ.get(v) for v in PROFILE_VARS):
        return None
    path = packaged_profile_path()
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = path
    return path
