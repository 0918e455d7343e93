"""The layers of ``docs/architecture.md``, guarded: imports point down, heavy libraries stay in their rooms.

Every ``import`` statement of the package is read with ``ast`` (function-level imports too, since
the package defers heavy imports into functions), so the rules hold for what the code can import,
not only for what a test happened to run. The tests keep the same rooms: one folder of test/ per
layer (plus training/, launch/ and repo/), none loose in test/.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "depth_refine_ros"
TRAINING = ROOT / "training" / "depth_refine_training"
TESTS = ROOT / "test"

# sub-package -> floor (data flows down, imports point down: a room imports only lower floors or itself).
# data/ sits below models/: models/export.py writes, and models/foundation.py reads, model directories
# (data/modeldir.py); nothing in data/ builds a network.
FLOORS = {"core": 1, "data": 2, "models": 3, "backends": 4, "pipeline": 5, "ros": 6, "eval": 7, "cli": 8}
ROS_LIBS = ("rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "diagnostic_msgs", "lifecycle_msgs",
            "builtin_interfaces", "launch", "launch_ros", "rosidl_runtime_py")
TORCH_ROOMS = ("models", "backends")  # + training/, which is not part of the runtime
# Generated, not written: depth_refine_ros/msg (the message type rosidl makes from msg/RefineStats.msg;
# make setup puts it in the source tree for the venv). It is no layer; as a message type, it is
# imported only from ros/ up, like the ROS message packages.
GENERATED = "msg"


def imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in a file (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.relative_to(ROOT).with_suffix("").parts[:-node.level]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
    return out


def room(path: pathlib.Path) -> str | None:
    """The sub-package a package file lives in (None for the package's own ``__init__``)."""
    parts = path.relative_to(PKG).parts
    return parts[0] if len(parts) > 1 else None


def package_files() -> list[pathlib.Path]:
    return sorted(p for p in PKG.rglob("*.py")
                  if "model_zoo" not in p.parts and p.relative_to(PKG).parts[0] != GENERATED)


def target_room(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if parts[0] == "depth_refine_ros" and len(parts) > 1 else None


def test_every_package_file_lives_in_a_layer():
    loose = [p.name for p in PKG.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the layers: {loose} (put them in one of {sorted(FLOORS)})"
    rooms = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {GENERATED}
    assert rooms <= set(FLOORS), f"sub-packages without a floor: {rooms - set(FLOORS)}"


def test_imports_point_down():
    bad = []
    for f in package_files():
        here = room(f)
        for line, mod in imports(f):
            there = target_room(mod)
            if here is None or there is None or there == here or there not in FLOORS:
                continue
            if FLOORS[there] >= FLOORS[here]:
                bad.append(f"{f.relative_to(ROOT)}:{line} ({here}, floor {FLOORS[here]}) imports {mod} "
                           f"({there}, floor {FLOORS[there]})")
    assert not bad, "imports that do not point down:\n" + "\n".join(bad)


CORE_BANNED = ("threading", "concurrent.futures", "multiprocessing", "pathlib", "os")
"""What core/ never imports: it holds array functions (numpy, OpenCV), with no file I/O and no threads.
Model directories are ``data/modeldir.py``; the registration stage's background thread is
``pipeline/registration.py``."""
CORE_FILE_CALLS = {"np": {"load", "save", "savez", "savez_compressed", "loadtxt", "savetxt", "fromfile", "memmap"},
                   "cv2": {"imread", "imwrite", "VideoCapture", "VideoWriter"}}
"""Calls that read or write files, by module alias as core/ spells them (``np``, ``cv2``), besides ``open``."""


def test_core_does_no_file_io_and_owns_no_threads():
    bad = []
    for f in package_files():
        if room(f) != "core":
            continue
        where = f.relative_to(ROOT)
        bad += [f"{where}:{line} imports {mod}" for line, mod in imports(f)
                if any(mod == b or mod.startswith(b + ".") for b in CORE_BANNED)]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id == "open":
                bad.append(f"{where}:{node.lineno} calls open()")
            elif (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)
                  and fn.attr in CORE_FILE_CALLS.get(fn.value.id, ())):
                bad.append(f"{where}:{node.lineno} calls {fn.value.id}.{fn.attr}()")
    assert not bad, "file I/O or threads in core/ (move them up a floor):\n" + "\n".join(bad)


def test_rclpy_and_messages_only_from_ros_up():
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in package_files() if room(f) is not None and FLOORS[room(f)] < FLOORS["ros"]
           for line, mod in imports(f) if mod.split(".")[0] in ROS_LIBS or target_room(mod) == GENERATED]
    bad += [f"{f.relative_to(ROOT)}:{line} imports {mod}"
            for f in sorted(TRAINING.rglob("*.py")) for line, mod in imports(f) if mod.split(".")[0] in ROS_LIBS]
    assert not bad, "ROS imported below ros/ (or by training):\n" + "\n".join(bad)


def test_torch_only_in_models_backends_and_training():
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in package_files() if room(f) not in TORCH_ROOMS
           for line, mod in imports(f) if mod.split(".")[0] == "torch"]
    assert not bad, "torch imported outside models/ and backends/:\n" + "\n".join(bad)


def test_runtime_never_imports_training():
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in package_files() for line, mod in imports(f) if mod.startswith("depth_refine_training")]
    assert not bad, "\n".join(bad)


TRANSFORMERS_FILES = {"models/foundation.py"}
"""The only package module that imports ``transformers`` (docs/foundation_models.md): the conversion
``depth-refine import`` runs. The runtime (backends, pipeline, nodes) runs the exported ONNX graph."""
FOUNDATION_USERS = {"cli/import_model.py"}
"""The only package modules that import the conversion module (so loading a node never loads transformers)."""


def _imported_names(path: pathlib.Path) -> list[tuple[int, str]]:
    """:func:`imports`, plus ``module.name`` for every name of a ``from module import name``."""
    out = imports(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_transformers_only_in_the_import_command_and_training():
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in package_files() if str(f.relative_to(PKG)) not in TRANSFORMERS_FILES
           for line, mod in imports(f) if mod.split(".")[0] == "transformers"]
    bad += [f"{f.relative_to(ROOT)}:{line} imports {mod}"
            for f in package_files() if str(f.relative_to(PKG)) not in FOUNDATION_USERS | TRANSFORMERS_FILES
            for line, mod in _imported_names(f) if mod.startswith("depth_refine_ros.models.foundation")]
    assert not bad, "transformers (or its conversion module) imported by the runtime:\n" + "\n".join(bad)


TRAINING_USES_RUNTIME = {"sddr.py": {"backends", "pipeline"}, "sr_edge_sd.py": {"pipeline"}}
"""The exceptions to training's floors (docs/architecture.md#layers): the SDDR trainer makes its
inputs and pseudo-labels with the runtime's own SDDR stage (ONNX monocular inference, normalisation,
coarse-to-fine windows), so the refiner trains on exactly what it is fed at run time; the SR net's
edge self-distillation (sr_edge_sd.py) makes its pseudo-labels with the same coarse-to-fine pass."""


def test_training_imports_only_core_models_and_data():
    allowed = {"core", "models", "data"}
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}"
           for f in sorted(TRAINING.rglob("*.py")) for line, mod in imports(f)
           if target_room(mod) is not None
           and target_room(mod) not in allowed | TRAINING_USES_RUNTIME.get(f.name, set())]
    assert not bad, "training reaches past core/models/data:\n" + "\n".join(bad)


TEST_ROOMS = {*FLOORS, "training", "launch", "repo"}
"""The folders of test/: one per layer of the package (tests of what that layer does, live nodes over DDS
in ros/), training/ (the training package), launch/ (launch_testing files, run by ``launch_test``) and
repo/ (repository-wide checks: docs, layers, package shape, Humble API, tools)."""
TEST_HELPERS = {"conftest.py", "frames.py", "modelkit.py", "foundationkit.py", "clikit.py"}
"""test/'s own modules, imported by tests of every folder (pyproject.toml: ``pythonpath = ["test"]``)."""


def layout_problems(tests: pathlib.Path = TESTS) -> list[str]:
    """What is out of place in a test folder laid out as test/ is (empty when nothing)."""
    bad = [f"{p.relative_to(tests)}: a test directly in test/ (put it in one of {sorted(TEST_ROOMS)})"
           for p in sorted(tests.glob("test_*.py"))]
    bad += [f"{p.relative_to(tests)}: a module in test/ besides {sorted(TEST_HELPERS)}"
            for p in sorted(tests.glob("*.py")) if p.name not in TEST_HELPERS and not p.name.startswith("test_")]
    bad += [f"{p.name}/: no such test folder (one of {sorted(TEST_ROOMS)})" for p in sorted(tests.iterdir())
            if p.is_dir() and p.name not in TEST_ROOMS and not p.name.startswith((".", "__"))]
    files = sorted(p for p in tests.rglob("*.py") if "__pycache__" not in p.parts and p.parent != tests)
    bad += [f"{p.relative_to(tests)}: deeper than test/<folder>/" for p in files if p.parent.parent != tests]
    # pytest's default (prepend) import mode imports a test by its basename, and `from conftest import ...`
    # must find test/conftest.py: so no second conftest.py, no __init__.py, no basename twice.
    bad += [f"{p.relative_to(tests)}: only test/conftest.py (a second shadows it for `from conftest import`)"
            for p in files if p.name == "conftest.py"]
    bad += [f"{p.relative_to(tests)}: test folders are not packages" for p in files if p.name == "__init__.py"]
    seen: dict[str, pathlib.Path] = {}
    for p in files:
        if p.name in seen:
            bad.append(f"{p.relative_to(tests)}: same name as {seen[p.name].relative_to(tests)}")
        seen.setdefault(p.name, p)
    # a test module in another folder is importable only after pytest has collected that folder: a test run
    # alone that imports it fails. Shared code goes into test/'s helper modules instead.
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            bad += [f"{p.relative_to(tests)}:{node.lineno}: imports the test module {n} (move what it shares "
                    f"into one of {sorted(TEST_HELPERS)})" for n in names if n.split(".")[0].startswith("test_")
                    and not (p.parent / f"{n.split('.')[0]}.py").is_file()]
    return bad


def test_every_test_lives_in_a_test_folder():
    bad = layout_problems()
    assert not bad, "test files out of place:\n" + "\n".join(bad)


def test_the_test_layout_check_sees_misplaced_tests(tmp_path):
    for name in sorted(TEST_HELPERS):
        (tmp_path / name).write_text("")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "test_a.py").write_text("")
    assert layout_problems(tmp_path) == []
    for rel in ("test_loose.py", "stuff/test_b.py", "ros/test_a.py", "ros/conftest.py", "ros/deep/test_c.py",
                "helper.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "test_d.py").write_text("from test_a import x\n")
    found = "\n".join(layout_problems(tmp_path))
    for what in ("test_loose.py: a test directly in test/", "stuff/: no such test folder",
                 "ros/test_a.py: same name as core/test_a.py", "ros/conftest.py: only test/conftest.py",
                 "ros/deep/test_c.py: deeper than", "helper.py: a module in test/",
                 "eval/test_d.py:1: imports the test module test_a"):
        assert what in found, found


def test_the_checker_sees_a_violation(tmp_path):
    """The rules are not vacuous: an upward import in a core-like file is found."""
    f = PKG / "core" / "_layer_probe_tmp.py"
    f.write_text("def f():\n    from depth_refine_ros.ros import conversions\n")
    try:
        with pytest.raises(AssertionError, match="core/_layer_probe_tmp.py:2"):
            test_imports_point_down()
        with pytest.raises(AssertionError, match="core/_layer_probe_tmp.py"):
            f.write_text("import rclpy\n")
            test_rclpy_and_messages_only_from_ros_up()
        with pytest.raises(AssertionError, match="core/_layer_probe_tmp.py:1 imports depth_refine_ros.msg"):
            f.write_text("from depth_refine_ros.msg import RefineStats\n")
            test_rclpy_and_messages_only_from_ros_up()
        with pytest.raises(AssertionError, match="core/_layer_probe_tmp.py:2 imports transformers"):
            f.write_text("def f():\n    import transformers\n")
            test_transformers_only_in_the_import_command_and_training()
        for probe, found in (("import threading\n", ":1 imports threading"),
                             ("from concurrent.futures import ThreadPoolExecutor\n", ":1 imports concurrent.futures"),
                             ("def f():\n    from os import path\n", ":2 imports os"),
                             ("def f(p):\n    return open(p).read()\n", ":2 calls open()"),
                             ("import numpy as np\nx = np.load('a.npy')\n", ":2 calls np.load()")):
            f.write_text(probe)
            with pytest.raises(AssertionError, match=f"core/_layer_probe_tmp.py{found}"):
                test_core_does_no_file_io_and_owns_no_threads()
    finally:
        f.unlink()
