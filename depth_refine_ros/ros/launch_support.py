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
- :func:`load_cameras` and :func:`camera_setups`: ``multi.launch.py``'s list of cameras (a YAML file)
  turned into one node setup (namespace, remappings, parameters) per camera; :func:`multi_node_setup`
  is what the launch file calls. The live multi-camera test starts its node processes from the same
  setups, so it exercises this code.
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
#: (launch argument, sr_node parameter) of sr.launch.py and multi.launch.py: a given one overrides the params
#: file (every camera's, in multi.launch.py), one not given leaves it be.
SR_PARAM_ARGS: list[tuple[str, str]] = [
    ("backend", "backend"),
    ("model", "model"),
    ("depth_only_model", "depth_only.model"),
    ("device", "device"),
    ("precision", "precision"),
    ("classical_method", "classical.method"),
    # the filters (docs/nodes.md#filters-before-and-after-the-network). Before the network: the range clamp
    # of the input, the re-sampling of decimated depth, the depth-to-RGB registration
    ("depth_min_m", "depth.min_m"),
    ("depth_max_m", "depth.max_m"),
    ("depth_sampling", "depth.sampling"),
    ("registration", "registration.mode"),
    ("registration_shift_dy_px", "registration.shift_dy_px"),
    ("registration_shift_dx_px", "registration.shift_dx_px"),
    ("registration_every_n", "registration.every_n"),
    ("registration_window", "registration.window"),
    ("registration_max_shift_px", "registration.max_shift_px"),
    ("registration_min_shift_px", "registration.min_shift_px"),
    # the network itself: its self-ensemble
    ("flip_ensemble", "ensemble.flip"),
    # after it: the SDDR refinement, the range clamp of the output, the holes, the temporal filter
    ("refine_mode", "refine.mode"),
    ("keep_holes", "output.keep_holes"),
    ("temporal", "temporal.enable"),
    ("temporal_alpha", "temporal.alpha"),
    ("temporal_delta", "temporal.delta"),
    ("temporal_persistency", "temporal.persistency"),
]
#: what to do when use_rviz:=true finds no rviz2
RVIZ_HINT = ("use_rviz:=true needs it, and the package does not depend on it (robots run headless): install "
             "rviz2 (sudo apt install ros-$ROS_DISTRO-rviz2) or launch with use_rviz:=false")


def given_overrides(values: dict[str, str], params_cls=None) -> dict[str, str | float | int | bool]:
    """Parameter name -> value for the launch arguments the user gave (not :data:`NOT_GIVEN`).

    A launch argument's value is text, and launch_ros hands a text parameter value to the node as a
    string, which the node refuses for a floating-point, integer or boolean parameter. With
    ``params_cls`` (SrParams, MonoParams), values of its float parameters that read as numbers are
    passed as floats, of its integer parameters that read as integers as ints, and of its boolean
    parameters ``true``/``false`` (any case) as bools; anything else is passed as given, for the node to
    refuse with its own message.
    """
    given = {name: value for name, value in values.items() if value != NOT_GIVEN}
    if params_cls is None:
        return given
    from dataclasses import fields

    types = {f.metadata["ros"]: type(f.default) for f in fields(params_cls) if not f.metadata.get("any_type")}
    for name in types.keys() & given.keys():
        kind, text = types[name], given[name]
        if kind is bool:
            if text.strip().lower() in ("true", "false"):
                given[name] = text.strip().lower() == "true"
        elif kind in (float, int):
            try:
                given[name] = kind(text)
            except ValueError:
                pass
    return given


def describe_parameter(params_cls, ros_name: str) -> str:
    """Description of the launch argument for parameter ``ros_name`` of ``params_cls`` (SrParams, ...).

    The node's own parameter description (with its choices), so the two never drift apart.

    Raises:
        KeyError: the node has no such parameter.
    """
    from dataclasses import fields

    from depth_refine_ros.ros.params import describe

    for f in fields(params_cls):
        if f.metadata["ros"] == ros_name:
            return f"{params_cls.node_name} parameter {ros_name}: {describe(f)} Unset (''): params_file's value holds."
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
    from depth_refine_ros.ros.params import MonoParams, SrParams

    params_cls = {c.node_name: c for c in (SrParams, MonoParams)}.get(node_name)
    overrides = given_overrides({param: arg(name) for name, param in param_args}, params_cls)
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


# ---------------------------------------------------------------- multi.launch.py: one sr_node per camera
#: cameras-file key -> the sr_node topic it remaps (multi.launch.py): the inputs, then the outputs
CAMERA_TOPICS = {
    "rgb": "rgb/image",
    "rgb_info": "rgb/camera_info",
    "depth": "depth_lr/image",
    "depth_info": "depth_lr/camera_info",
    "refined_depth": "depth_refined/image",
    "refined_info": "depth_refined/camera_info",
    "points": "depth_refined/points",
}
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Camera:
    """One camera of a cameras file: its node's namespace, remappings and own parameters (dotted names)."""

    name: str
    namespace: str
    remappings: tuple[tuple[str, str], ...]
    parameters: dict


def _flatten(params: dict, prefix: str = "") -> dict:
    """``{"classical": {"method": "fgs"}}`` -> ``{"classical.method": "fgs"}``; dotted keys pass through."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def join_namespace(*parts: str) -> str:
    """Namespaces nested as launch_ros nests them: an absolute part restarts, '' and '/' add nothing.

    ``join_namespace("robot", "front") == "robot/front"``; ``join_namespace("/a", "/b") == "/b"``.
    """
    out = ""
    for part in parts:
        part = part.strip()
        if part.strip("/") == "":
            continue
        if part.startswith("/"):
            out = part.rstrip("/")
        else:
            out = f"{out}/{part.strip('/')}" if out else part.strip("/")
    return out


def load_cameras(path: str | os.PathLike, param_names: set[str] | None = None) -> list[Camera]:
    """The cameras of a cameras file (``multi.launch.py cameras_file:=...``), checked.

    The file (``config/cameras.yaml`` is an example)::

        cameras:
          - name: front                     # required; also the namespace unless `namespace` is given
            rgb: /front/color/image_raw     # each CAMERA_TOPICS key is optional: a given one remaps
            depth: /front/depth/image_raw   # the node's topic; an absent one keeps its relative
            ...                             # name in the camera's namespace (/front/rgb/image)
            params: {classical.method: fgs} # optional: this camera's parameters (nested or dotted)

    Raises:
        ValueError: naming the file and camera: no cameras, a missing or bad name, an unknown key, two
            cameras in one namespace, or (with ``param_names``) a parameter the node does not declare.
    """
    where = str(path)
    doc = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    entries = doc.get("cameras") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: no cameras (expected a top-level 'cameras:' list)")
    allowed = {"name", "namespace", "params", *CAMERA_TOPICS}
    cameras: list[Camera] = []
    owner: dict[str, str] = {}  # namespace -> camera
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: camera {i} is not a mapping")
        name = entry.get("name")
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"{where}: camera {i} needs a name of letters, digits and '_' (got {name!r})")
        unknown = set(entry) - allowed
        if unknown:
            raise ValueError(f"{where}: camera {name}: unknown keys {sorted(unknown)} (known: {sorted(allowed)})")
        namespace = str(entry.get("namespace", name)).strip()
        key = namespace.strip("/")
        if not key or not all(_TOKEN.match(t) for t in key.split("/")):
            raise ValueError(f"{where}: camera {name}: bad namespace {namespace!r}")
        if key in owner:
            raise ValueError(f"{where}: cameras {owner[key]} and {name} are both in namespace {key!r}: "
                             "their nodes and outputs would collide")
        owner[key] = name
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError(f"{where}: camera {name}: params must be a mapping")
        params = _flatten(params)
        if param_names is not None and set(params) - param_names:
            raise ValueError(f"{where}: camera {name}: sr_node declares no parameter "
                             f"{sorted(set(params) - param_names)}")
        remaps = tuple((topic, str(entry[k])) for k, topic in CAMERA_TOPICS.items() if entry.get(k))
        cameras.append(Camera(name, namespace, remaps, params))
    return cameras


def camera_setups(cameras: list[Camera], params_file: str | os.PathLike, overrides: dict | None = None,
                  namespace: str = "", enclosing_namespace: str = "", node_name: str = "sr_node",
                  out_dir: str | None = None) -> list[NodeSetup]:
    """One :class:`NodeSetup` per camera: what ``multi.launch.py`` gives each node.

    Namespace: the launch's ``namespace`` joined with the camera's. Parameters: ``params_file``, made to
    apply in the node's full namespace (``enclosing_namespace`` is what a PushRosNamespace around the
    launch adds), then one dict of ``overrides`` (the given launch arguments) updated by the camera's
    own ``params``, so a camera's value wins over an argument and both over the file.
    """
    setups = []
    for cam in cameras:
        ns = join_namespace(namespace, cam.namespace)
        full_ns = "/" + join_namespace(enclosing_namespace, ns).strip("/")
        params = params_file_for_namespace(params_file, full_ns, node_name, out_dir)
        extra = {**(overrides or {}), **cam.parameters}
        setups.append(NodeSetup(ns, [pathlib.Path(params)] + ([extra] if extra else []), list(cam.remappings)))
    return setups


def multi_node_setup(context, node_name: str, param_args: list[tuple[str, str]], params_cls) -> list[NodeSetup]:
    """:func:`camera_setups` for the cameras of the launch argument ``cameras_file``, and rviz2 per camera.

    Reads ``cameras_file``, ``params_file``, ``namespace``, ``use_rviz``, ``rviz_config`` and the
    arguments of ``param_args`` (given ones override ``params_file``, as in :func:`node_setup`).
    A bad cameras file, or use_rviz without rviz2, raises before the launch file returns any action.
    """
    from dataclasses import fields

    from launch.conditions import IfCondition
    from launch.logging import launch_config
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    use_rviz = IfCondition(LaunchConfiguration("use_rviz")).evaluate(context)
    if use_rviz:
        require_executable("rviz2", "rviz2", RVIZ_HINT)
    cameras = load_cameras(arg("cameras_file"), {f.metadata["ros"] for f in fields(params_cls)})
    overrides = given_overrides({param: arg(name) for name, param in param_args}, params_cls)
    enclosing = context.launch_configurations.get("ros_namespace") or ""
    out_dir = launch_config.log_dir
    setups = camera_setups(cameras, arg("params_file"), overrides, arg("namespace"), enclosing, node_name, out_dir)
    if use_rviz:
        pushed = list(context.launch_configurations.get("ros_remaps", []))
        for s in setups:
            full_ns = "/" + join_namespace(enclosing, s.namespace).strip("/")
            config = rviz_config(arg("rviz_config"), full_ns, pushed + s.remappings, node_name, out_dir)
            s.rviz.append(Node(package="rviz2", executable="rviz2", name="rviz2", namespace=s.namespace,
                               arguments=["-d", config], output="screen"))
    return setups
