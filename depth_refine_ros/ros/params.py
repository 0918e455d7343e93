"""sr_node and mono_node parameters: the settings dataclasses declared as ROS parameters and read back.

The settings are defined once, with their defaults and descriptions, in
:mod:`depth_refine_ros.pipeline.settings` (:class:`SrParams`, :class:`MonoParams`). This module declares
every field on a node (:func:`declare_and_read`) and reads the values into a frozen object;
:func:`render_yaml` writes ``config/sr.yaml`` (a test checks the shipped file is exactly that rendering,
so the YAML can never drift from the code).
"""
from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor

from depth_refine_ros.pipeline.settings import RUNTIME_NOTE, CommonParams, MonoParams, SrParams, describe

__all__ = ["RUNTIME_NOTE", "CommonParams", "MonoParams", "SrParams", "coerce", "declare", "declare_and_read",
           "describe", "read", "render_yaml"]


def _ros_name(f) -> str:
    return f.metadata["ros"]


def declare_and_read(node, cls: type = None):
    """Declare every field of ``cls`` (default :class:`SrParams`) on ``node`` and read the values.

    Parameters are read-only unless declared ``runtime`` (the node then validates and applies
    changes in its own set-parameters callback).

    Raises:
        ValueError: a value is not one of the allowed choices, or below its minimum (message names
            the parameter).
    """
    declare(node, cls)
    return read(node, cls)


def declare(node, cls: type = None) -> None:
    """Declare every field of ``cls`` on ``node`` without checking the values (:func:`read` does:
    the managed node declares at start and validates at configure).

    Floating-point parameters are declared with dynamic typing: rcl reads ``-p depth.max_m:=4`` and a
    params file's ``max_m: 4`` as integers, and rclpy would refuse an integer for a double at
    declaration, so the node would not start. :func:`coerce` turns a number into a float and refuses
    anything else (a string, a bool) with the parameter's name.
    """
    for f in fields(cls or SrParams):
        meta = f.metadata
        node.declare_parameter(_ros_name(f), f.default,
                               ParameterDescriptor(description=describe(f), read_only=not meta.get("runtime"),
                                                   dynamic_typing=bool(meta.get("any_type"))
                                                   or isinstance(f.default, float)))


def coerce(cls: type, ros_name: str, value: Any) -> Any:
    """``value`` of parameter ``ros_name`` as its field's type wants it: an int for a float
    parameter becomes a float; other values pass unchanged.

    Raises:
        ValueError: a float parameter given something that is not a number (bool included).
    """
    return _coerce(next(f for f in fields(cls) if _ros_name(f) == ros_name), value)


def _coerce(f, value: Any) -> Any:
    if not isinstance(f.default, float):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {_ros_name(f)} = {value!r} is not a number")
    return float(value)


def read(node, cls: type = None):
    """The declared values of ``cls``'s fields on ``node``, checked (raises ValueError as
    :func:`declare_and_read`)."""
    cls = cls or SrParams
    values = {}
    for f in fields(cls):
        meta = f.metadata
        v = _coerce(f, node.get_parameter(_ros_name(f)).value)
        if meta["choices"] and v not in meta["choices"]:
            raise ValueError(f"parameter {_ros_name(f)} = '{v}' is not one of "
                             f"{', '.join(meta['choices'])}")
        if meta.get("minimum") is not None and v < meta["minimum"]:
            raise ValueError(f"parameter {_ros_name(f)} = {v} is below its minimum {meta['minimum']}")
        values[f.name] = v
    return cls(**values)


def _yaml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v == "":
        return '""'  # an empty value must stay a string parameter, not null
    return str(v)


def render_yaml(cls: type = None) -> str:
    """The ``config/<node>.yaml`` text: every parameter of ``cls``, its default and description.

    Keyed ``/**/<node>:`` (the node by its name, in any namespace): a bare ``<node>:`` means
    ``/<node>`` to rcl, so the file would silently not apply to a node started with ``-r __ns:=...``.
    """
    cls = cls or SrParams
    node = cls.node_name
    short = node.replace("_node", "")
    lines = [
        f"# {node} parameters: every parameter the node declares, with its default.",
        f"# Generated from depth_refine_ros/pipeline/settings.py ({cls.__name__}); a test keeps them identical.",
        f"# Use: {node} --ros-args --params-file config/{short}.yaml (keyed /**/{node}: any namespace)",
        f"/**/{node}:",
        "  ros__parameters:",
    ]
    tree: dict[str, list] = {}
    for f in fields(cls):
        assert f.default is not MISSING
        group, _, leaf = _ros_name(f).rpartition(".")
        tree.setdefault(group, []).append((leaf, f))
    for group, items in tree.items():
        indent = "    " if not group else "      "
        if group:
            lines.append(f"    {group}:")
        for leaf, f in items:
            lines.append(f"{indent}# {describe(f)}")
            lines.append(f"{indent}{leaf}: {_yaml_value(f.default)}")
    return "\n".join(lines) + "\n"
