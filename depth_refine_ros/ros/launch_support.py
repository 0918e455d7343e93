"""What the launch files share. :func:`node_setup` gives a launch file's node its parameters,
namespace and remappings, and rviz2 if asked; the plain functions it uses import no ``launch``
(unit tests run them anywhere).

- :func:`given_overrides`: a launch argument overrides the params file only when the user gives it;
  :func:`describe_parameter` gives such an argument the description the node declares.
- :func:`params_file_for_namespace`: a params file keyed by the bare node name, made to apply in
  the namespace the node is launched in (rcl would silently skip it there).
- :func:`resolve_topic`: the name a node's relative topic really has, after its namespace and the
  remap rules, as rcl resolves it.
- :func:`rviz_config`: an rviz2 config whose relative topic names are resolved that way, so rviz
  shows the node's topics whatever namespace and remappings the launch gave it. (rviz2 passes a
  config's topic names unchanged to subscriptions on its own node, so a relative name would
  resolve against rviz2's namespace and remaps, not the refining node's.)
- :func:`require_executable`: an executable as ``launch_ros`` finds it (``lib/<package>/`` of the
  package's prefix in the ament index), or a clear error before anything is started.
"""
from __future__ import annotations

import os
import pathlib
import re
import tempfile
from dataclasses import dataclass, field

import yaml

#: value of a launch argument the user did not give
NOT_GIVEN = ""
#: what to do when use_rviz:=true finds no rviz2
RVIZ_HINT = ("use_rviz:=true needs it: install rviz2 (rosdep install --from-paths src -y --ignore-src) "
             "or launch with use_rviz:=false")


def given_overrides(values: dict[str, str]) -> dict[str, str]:
    """Parameter name -> value for the launch arguments the user gave (not :data:`NOT_GIVEN`)."""
    return {name: value for name, value in values.items() if value != NOT_GIVEN}


def describe_parameter(params_cls, ros_name: str) -> str:
    """Description of the launch argument for parameter ``ros_name`` of ``params_cls`` (SrParams, ...).

    The node's own parameter description (with its choices), so the two never drift apart.

    Raises:
        KeyError: the node has no such parameter.
    """
    from dataclasses import fields

    from depth_refine_ros.ros.params import _describe

    for f in fields(params_cls):
        if f.metadata["ros"] == ros_name:
            return f"{params_cls.node_name} parameter {ros_name}: {_describe(f)} Unset (''): params_file's value holds."
    raise KeyError(f"{params_cls.node_name} has no parameter {ros_name!r}")


def _expand(name: str, namespace: str, node_name: str) -> str:
    """Fully qualified form of ``name`` for a node ``node_name`` in ``namespace`` (absolute)."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    if name.startswith("/"):
        return name
    if name == "~" or name.startswith("~/"):
        return f"{ns}/{node_name}{name[1:]}"
    return f"{ns}/{name}"


def resolve_topic(name: str, namespace: str, remaps: list[tuple[str, str]], node_name: str) -> str:
    """The absolute topic a node's ``name`` becomes with ``namespace`` and ``remaps`` (rcl's rules).

    Both sides of a rule are expanded like the name itself; the first rule that matches wins; a
    rule written ``node:from:=to`` applies to that node only.
    """
    full = _expand(name, namespace, node_name)
    for src, dst in remaps:
        only_for, _, src = src.rpartition(":")
        if only_for and only_for != node_name:
            continue
        if _expand(src, namespace, node_name) == full:
            return _expand(dst, namespace, node_name)
    return full


def _resolve_topics(node, resolve) -> None:
    """Resolve every ``Topic`` (``{Value: name}`` or a plain name) in a loaded rviz config, in place."""
    if isinstance(node, list):
        for item in node:
            _resolve_topics(item, resolve)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Topic" and isinstance(value, dict) and isinstance(value.get("Value"), str):
                value["Value"] = resolve(value["Value"])
            elif key == "Topic" and isinstance(value, str):
                node[key] = resolve(value)
            else:
                _resolve_topics(value, resolve)


def rviz_config(template: str | os.PathLike, namespace: str, remaps: list[tuple[str, str]], node_name: str,
                out_dir: str | None = None) -> str:
    """Write ``template`` with its relative topic names resolved for the node; returns the new file.

    Absolute names in the template are left as they are. The file goes to a fresh temporary file
    (``out_dir`` or the system's temporary directory), so concurrent launches do not collide.
    """
    config = yaml.safe_load(pathlib.Path(template).read_text())
    _resolve_topics(config, lambda t: t if t.startswith("/") else resolve_topic(t, namespace, remaps, node_name))
    fd, path = tempfile.mkstemp(prefix=f"{node_name}_", suffix=".rviz", dir=out_dir)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def params_file_for_namespace(path: str | os.PathLike, namespace: str, node_name: str,
                              out_dir: str | None = None) -> str:
    """``path``, or a copy keyed for the node in ``namespace`` when ``path`` keys it by its bare name.

    rcl matches a params file's top-level key against the node's fully qualified name, and a bare
    ``sr_node:`` means ``/sr_node``: in any other namespace the file would silently not apply. The
    copy renames that key to ``/<namespace>/<node_name>:``, leaving every other line as written.
    """
    ns = namespace.strip("/")
    text = pathlib.Path(path).read_text()
    bare = re.compile(rf"^/?{re.escape(node_name)}:(?=\s|$)", re.MULTILINE)
    if not ns or not bare.search(text):
        return str(path)
    fd, out = tempfile.mkstemp(prefix=f"{node_name}_params_", suffix=".yaml", dir=out_dir)
    with os.fdopen(fd, "w") as f:
        f.write(bare.sub(f"/{ns}/{node_name}:", text))
    return out


def require_executable(package: str, executable: str, hint: str) -> str:
    """Path of ``lib/<package>/<executable>`` under the package's ament prefix, as launch_ros finds it.

    Raises:
        RuntimeError: naming what is missing and ``hint`` (how to install it or to do without it).
    """
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError:
        raise RuntimeError(f"{package} is not installed (no package '{package}' in AMENT_PREFIX_PATH): "
                           f"{hint}") from None
    path = os.path.join(prefix, "lib", package, executable)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(f"{package} has no executable {path}: {hint}")
    return path


@dataclass
class NodeSetup:
    """What a launch file's node gets (see :func:`node_setup`), and the rviz2 actions (empty or one Node)."""

    namespace: str
    parameters: list
    remappings: list[tuple[str, str]]
    rviz: list = field(default_factory=list)


def node_setup(context, node_name: str, remap_args: dict[str, str], param_args: list[tuple[str, str]]) -> NodeSetup:
    """Namespace, parameters and remappings for a launch file's node, and rviz2 when ``use_rviz``.

    Reads the launch arguments ``params_file``, ``namespace``, ``use_rviz``, ``rviz_config`` and
    those named in ``remap_args`` (argument -> the node's relative topic) and ``param_args``
    ((argument, the node's parameter) pairs). Parameters come from ``params_file``, made to apply
    in the node's namespace (:func:`params_file_for_namespace`); an argument of ``param_args``
    overrides it only when given. With ``use_rviz`` and no rviz2 installed it raises before the
    launch file returns any action, so nothing is started. Generated files go beside the launch's logs.
    """
    from launch.conditions import IfCondition
    from launch.logging import launch_config
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    from launch_ros.utilities import make_namespace_absolute, prefix_namespace

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    use_rviz = IfCondition(LaunchConfiguration("use_rviz")).evaluate(context)
    if use_rviz:
        require_executable("rviz2", "rviz2", RVIZ_HINT)
    overrides = given_overrides({param: arg(name) for name, param in param_args})
    remaps = [(topic, arg(name)) for name, topic in remap_args.items()]
    namespace = arg("namespace")
    # what launch_ros gives the node: an enclosing PushRosNamespace prefixes a relative namespace,
    # SetRemap rules come before the node's own
    full_ns = make_namespace_absolute(prefix_namespace(context.launch_configurations.get("ros_namespace"), namespace))
    out_dir = launch_config.log_dir
    params = params_file_for_namespace(arg("params_file"), full_ns, node_name, out_dir)
    setup = NodeSetup(namespace, [pathlib.Path(params)] + ([overrides] if overrides else []), remaps)
    if use_rviz:
        all_remaps = list(context.launch_configurations.get("ros_remaps", [])) + remaps
        config = rviz_config(arg("rviz_config"), full_ns, all_remaps, node_name, out_dir)
        setup.rviz.append(Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace,
                               arguments=["-d", config], output="screen"))
    return setup
