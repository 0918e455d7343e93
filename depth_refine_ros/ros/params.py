"""sr_node parameters: declared once (this dataclass), with descriptions, read into a frozen object.

The dataclass is the single source: :func:`declare_and_read` declares every field on the node
with its description and constraints, and :func:`render_yaml` writes ``config/sr.yaml`` (a test
checks the shipped file is exactly that rendering, so the YAML can never drift from the code).
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor

NODE_NAME = "sr_node"


def _p(default: Any, name: str, doc: str, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"ros": name, "doc": doc, "choices": choices})


@dataclass(frozen=True)
class SrParams:
    """All sr_node parameters (ROS names in the ``ros`` metadata)."""

    backend: str = _p("classical", "backend", "Inference backend.", ("classical",))
    classical_method: str = _p(
        "bicubic", "classical.method",
        "Upsampler of the classical backend: bicubic (no guidance), joint_bilateral, "
        "guided_filter, fgs (fast global smoother).",
        ("bicubic", "joint_bilateral", "guided_filter", "fgs"))
    cloud_type: str = _p("xyzrgb", "output.cloud_type",
                         "Point cloud on depth_refined/points: xyz, xyzrgb, or none (no cloud).",
                         ("xyz", "xyzrgb", "none"))
    use_rgb_camera_info: bool = _p(
        True, "use_rgb_camera_info",
        "Take output intrinsics from rgb/camera_info when it arrives (exact for the output size); "
        "otherwise scale depth_lr/camera_info.")
    min_depth_m: float = _p(0.05, "depth.min_m", "Depth at or below this (metres) is invalid (NaN).")
    max_depth_m: float = _p(20.0, "depth.max_m", "Depth above this (metres) is invalid (NaN).")
    sync_mode: str = _p("approximate", "sync.mode",
                        "Pairing of rgb/image and depth_lr/image: approximate "
                        "(message_filters ApproximateTime) or exact (identical stamps).",
                        ("approximate", "exact"))
    sync_queue_size: int = _p(10, "sync.queue_size", "Messages kept per input while pairing.")
    sync_max_interval_s: float = _p(0.05, "sync.max_interval_s",
                                    "Largest stamp difference (s) of a paired rgb/depth set.")
    sync_lower_bound_s: float = _p(
        -1.0, "sync.inter_message_lower_bound_s",
        "Smallest stamp spacing (s) of one input, lets a pair go out without waiting for the next "
        "frame; negative = estimate from the stream, 0 = always wait.")
    jump_back_reset_s: float = _p(
        1.0, "sync.jump_back_reset_s",
        "A stamp this far (s) behind the last processed one resets synchronisation (bag loop, "
        "sim time reset) instead of being rejected as out of order.")
    input_reliability: str = _p("reliable", "qos.input_reliability",
                                "Input reliability: reliable (REP 2003 drivers) or best_effort.",
                                ("reliable", "best_effort"))
    input_depth: int = _p(5, "qos.input_depth", "Input queue depth (KEEP_LAST).")
    output_reliability: str = _p("reliable", "qos.output_reliability",
                                 "Output reliability: reliable or best_effort.",
                                 ("reliable", "best_effort"))
    output_depth: int = _p(2, "qos.output_depth", "Output queue depth (KEEP_LAST).")
    silent_input_warn_s: float = _p(
        5.0, "qos.silent_input_warn_s",
        "Warn when an input has a matched publisher but no message for this long (s).")
    diagnostics_period_s: float = _p(1.0, "diagnostics.period_s", "Period (s) of /diagnostics.")
    log_throttle_s: float = _p(5.0, "log_throttle_s",
                               "Each kind of rejected-input log line repeats at most this often (s).")


def _ros_name(f) -> str:
    return f.metadata["ros"]


def declare_and_read(node) -> SrParams:
    """Declare every :class:`SrParams` field on ``node`` and read the values.

    Raises:
        ValueError: a value is not one of the allowed choices (message names the parameter).
    """
    values = {}
    for f in fields(SrParams):
        desc = f.metadata["doc"]
        if f.metadata["choices"]:
            desc += " One of: " + ", ".join(f.metadata["choices"]) + "."
        node.declare_parameter(_ros_name(f), f.default,
                               ParameterDescriptor(description=desc, read_only=True))
        v = node.get_parameter(_ros_name(f)).value
        if f.metadata["choices"] and v not in f.metadata["choices"]:
            raise ValueError(f"parameter {_ros_name(f)} = '{v}' is not one of "
                             f"{', '.join(f.metadata['choices'])}")
        values[f.name] = v
    return SrParams(**values)


def _yaml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render_yaml() -> str:
    """The ``config/sr.yaml`` text: every parameter, its default and its description."""
    lines = [
        "# sr_node parameters: every parameter the node declares, with its default.",
        "# Generated from depth_refine_ros/ros/params.py (SrParams); a test keeps them identical.",
        "# Use: sr_node --ros-args --params-file config/sr.yaml",
        f"{NODE_NAME}:",
        "  ros__parameters:",
    ]
    tree: dict[str, list] = {}
    for f in fields(SrParams):
        assert f.default is not MISSING
        group, _, leaf = _ros_name(f).rpartition(".")
        tree.setdefault(group, []).append((leaf, f))
    for group, items in tree.items():
        indent = "    " if not group else "      "
        if group:
            lines.append(f"    {group}:")
        for leaf, f in items:
            doc = f.metadata["doc"]
            if f.metadata["choices"]:
                doc += " One of: " + ", ".join(f.metadata["choices"]) + "."
            lines.append(f"{indent}# {doc}")
            lines.append(f"{indent}{leaf}: {_yaml_value(f.default)}")
    return "\n".join(lines) + "\n"
