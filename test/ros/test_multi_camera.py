"""Several cameras at once: multi.launch.py's cameras list, one sr_node per camera in its own namespace.

``launch_support.load_cameras`` / ``camera_setups`` turn the list into each node's namespace, remappings
and parameters; multi.launch.py makes its Nodes from them, and the live test here starts its node
processes from the same setups (``NodeProcess`` with ``-r __ns:=``, the remaps and the params), so the
venv exercises that code without ``launch``. Where launch/launch_ros (and ``ros2 launch``) are
importable (a ROS 2 install or workspace) the launch file itself is evaluated and run live too.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import fields

import numpy as np
import pytest
import yaml

from depth_refine_ros.ros.launch_support import (
    CAMERA_TOPICS,
    camera_setups,
    join_namespace,
    load_cameras,
)
from depth_refine_ros.ros.params import SrParams

ROOT = pathlib.Path(__file__).resolve().parents[2]
MULTI = ROOT / "launch" / "multi.launch.py"
SR_PARAMS = {f.metadata["ros"] for f in fields(SrParams)}
HAVE_LAUNCH = all(importlib.util.find_spec(m) is not None for m in ("launch", "launch_ros"))
needs_launch = pytest.mark.skipif(not HAVE_LAUNCH, reason="launch/launch_ros not importable (they come with a "
                                                          "ROS 2 install or workspace, not from PyPI)")

# Two cameras as a user would list them: drivers' absolute topics; the second in a nested namespace
# with its own classical method (the launch argument gives the first one its method).
CAMERAS_YAML = """\
cameras:
  - name: cam_a
    rgb: /drv_a/color/image_raw
    rgb_info: /drv_a/color/camera_info
    depth: /drv_a/depth/image_raw
    depth_info: /drv_a/depth/camera_info
  - name: cam_b
    namespace: robot/cam_b
    rgb: /drv_b/color/image_raw
    rgb_info: /drv_b/color/camera_info
    depth: /drv_b/depth/image_raw
    depth_info: /drv_b/depth/camera_info
    params:
      classical:
        method: fgs
"""
ARGUMENT_METHOD = "guided_filter"  # as `classical_method:=guided_filter` given to the launch
# what the test expects of each camera, written out independently of the code under test:
# namespace, driver prefix, frame size and scale, depth of the scene, classical method in use
EXPECT = {
    "cam_a": dict(ns="/cam_a", driver="/drv_a", h=96, w=128, s=4, base=1.0, method=ARGUMENT_METHOD, t0=1.70e9),
    "cam_b": dict(ns="/robot/cam_b", driver="/drv_b", h=120, w=160, s=2, base=2.5, method="fgs", t0=1.71e9),
}
N = 8


def driver_remaps(driver: str) -> list[tuple[str, str]]:
    return [("rgb/image", f"{driver}/color/image_raw"), ("rgb/camera_info", f"{driver}/color/camera_info"),
            ("depth_lr/image", f"{driver}/depth/image_raw"), ("depth_lr/camera_info", f"{driver}/depth/camera_info")]


@pytest.fixture
def cameras_file(tmp_path):
    path = tmp_path / "cams.yaml"
    path.write_text(CAMERAS_YAML)
    return path


# ---------------------------------------------------------------- the list -> per-node setups (no ROS)
@pytest.mark.unit
def test_shipped_example_cameras_file_is_valid():
    cams = load_cameras(ROOT / "config" / "cameras.yaml", SR_PARAMS)
    assert len(cams) >= 2 and len({c.namespace for c in cams}) == len(cams)
    for cam in cams:
        assert {src for src, _ in cam.remappings} <= set(CAMERA_TOPICS.values())


@pytest.mark.unit
def test_camera_setups_namespaces_remaps_and_parameters(cameras_file, tmp_path):
    cams = load_cameras(cameras_file, SR_PARAMS)
    assert [c.name for c in cams] == ["cam_a", "cam_b"]
    shipped = ROOT / "config" / "sr.yaml"
    setups = camera_setups(cams, shipped, {"classical.method": ARGUMENT_METHOD, "backend": "classical"},
                           out_dir=str(tmp_path))
    assert [s.namespace for s in setups] == ["cam_a", "robot/cam_b"]
    for s, name in zip(setups, EXPECT, strict=True):
        assert s.remappings == driver_remaps(EXPECT[name]["driver"])
        assert s.parameters[0] == shipped  # keyed /**/sr_node: applies in any namespace as it is
    # the argument for every camera, the camera's own params over it
    assert setups[0].parameters[1] == {"classical.method": ARGUMENT_METHOD, "backend": "classical"}
    assert setups[1].parameters[1] == {"classical.method": "fgs", "backend": "classical"}
    assert camera_setups(cams[:1], shipped)[0].parameters == [shipped]  # nothing given: the file alone
    # a params file keyed by the bare node name is re-keyed for each node's full namespace
    mine = tmp_path / "mine.yaml"
    mine.write_text("sr_node:\n  ros__parameters:\n    backend: classical\n")
    keyed = camera_setups(cams, mine, namespace="fleet", enclosing_namespace="/site", out_dir=str(tmp_path))
    assert [s.namespace for s in keyed] == ["fleet/cam_a", "fleet/robot/cam_b"]
    assert [list(yaml.safe_load(pathlib.Path(s.parameters[0]).read_text())) for s in keyed] == \
        [["/site/fleet/cam_a/sr_node"], ["/site/fleet/robot/cam_b/sr_node"]]


@pytest.mark.unit
def test_join_namespace_nests_as_launch_ros():
    assert join_namespace("", "cam") == "cam"
    assert join_namespace("robot", "cam") == "robot/cam"
    assert join_namespace("/robot/", "cam/") == "/robot/cam"
    assert join_namespace("robot", "/cam") == "/cam"  # an absolute namespace is not prefixed
    assert join_namespace("/", "") == ""


@pytest.mark.unit
@pytest.mark.parametrize("text, error", [
    ("cameras: []\n", "no cameras"),
    ("cams: [{name: a}]\n", "no cameras"),
    ("cameras: [{rgb: /x}]\n", "needs a name"),
    ("cameras: [{name: a-b}]\n", "needs a name"),
    ("cameras: [{name: a, rgbb: /x}]\n", r"unknown keys \['rgbb'\]"),
    ("cameras: [{name: a}, {name: b, namespace: /a}]\n", "both in namespace 'a'"),
    ("cameras: [{name: a, namespace: 'x y'}]\n", "bad namespace"),
    ("cameras: [{name: a, params: {classical: {methd: fgs}}}]\n", r"no parameter \['classical.methd'\]"),
])
def test_bad_cameras_files_are_refused_with_the_reason(tmp_path, text, error):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        load_cameras(path, SR_PARAMS)


# ---------------------------------------------------------------- multi.launch.py evaluated (launch needed)
def evaluate_multi(tmp_path, **args):
    from launch.logging import launch_config
    from test_launch_files import evaluate_file

    launch_config.log_dir = str(tmp_path)
    return evaluate_file(MULTI, {"params_file": str(ROOT / "config" / "sr.yaml"),
                                 "rviz_config": str(ROOT / "rviz" / "sr.rviz"), **args})


@pytest.mark.ros
@needs_launch
def test_multi_launch_makes_one_node_per_camera(cameras_file, tmp_path, monkeypatch):
    _, actions = evaluate_multi(tmp_path, cameras_file=str(cameras_file), classical_method=ARGUMENT_METHOD,
                                ros_namespace="/site")  # as a PushRosNamespace('site') around it sets
    assert [a.expanded_node_namespace for a in actions] == ["/site/cam_a", "/site/robot/cam_b"]
    for action, name in zip(actions, EXPECT, strict=True):
        assert action.node_executable == "sr_node"
        assert action.expanded_remapping_rules == driver_remaps(EXPECT[name]["driver"])
    # with rviz: one rviz2 per camera, in the camera's namespace, showing that camera's node
    from test_launch_files import fake_rviz_prefix, rviz_topics

    fake_rviz_prefix(tmp_path)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    ctx, actions = evaluate_multi(tmp_path, cameras_file=str(cameras_file), use_rviz="true")
    assert [a.node_executable for a in actions] == ["sr_node", "rviz2", "sr_node", "rviz2"]
    rviz_b = actions[3]
    assert rviz_b.expanded_node_namespace == "/robot/cam_b"
    from launch.utilities import perform_substitutions
    cmd = [perform_substitutions(ctx, part) for part in rviz_b.cmd[:4]]
    assert rviz_topics(cmd[cmd.index("-d") + 1])[0] == "/drv_b/color/image_raw"


@pytest.mark.ros
@needs_launch
def test_multi_launch_refuses_a_bad_cameras_file_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [{name: a, params: {no_such: 1}}]\n")
    with pytest.raises(ValueError, match="no parameter"):
        evaluate_multi(tmp_path, cameras_file=str(bad))


# ---------------------------------------------------------------- live: two cameras streaming at once
def stream_two_cameras_and_check(log_of) -> None:
    """Rigs in each camera's namespace with its driver's topics; frames to both cameras at once.

    Each camera's refined depth, camera_info and cloud must arrive in its own namespace, with exactly
    its own stamps, its own size, and the values of its own classical method. ``log_of(name)`` gives
    the text in which that camera's node logged its start-up line.
    """
    import rclpy

    from depth_refine_ros.pipeline.factory import build_sr_pipeline, spec_for_method
    from depth_refine_ros.ros.rig import Rig, camera_infos, synthetic_frame

    rigs, frames = {}, {}
    try:
        for name, e in EXPECT.items():
            rigs[name] = Rig(name=f"rig_{name}", namespace=e["ns"], remaps=driver_remaps(e["driver"]))
            frames[name] = synthetic_frame(e["h"], e["w"], e["s"], e["base"])
        for name, rig in rigs.items():
            e, (rgb, lr) = EXPECT[name], frames[name]
            rig.wait_matched(60)
            rig.prime(rgb, lr, "16UC1", e["t0"] - 100, camera_infos(e["h"], e["w"], e["s"], e["t0"] - 100), 60)
        sent = {name: set() for name in rigs}

        def all_answered() -> bool:
            return all(sent[n] <= set(r.images) & set(r.infos) & set(r.clouds) for n, r in rigs.items())

        def spin_until(cond, timeout: float) -> bool:
            end = time.monotonic() + timeout
            while time.monotonic() < end and not cond():
                for r in rigs.values():
                    rclpy.spin_once(r.node, timeout_sec=0.01)
            return cond()

        for i in range(N):  # both cameras' frame i goes out before either answer is awaited
            for name, rig in rigs.items():
                e, (rgb, lr) = EXPECT[name], frames[name]
                t = e["t0"] + i / 10
                sent[name].add(rig.send(rgb, "rgb8", lr, "16UC1", t, camera_infos(e["h"], e["w"], e["s"], t)))
            spin_until(all_answered, 20)
        spin_until(lambda: False, 0.5)  # anything stray would land now
        for name, rig in rigs.items():
            e, (rgb, lr) = EXPECT[name], frames[name]
            assert set(rig.images) == set(rig.infos) == set(rig.clouds) == sent[name], \
                f"{name}: outputs {len(rig.images)}/{len(sent[name])}, stamps not its own?\n{log_of(name)[-2000:]}"
            expected = build_sr_pipeline(spec_for_method(e["method"])).process(rgb, lr.astype(np.float32) / 1000)
            for k in sent[name]:
                img, info, cloud = rig.images[k][1], rig.infos[k], rig.clouds[k]
                assert (img.height, img.width, info.height, info.width, cloud.height, cloud.width) == \
                    (e["h"], e["w"]) * 3
                depth = np.frombuffer(img.data, np.float32).reshape(e["h"], e["w"])
                np.testing.assert_allclose(depth, expected.depth, atol=1e-4, err_msg=name)
            ready = f"sr_node ready: backend classical/{e['method']}, inputs reliable ({e['driver']}/color/image_raw"
            assert ready in log_of(name), log_of(name)[-2000:]
    finally:
        for rig in rigs.values():
            rig.close()


@pytest.mark.ros
@pytest.mark.slow
def test_two_cameras_live_from_the_cameras_list(cameras_file):
    """Two sr_node processes started as multi.launch.py starts them (namespaces, remaps and parameters from
    camera_setups), streamed to at once."""
    from depth_refine_ros.ros.rig import NodeProcess, default_params_file

    cams = load_cameras(cameras_file, SR_PARAMS)
    setups = camera_setups(cams, default_params_file(), {"classical.method": ARGUMENT_METHOD, "backend": "classical"})
    nodes = {}
    try:
        for cam, s in zip(cams, setups, strict=True):
            nodes[cam.name] = NodeProcess(namespace=s.namespace, remaps=s.remappings,
                                          parameters=s.parameters).__enter__()
        stream_two_cameras_and_check(lambda name: nodes[name].log())
    finally:
        codes = {name: node.stop() for name, node in nodes.items()}
    for name, node in nodes.items():
        assert codes[name] == 0 and "Traceback" not in node.log(), node.log()[-2000:]


@pytest.mark.ros
@pytest.mark.slow
@needs_launch
@pytest.mark.skipif(importlib.util.find_spec("ros2launch") is None or shutil.which("ros2") is None,
                    reason="`ros2 launch` (ros2cli + ros2launch from a ROS 2 install or workspace) is absent")
def test_multi_launch_two_cameras_live(cameras_file):
    """For real: `ros2 launch depth_refine_ros multi.launch.py cameras_file:=...`, two cameras streamed to at
    once, then SIGINT: a clean exit and nothing left running. The default backend is `auto` (the shipped
    network): `backend:=classical` makes each camera's output its classical method's, exactly known, as
    the test of the same setups above does."""
    env = dict(os.environ, ROS_HOME=tempfile.mkdtemp(prefix="ros_home_"), PYTHONUNBUFFERED="1")
    log = pathlib.Path(env["ROS_HOME"]) / "launch.out"
    with open(log, "w") as out:
        proc = subprocess.Popen(["ros2", "launch", "depth_refine_ros", "multi.launch.py",
                                 f"cameras_file:={cameras_file}", "backend:=classical",
                                 f"classical_method:={ARGUMENT_METHOD}"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        stream_two_cameras_and_check(lambda name: log.read_text())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    left = subprocess.run(["ps", "-o", "pid=", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    text = log.read_text()
    assert proc.returncode == 0 and not left, text[-3000:]
    assert text.count("process has finished cleanly") == 2, text[-3000:]
