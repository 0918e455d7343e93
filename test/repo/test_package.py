"""Package shape: parameters file == code, launch file arguments/executables vs setup.py, pipeline."""
import ast
import pathlib
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from depth_refine_ros.backends import BackendError, create_backend
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.pipeline.sr import InputError, Pipeline
from depth_refine_ros.ros.params import MonoParams, SrParams, render_yaml

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[2]


def console_scripts(entries: bool = False):
    """setup.py's console script names (or whole ``name = module:function`` entries)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CONSOLE_SCRIPTS":
            return {s.value if entries else s.value.split("=")[0].strip() for s in node.value.elts}
    raise AssertionError("CONSOLE_SCRIPTS not found in setup.py")


def cmake_src() -> str:
    return (ROOT / "CMakeLists.txt").read_text()


@pytest.mark.parametrize("cls", [SrParams, MonoParams])
def test_params_yaml_is_the_rendering_of_the_code(cls):
    short = cls.node_name.replace("_node", "")
    assert (ROOT / "config" / f"{short}.yaml").read_text() == render_yaml(cls), \
        f"config/{short}.yaml drifted from {cls.__name__}: regenerate it with render_yaml()"
    import yaml
    flat = {}

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            else:
                flat[prefix + k] = v
    doc = yaml.safe_load(render_yaml(cls))
    # keyed for the node in any namespace (a bare `sr_node:` would not apply under -r __ns:=...)
    assert list(doc) == [f"/**/{cls.node_name}"]
    walk(doc[f"/**/{cls.node_name}"]["ros__parameters"])
    from dataclasses import fields
    for f in fields(cls):
        assert flat[f.metadata["ros"]] == f.default
        assert len(f.metadata["doc"]) > 10
    assert len(flat) == len(fields(cls))


@pytest.mark.parametrize("launch_file", sorted((ROOT / "launch").glob("*.launch.py")))
def test_launch_file_arguments_and_executables(launch_file):
    src = launch_file.read_text()
    tree = ast.parse(src)
    declared, used, executables = set(), set(), []
    consts, consts_str = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple, ast.Dict)):
            consts[getattr(node.targets[0], "id", "")] = node.value
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            consts_str[getattr(node.targets[0], "id", "")] = node.value.value
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        kw = {k.arg: k.value for k in node.keywords}
        if name == "DeclareLaunchArgument":
            if isinstance(node.args[0], ast.Constant):
                declared.add(node.args[0].value)
                assert "description" in kw, f"argument {node.args[0].value} has no description"
        elif name == "LaunchConfiguration" and isinstance(node.args[0], ast.Constant):
            used.add(node.args[0].value)
        elif name == "Node":
            pkg = kw["package"]
            pkg = pkg.value if isinstance(pkg, ast.Constant) else consts_str[pkg.id]
            executables.append((pkg, kw["executable"].value))
    # topic arguments: TOPIC_ARGS [(name, description)], each remapping the node topic REMAP_OF[name];
    # multi.launch.py has none: its topics come from cameras_file (launch_support.CAMERA_TOPICS)
    multi = "REMAP_OF" not in consts
    topic_args = [] if multi else ast.literal_eval(consts["TOPIC_ARGS"])
    assert multi or [n for n, _ in topic_args] == list(ast.literal_eval(consts["REMAP_OF"]))
    for name, doc in topic_args:
        assert doc, name
        declared.add(name)
    # arguments that override parameters: PARAM_ARGS [(argument, parameter)]; each a parameter the node declares
    ours = [e for p, e in executables if p == "depth_refine_ros"]
    assert len(ours) == 1 and set(ours) <= console_scripts()
    cls = {"sr_node": SrParams, "mono_node": MonoParams}[ours[0]]
    from dataclasses import fields
    names = {f.metadata["ros"] for f in fields(cls)}
    if "PARAM_ARGS" in consts:
        param_args = ast.literal_eval(consts["PARAM_ARGS"])
    else:  # the sr_node launch files share launch_support's list
        from depth_refine_ros.ros import launch_support
        assert "SR_PARAM_ARGS" in src, f"{launch_file.name}: neither PARAM_ARGS nor SR_PARAM_ARGS"
        param_args = launch_support.SR_PARAM_ARGS
    for argument, param in param_args:
        assert param in names, f"{launch_file.name}: {param} is not a {cls.node_name} parameter"
        declared.add(argument)
    assert {"use_rviz", "params_file", "backend", "model", "namespace", "rviz_config"} <= declared
    assert ("cameras_file" if multi else "rgb_topic") in declared
    assert used - declared == set(), f"LaunchConfiguration without DeclareLaunchArgument: {used - declared}"
    # everything the launch file finds in share/ is installed there by setup.py (pip) and CMakeLists.txt (colcon)
    setup_src = (ROOT / "setup.py").read_text()
    cmake_dirs = set(re.search(r"install\(DIRECTORY ([\w ]+)\n\s+DESTINATION share/", cmake_src()).group(1).split())
    for sub in re.findall(r'\[share, "(\w+)", "([\w.]+)"\]', src):
        assert (f'"share/" + PACKAGE + "/{sub[0]}"' in setup_src), sub
        assert any((ROOT / d / sub[1]).exists() for d in (sub[0], "depth_refine_ros/resources")), sub
        assert sub[0] in cmake_dirs or (sub[1] == "fastdds_profile.xml" and "/fastdds_profile.xml\n"
                                        "    DESTINATION share/${PROJECT_NAME}/config" in cmake_src()), sub


def test_package_xml_and_setup_cfg():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "depth_refine_ros"
    exec_deps = {e.text for e in root.findall("exec_depend") + root.findall("depend")}  # depend = build+exec
    # what the nodes, launch files and runtime import, by rosdep key (ros/rosdistro rosdep/python.yaml)
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "rcl_interfaces", "launch", "launch_ros",
            "ament_index_python", "python3-numpy", "python3-yaml", "python3-opencv", "python3-matplotlib",
            "python3-skimage", "python3-onnxruntime-pip", "python3-rosbags-pip"} <= exec_deps
    # rviz2 only for use_rviz:=true, installed by hand: not pulled onto headless robots
    assert "rviz2" not in exec_deps | {e.text for e in root.findall("build_depend")}
    assert "python3-pytest" in {e.text for e in root.findall("test_depend")}
    assert root.findtext("license") == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    build_type = root.find("export/build_type").text
    assert build_type in ("ament_python", "ament_cmake")
    if build_type == "ament_cmake":  # ament_cmake_python installs the Python package
        assert (ROOT / "CMakeLists.txt").exists()
    # ament_cmake: the message (msg/RefineStats.msg) is generated by rosidl (CMakeLists.txt)
    assert build_type == "ament_cmake"
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= \
        {e.text for e in root.findall("buildtool_depend")}
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert "rosidl_default_runtime" in exec_deps
    cfg = (ROOT / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/depth_refine_ros" in cfg  # where launch_ros finds executables
    assert (ROOT / "resource" / "depth_refine_ros").exists()


def test_pipeline_geometry_checks_and_intrinsics():
    pipe = Pipeline(create_backend("classical"))
    rgb = np.zeros((96, 128, 3), np.uint8)
    res = pipe.process(rgb, np.full((24, 32), 2.0, np.float32),
                       Intrinsics(40.0, 40.0, 15.5, 11.5, 32, 24))
    assert res.depth.shape == (96, 128) and res.intrinsics.width == 128
    assert res.intrinsics.cx == pytest.approx(63.5)
    with pytest.raises(InputError) as e:
        pipe.process(rgb, np.full((24, 40), 2.0, np.float32))
    assert e.value.reason == "aspect_mismatch"
    with pytest.raises(InputError) as e:
        pipe.process(rgb, np.full((24, 32), np.nan, np.float32))
    assert e.value.reason == "all_invalid"
    with pytest.raises(InputError) as e:
        pipe.process(rgb, np.full((192, 256), 2.0, np.float32))
    assert e.value.reason == "depth_larger_than_rgb"


def test_backend_registry_errors():
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        create_backend("nope")
    with pytest.raises(BackendError, match="unknown classical method"):
        create_backend("classical", method="nope")


def test_cmakelists_installs_what_setup_py_does():
    """colcon builds with CMakeLists.txt, pip with setup.py: the same executables, package and data."""
    src = cmake_src()
    block = re.search(r"set\(CONSOLE_SCRIPTS\n(.*?)\n  \)", src, re.S).group(1)
    assert set(re.findall(r'"([^"]+)"', block)) == console_scripts(entries=True)
    assert 'install(PROGRAMS "${script}" DESTINATION lib/${PROJECT_NAME})' in src
    assert re.search(r'rosidl_generate_interfaces\(\$\{PROJECT_NAME\}\n\s+"msg/RefineStats.msg"', src)
    assert sorted(p.name for p in (ROOT / "msg").glob("*.msg")) == ["RefineStats.msg"]
    # the Python package (model zoo and resources inside it) into the generated package's directory
    assert 'install(DIRECTORY ${PROJECT_NAME}/\n    DESTINATION "${PYTHON_INSTALL_DIR}/${PROJECT_NAME}"' in src
    # every data file setup.py ships is under a directory CMakeLists.txt installs whole
    setup_src = (ROOT / "setup.py").read_text()
    for pattern in re.findall(r'"((?:resources|model_zoo)/[^"]+)"', setup_src):
        assert list((ROOT / "depth_refine_ros").glob(pattern)), pattern


def test_makefile_keeps_colcon_out_of_the_venvs_and_build():
    """A checkout that ran `make setup`, placed in a workspace's src/: colcon must not take the ROS 2 packages
    inside the venv, or the message's CMake build in build/, for packages of the workspace."""
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(VENV\)/COLCON_IGNORE: \| \$\(PY\)\n\ttouch \$@$", make, re.M)
    assert re.search(r"^build/COLCON_IGNORE:\n\tmkdir -p build && touch \$@$", make, re.M)
    # made before the message is built (every target that needs the venv goes through it); VENV is .venv or
    # .venv-<distro>, so both venvs get one
    assert re.search(r"^\$\(MSG_STAMP\):.*\\\n\t\t\| \$\(VENV\)/COLCON_IGNORE build/COLCON_IGNORE$", make, re.M)
