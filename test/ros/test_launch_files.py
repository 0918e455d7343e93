"""The launch files: params file vs arguments, rviz following namespace and remaps, rviz2 absent.

The pure helpers (``ros/launch_support``) and the launch files' text are tested everywhere. Tests
that evaluate the launch files need ``launch``/``launch_ros`` (a ROS 2 install or workspace; not on
PyPI) and skip without them; the one that runs ``ros2 launch`` needs ``ros2launch`` as well.
"""
import ast
import importlib.util
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from depth_refine_ros.ros.launch_support import (
    NOT_GIVEN,
    describe_parameter,
    given_overrides,
    params_file_for_namespace,
    require_executable,
    resolve_topic,
    rviz_config,
)
from depth_refine_ros.ros.params import MonoParams, SrParams

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAUNCH = {"sr_node": ROOT / "launch" / "sr.launch.py", "mono_node": ROOT / "launch" / "mono.launch.py"}
RVIZ = {"sr_node": ROOT / "rviz" / "sr.rviz", "mono_node": ROOT / "rviz" / "mono.rviz"}
HAVE_LAUNCH = all(importlib.util.find_spec(m) is not None for m in ("launch", "launch_ros"))
needs_launch = pytest.mark.skipif(not HAVE_LAUNCH, reason="launch/launch_ros not importable (they come with a "
                                                          "ROS 2 install or workspace, not from PyPI)")


def table(path: pathlib.Path, name: str):
    """A module-level constant of a launch file (literal), read without importing it."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no {name}")


def rviz_topics(path) -> list[str]:
    found = []

    def walk(n):
        if isinstance(n, dict):
            for k, v in n.items():
                if k == "Topic":
                    found.append(v["Value"] if isinstance(v, dict) else v)
                else:
                    walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
    walk(yaml.safe_load(pathlib.Path(path).read_text()))
    return found


# ---------------------------------------------------------------- helpers (no launch needed)
@pytest.mark.unit
def test_only_given_arguments_override():
    assert given_overrides({"backend": NOT_GIVEN, "classical.method": "fgs", "model": ""}) == {
        "classical.method": "fgs"}


@pytest.mark.unit
def test_float_arguments_reach_the_node_as_floats():
    """``depth_max_m:=4`` must not reach the node as the text "4": launch_ros keeps a text value a
    string, which the node refuses for a float parameter. Other strings stay strings, a non-number is
    left to the node."""
    got = given_overrides({"depth.max_m": "4", "depth.min_m": NOT_GIVEN, "backend": "auto"}, SrParams)
    assert got == {"depth.max_m": 4.0, "backend": "auto"} and isinstance(got["depth.max_m"], float)
    assert given_overrides({"depth.max_m": "far"}, SrParams) == {"depth.max_m": "far"}


@pytest.mark.unit
def test_integer_and_boolean_arguments_reach_the_node_typed():
    """The filter arguments (registration_every_n:=3, temporal:=true, ...) reach the node as ints and bools;
    a parameter that takes a name or a number (temporal.persistency) stays as given."""
    got = given_overrides({"registration.every_n": "3", "temporal.enable": "True", "output.keep_holes": "false",
                           "temporal.persistency": "3", "temporal.alpha": "0.3", "registration.window": "x"},
                          SrParams)
    assert got == {"registration.every_n": 3, "temporal.enable": True, "output.keep_holes": False,
                   "temporal.persistency": "3", "temporal.alpha": 0.3, "registration.window": "x"}
    assert type(got["registration.every_n"]) is int and type(got["temporal.enable"]) is bool


@pytest.mark.unit
def test_resolve_topic_follows_rcl_rules():
    remaps = [("rgb/image", "/camera/color/image_raw"), ("depth_refined/points", "cloud"),
              ("other_node:depth_lr/image", "/not/for/us"), ("depth_lr/image", "~/lr")]
    assert resolve_topic("rgb/image", "/", remaps, "sr_node") == "/camera/color/image_raw"
    assert resolve_topic("rgb/image", "/robot", remaps, "sr_node") == "/camera/color/image_raw"
    assert resolve_topic("depth_refined/points", "/robot", remaps, "sr_node") == "/robot/cloud"
    assert resolve_topic("depth_refined/image", "/robot", remaps, "sr_node") == "/robot/depth_refined/image"
    assert resolve_topic("depth_refined/image", "", remaps, "sr_node") == "/depth_refined/image"
    assert resolve_topic("depth_lr/image", "/a/b/", remaps, "sr_node") == "/a/b/sr_node/lr"
    # the rule's source is expanded too, and the first matching rule wins
    assert resolve_topic("x", "/ns", [("/ns/x", "first"), ("x", "second")], "n") == "/ns/first"


@pytest.mark.unit
@pytest.mark.parametrize("node", ["sr_node", "mono_node"])
def test_each_launch_file_has_its_own_rviz_view_of_its_node(node):
    src = LAUNCH[node].read_text()
    assert f'[share, "rviz", "{RVIZ[node].name}"]' in src
    node_topics = set(table(LAUNCH[node], "REMAP_OF").values())
    topics = rviz_topics(RVIZ[node])
    assert topics and set(topics) <= node_topics, f"{RVIZ[node].name} shows topics {node} does not have"
    prefix = "depth_refined/" if node == "sr_node" else "depth_mono/"
    assert {prefix + "image", prefix + "points"} <= set(topics)


@pytest.mark.unit
@pytest.mark.parametrize("node", ["sr_node", "mono_node"])
def test_rviz_config_follows_namespace_and_remaps(node, tmp_path):
    defaults = list(table(LAUNCH[node], "REMAP_OF").values())
    remaps = [(d, d) for d in defaults]  # what the launch passes when no topic argument is given
    remaps[0] = (defaults[0], "/camera/color/image_raw")
    out = rviz_config(RVIZ[node], "/robot1", remaps, node, out_dir=str(tmp_path))
    assert out.startswith(str(tmp_path))
    topics = rviz_topics(out)
    assert "/camera/color/image_raw" in topics
    assert all(t.startswith("/robot1/") for t in topics if t != "/camera/color/image_raw"), topics
    template = yaml.safe_load(RVIZ[node].read_text())
    written = yaml.safe_load(pathlib.Path(out).read_text())
    assert [d["Class"] for d in written["Visualization Manager"]["Displays"]] == \
        [d["Class"] for d in template["Visualization Manager"]["Displays"]]  # everything else as it was


@pytest.mark.unit
def test_params_file_applies_in_a_namespace(tmp_path):
    plain = tmp_path / "p.yaml"
    plain.write_text("# mine\nsr_node:\n  ros__parameters:\n    classical:\n      method: guided_filter\n")
    assert params_file_for_namespace(plain, "/", "sr_node") == str(plain)  # root: rcl matches it as it is
    out = params_file_for_namespace(plain, "/robot/front", "sr_node", out_dir=str(tmp_path))
    assert pathlib.Path(out).read_text() == plain.read_text().replace("\nsr_node:", "\n/robot/front/sr_node:")
    wildcard = tmp_path / "w.yaml"
    wildcard.write_text('"/**":\n  ros__parameters:\n    backend: classical\n')
    assert params_file_for_namespace(wildcard, "/robot", "sr_node") == str(wildcard)  # already matches


@pytest.mark.unit
def test_require_executable_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="rviz2 is not installed.*use_rviz:=false"):
        require_executable("rviz2", "rviz2", "or launch with use_rviz:=false")
    fake_rviz_prefix(tmp_path)
    assert require_executable("rviz2", "rviz2", "") == str(tmp_path / "lib" / "rviz2" / "rviz2")


@pytest.mark.unit
def test_argument_descriptions_are_the_node_parameter_descriptions():
    assert "bicubic" in describe_parameter(SrParams, "classical.method")
    assert "Unset (''): params_file's value holds." in describe_parameter(MonoParams, "metric.mode")
    with pytest.raises(KeyError):
        describe_parameter(SrParams, "no.such.parameter")


@pytest.mark.unit
@pytest.mark.parametrize("node", ["sr_node", "mono_node"])
def test_launch_file_text(node):
    """rviz off by default; every parameter argument defaults to 'not given'."""
    tree = ast.parse(LAUNCH[node].read_text())
    defaults, param_defaults = {}, []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument" \
                and isinstance(n.args[0], ast.Constant):
            defaults[n.args[0].value] = {k.arg: k.value for k in n.keywords}.get("default_value")
        if isinstance(n, ast.ListComp) and "PARAM_ARGS" in ast.unparse(n.generators[0].iter):
            param_defaults.append(ast.unparse({k.arg: k.value for k in n.elt.keywords}["default_value"]))
    assert param_defaults == ["NOT_GIVEN"]
    assert defaults["use_rviz"].value == "false"


# ---------------------------------------------------------------- evaluated (launch needed)
def fake_rviz_prefix(prefix: pathlib.Path) -> None:
    """An ament prefix with an 'rviz2' package whose executable only waits for SIGINT."""
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True, exist_ok=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "rviz2").touch()
    exe = prefix / "lib" / "rviz2" / "rviz2"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!{sys.executable}\nimport signal, time\nsignal.signal(signal.SIGINT, lambda *a: exit(0))\n"
                   "while True:\n    time.sleep(0.1)\n")
    exe.chmod(0o755)


@pytest.fixture(scope="module")
def launch_log_dir(tmp_path_factory):
    """launch's log directory (where the launch files write generated files): a temporary one, set once."""
    from launch.logging import launch_config

    launch_config.log_dir = str(tmp_path_factory.mktemp("launch_logs"))
    return pathlib.Path(launch_config.log_dir)


def evaluate_file(path: pathlib.Path, configurations: dict):
    """Run a launch file's argument declarations and OpaqueFunction with these launch configurations set;
    returns (context, actions)."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    from launch import LaunchContext

    ld = get_launch_description_from_python_launch_file(str(path))
    ctx = LaunchContext()
    ctx.launch_configurations.update(configurations)
    actions = []
    for entity in ld.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(ctx)
        elif isinstance(entity, OpaqueFunction):
            actions += entity.execute(ctx)
    for a in actions:
        a._perform_substitutions(ctx)
    return ctx, actions


def evaluate(node: str, **args):
    """Run a node's launch file's argument declarations and OpaqueFunction; returns (context, actions)."""
    short = node.replace("_node", "")
    return evaluate_file(LAUNCH[node], {"params_file": str(ROOT / "config" / f"{short}.yaml"),
                                        "rviz_config": str(RVIZ[node]), "fastdds_profile": "unused.xml", **args})


def parameter_files(node_action) -> list[dict]:
    # launch_ros keeps the evaluated --params-file arguments privately; a test may look
    return [yaml.safe_load(pathlib.Path(p).read_text()) for p, is_file in
            node_action._Node__expanded_parameter_arguments if is_file]


@pytest.mark.ros
@needs_launch
@pytest.mark.parametrize("node", ["sr_node", "mono_node"])
def test_launch_passes_only_given_arguments(node, tmp_path, launch_log_dir):
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"{node}:\n  ros__parameters:\n    backend: torch\n    device: cuda\n")
    _, actions = evaluate(node, params_file=str(mine))
    assert len(actions) == 1  # no rviz by default
    files = parameter_files(actions[0])
    assert files == [yaml.safe_load(mine.read_text())], "nothing may override the params file unless given"
    _, actions = evaluate(node, params_file=str(mine), device="cpu")
    files = parameter_files(actions[0])
    assert files[0] == yaml.safe_load(mine.read_text())
    assert [v for v in files[1].values()] == [{"ros__parameters": {"device": "cpu"}}]  # after it: it wins


@pytest.mark.ros
@needs_launch
def test_launch_rviz_follows_namespace_remaps_and_pushed_namespace(tmp_path, monkeypatch, launch_log_dir):
    fake_rviz_prefix(tmp_path)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    ctx, actions = evaluate("sr_node", use_rviz="true", namespace="front", rgb_topic="/camera/color/image_raw",
                            points_topic="cloud", ros_namespace="/robot")  # as PushRosNamespace('robot') sets
    sr, rviz = actions
    assert sr.expanded_node_namespace == rviz.expanded_node_namespace == "/robot/front"
    from launch.utilities import perform_substitutions
    cmd = []
    for part in rviz.cmd:
        try:
            cmd.append(perform_substitutions(ctx, part))
        except Exception:  # the ros-specific arguments, filled in only when the process starts
            cmd.append(None)
    assert cmd[cmd.index("-d") + 1].startswith(str(launch_log_dir))
    topics = rviz_topics(cmd[cmd.index("-d") + 1])
    assert topics == ["/camera/color/image_raw", "/robot/front/depth_refined/image", "/robot/front/cloud"]
    # the shipped params file (keyed /**/sr_node:) applies in any namespace as it is
    assert list(parameter_files(sr)[0]) == ["/**/sr_node"]
    # one keyed by the bare node name (sr_node:) is re-keyed so that it applies in the namespace
    mine = tmp_path / "mine.yaml"
    mine.write_text("sr_node:\n  ros__parameters:\n    backend: classical\n")
    _, actions = evaluate("sr_node", params_file=str(mine), namespace="front", ros_namespace="/robot")
    assert list(parameter_files(actions[0])[0]) == ["/robot/front/sr_node"]


@pytest.mark.ros
@needs_launch
def test_launch_without_rviz2_fails_before_starting_anything(tmp_path, monkeypatch, launch_log_dir):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))  # no rviz2 there
    with pytest.raises(RuntimeError, match="rviz2 is not installed.*use_rviz:=false"):
        evaluate("sr_node", use_rviz="true")


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ros2launch") is None or shutil.which("ros2") is None,
                    reason="`ros2 launch` (ros2cli + ros2launch from a ROS 2 install or workspace) is absent")
def test_ros2_launch_keeps_the_params_file_and_stops_clean(tmp_path):
    """For real: `ros2 launch` with a params file that sets classical.method, then SIGINT. Without a backend
    the node runs the default, `backend: auto` with `sr_faster` (classical.method unused); with
    backend:=classical it runs the file's classical.method, and classical_method:= overrides that."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("sr_node:\n  ros__parameters:\n    classical:\n      method: guided_filter\n")

    def launch(*args, expect="sr_node ready", seconds=90.0):
        """Run until the output shows ``expect`` (or ``seconds``), then SIGINT; (exit code, output, pids left)."""
        env = dict(os.environ, ROS_HOME=tempfile.mkdtemp(prefix="ros_home_"), PYTHONUNBUFFERED="1")
        log = pathlib.Path(env["ROS_HOME"]) / "launch.out"
        with open(log, "w") as out:
            proc = subprocess.Popen(["ros2", "launch", "depth_refine_ros", "sr.launch.py", f"params_file:={mine}",
                                     "namespace:=t_launch", *args], stdout=out, stderr=subprocess.STDOUT,
                                    text=True, env=env, start_new_session=True)
        end = time.monotonic() + seconds
        while time.monotonic() < end and proc.poll() is None and expect not in log.read_text():
            time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        left = subprocess.run(["ps", "-o", "pid=", "-g", str(proc.pid)], capture_output=True, text=True).stdout
        return proc.returncode, log.read_text(), left.split()

    # the default: backend auto picks an engine for sr_faster and says which and why
    code, out, left = launch()
    assert re.search(r"sr_node ready: backend (tensorrt|openvino|onnxruntime)/sr_faster .*\[auto: picked "
                     r"(tensorrt|openvino|onnxruntime)", out), out[-3000:]
    assert code == 0 and not left, out[-3000:]
    code, out, left = launch("backend:=classical")
    assert "backend classical/guided_filter" in out, out[-3000:]
    assert code == 0 and not left
    code, out, left = launch("backend:=classical", "classical_method:=fgs")
    assert "backend classical/fgs" in out, out[-3000:]
    try:
        require_executable("rviz2", "rviz2", "")
    except RuntimeError:  # no rviz2 here: asking for it must fail at once and leave nothing running
        code, out, left = launch("use_rviz:=true", seconds=30)
        assert code != 0 and "use_rviz:=false" in out and "process started" not in out and not left, out[-3000:]
