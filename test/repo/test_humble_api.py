"""The ROS code stays within what ROS 2 Humble's rclpy offers, or guards the difference.

PyPI has no Humble wheels, so Humble cannot run here: this reads ``depth_refine_ros/ros/*.py`` and the
launch files with ``ast`` and fails on any use of an rclpy API newer than Humble that is not guarded
(inside a ``try`` that catches ImportError/AttributeError, or under an ``if hasattr(...)``). The list
below was made by comparing the public modules, functions, classes and methods of ros2/rclpy's
``humble`` branch (3.3.15) with its ``jazzy`` (7.x) branch and the Kilted wheel (rclpy 9.1) of the venv,
keeping what a node could call. Message fields are not in it: sensor_msgs, diagnostic_msgs and
rcl_interfaces' ParameterDescriptor (``dynamic_typing`` included) have every field the nodes set on
Humble. What Humble users get and how they build: docs/nodes.md#ros-2-distributions.
"""
import ast
import importlib
import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "depth_refine_ros" / "ros").glob("*.py")) + sorted((ROOT / "launch").glob("*.py"))

#: rclpy modules that Humble lacks -> the release that added them (and Humble's alternative)
NEW_MODULES = {
    "rclpy.event_handler": "Iron (Humble: rclpy.qos_event, same classes)",
    "rclpy.clock_type": "Iron (Humble: rclpy.clock.ClockType)",
    "rclpy.logging_service": "Iron",
    "rclpy.parameter_client": "Iron",
    "rclpy.parameter_event_handler": "Iron",
    "rclpy.service_introspection": "Iron",
    "rclpy.type_description_service": "Iron",
    "rclpy.type_hash": "Iron",
    "rclpy.subscription_content_filter_options": "Kilted",
}
#: names Humble's modules lack: (module, name) -> the release that added them
NEW_NAMES = {
    ("rclpy.qos", "qos_profile_best_available"): "Iron",
    ("rclpy.qos", "DeadlineBestAvailable"): "Iron",
    ("rclpy.qos", "LivelinessLeaseDurationeBestAvailable"): "Iron",
    ("rclpy.qos", "qos_profile_default"): "Jazzy",
    ("rclpy.logging", "get_logger_level"): "Iron",
    ("rclpy.timer", "TimerInfo"): "Kilted",
    ("rclpy.subscription", "MessageInfo"): "Kilted",
}
#: methods and attributes Humble's Node, Subscription, Context... lack -> the release that added them (and
#: Humble's way). Specific enough names that any ``.name`` in the code means that API.
NEW_ATTRIBUTES = {
    "get_publisher_count": "Jazzy: Subscription.get_publisher_count (Humble: node.count_publishers(topic))",
    "add_pre_set_parameters_callback": "Iron (Humble: add_on_set_parameters_callback)",
    "add_post_set_parameters_callback": "Iron (Humble: add_on_set_parameters_callback)",
    "remove_pre_set_parameters_callback": "Iron",
    "remove_post_set_parameters_callback": "Iron",
    "count_clients": "Iron",
    "count_services": "Iron",
    "get_fully_qualified_node_names": "Iron",
    "list_parameters": "Iron: Node.list_parameters",
    "wait_for_node": "Iron",
    "set_content_filter": "Kilted: Subscription.set_content_filter",
    "get_content_filter": "Kilted: Subscription.get_content_filter",
    "is_cft_enabled": "Kilted: Subscription.is_cft_enabled",
    "track_node": "Kilted: Context.track_node",
    "untrack_node": "Kilted: Context.untrack_node",
}
GUARD_ERRORS = {"ImportError", "ModuleNotFoundError", "AttributeError", "Exception"}


def _guarded_by_try(node: ast.Try) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in GUARD_ERRORS for n in names):
            return True
    return False


def _hasattr_names(test: ast.AST) -> set[str]:
    return {c.args[1].value for c in ast.walk(test) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "hasattr" and len(c.args) == 2 and isinstance(c.args[1], ast.Constant)}


def newer_api_uses(source: str) -> list[tuple[int, str, str, bool]]:
    """Every use of a post-Humble API in ``source``: (line, what, since, guarded)."""
    tree = ast.parse(source)
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def guarded(node: ast.AST, name: str) -> bool:
        child, node = node, parents.get(node)
        while node is not None:
            if isinstance(node, ast.Try) and child in node.body and _guarded_by_try(node):
                return True
            if isinstance(node, ast.If) and child in node.body and name in _hasattr_names(node.test):
                return True
            child, node = node, parents.get(node)
        return False

    uses = []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Import):
            found = [(a.name, NEW_MODULES[a.name]) for a in node.names if a.name in NEW_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in NEW_MODULES:
                found = [(node.module, NEW_MODULES[node.module])]
            found += [(f"{node.module}.{a.name}", NEW_NAMES[node.module, a.name]) for a in node.names
                      if (node.module, a.name) in NEW_NAMES]
            found += [(f"{node.module}.{a.name}", NEW_MODULES[f"{node.module}.{a.name}"]) for a in node.names
                      if f"{node.module}.{a.name}" in NEW_MODULES]
        elif isinstance(node, ast.Attribute):
            if node.attr in NEW_ATTRIBUTES:
                found = [(f".{node.attr}", NEW_ATTRIBUTES[node.attr])]
            elif isinstance(node.value, ast.Name) and node.value.id == "rclpy" and \
                    f"rclpy.{node.attr}" in NEW_MODULES:
                found = [(f"rclpy.{node.attr}", NEW_MODULES[f"rclpy.{node.attr}"])]
        for what, since in found:
            uses.append((node.lineno, what, since, guarded(node, what.rsplit(".", 1)[-1])))
    return sorted(uses)


def test_the_ros_code_calls_nothing_newer_than_humble_unguarded():
    bad = []
    for path in SOURCES:
        for line, what, since, ok in newer_api_uses(path.read_text()):
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {what} (since {since})")
    assert not bad, ("rclpy API newer than Humble, unguarded: use Humble's way, or import it in a try that "
                     "falls back to it (docs/nodes.md#ros-2-distributions):\n  " + "\n  ".join(bad))


def test_what_is_guarded_is_what_docs_nodes_md_says():
    """The one guarded difference: node_base.py takes SubscriptionEventCallbacks from rclpy.event_handler,
    on Humble from rclpy.qos_event. docs/nodes.md names it; a new guard must be named there too."""
    guarded = sorted((path.name, what) for path in SOURCES for _, what, _, ok in newer_api_uses(path.read_text())
                     if ok)
    assert guarded == [("node_base.py", "rclpy.event_handler")]
    text = (ROOT / "docs" / "nodes.md").read_text()
    assert "`rclpy.event_handler`" in text and "`rclpy.qos_event`" in text


def test_the_scanner_finds_unguarded_uses_and_accepts_guards():
    src = '''
import rclpy.event_handler
from rclpy.qos import qos_profile_best_available, QoSProfile
try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:
    from rclpy.qos_event import SubscriptionEventCallbacks
n = sub.get_publisher_count()
if hasattr(sub, "get_publisher_count"):
    n = sub.get_publisher_count()
node.add_on_set_parameters_callback(cb)
'''
    assert [(line, what, ok) for line, what, _, ok in newer_api_uses(src)] == [
        (2, "rclpy.event_handler", False), (3, "rclpy.qos.qos_profile_best_available", False),
        (5, "rclpy.event_handler", True), (8, ".get_publisher_count", False), (10, ".get_publisher_count", True)]


def test_the_listed_apis_exist_in_this_newer_rclpy():
    """The list names real APIs (not typos): each one added by Iron or Jazzy exists in the installed rclpy
    (Kilted in .venv, Jazzy in .venv-jazzy); those added by Kilted are checked where rclpy is 9 or later."""
    from importlib.metadata import version

    major = int(version("rclpy").split(".")[0])
    for module, since in NEW_MODULES.items():
        if since != "Kilted" or major >= 9:
            assert importlib.util.find_spec(module) is not None, f"{module} ({since}) not in rclpy {version('rclpy')}"
    for (module, name), since in NEW_NAMES.items():
        if since != "Kilted" or major >= 9:
            assert hasattr(importlib.import_module(module), name), f"{module}.{name} ({since})"
    import rclpy.context
    import rclpy.node
    import rclpy.subscription

    owners = (rclpy.node.Node, rclpy.subscription.Subscription, rclpy.context.Context)
    for name, since in NEW_ATTRIBUTES.items():
        if not since.startswith("Kilted") or major >= 9:
            assert any(hasattr(o, name) for o in owners), f"{name} ({since})"
