"""QoS profiles from parameters, and the hints we log when inputs do not arrive.

Why inputs default to RELIABLE (docs/architecture.md, ROS conventions): with Fast DDS defaults a
best-effort subscriber loses a default-configured reliable driver's large images, while a reliable
subscriber receives all of them. Best-effort drivers need ``qos.input_reliability: best_effort``
(a reliable subscriber cannot match a best-effort publisher at all).

Measurements: docs/log/history.md#measurements-moved-from-module-docstrings
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}

SILENT_HINT = (
    "publisher(s) matched on {topic} but {what}. If the driver is best-effort, "
    "set qos.input_reliability:=best_effort; if it publishes large images with Fast DDS defaults, "
    "give the driver the shared-memory profile (FASTDDS_DEFAULT_PROFILES_FILE="
    "<share>/depth_refine_ros/config/fastdds_profile.xml); check the stamps are not stale.")
INCOMPATIBLE_HINT = (
    "QoS incompatible on {topic} (policy {policy}): a publisher offers what this {mine} subscription "
    "cannot accept. For best-effort drivers set qos.input_reliability:=best_effort.")


def make_qos(reliability: str, depth: int) -> QoSProfile:
    """KEEP_LAST volatile profile with the given reliability ('reliable' | 'best_effort').

    Raises:
        ValueError: unknown reliability name.
    """
    if reliability not in RELIABILITY:
        raise ValueError(f"reliability must be one of {sorted(RELIABILITY)}, got '{reliability}'")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(1, int(depth)),
                      reliability=RELIABILITY[reliability], durability=DurabilityPolicy.VOLATILE)
