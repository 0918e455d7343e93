"""Generate the package's message (msg/RefineStats.msg) into the venv; `make setup` runs it.

In a colcon workspace CMakeLists.txt does everything. In the venv the same CMakeLists.txt is built
with ``DEPTH_REFINE_ROS_INTERFACES_ONLY=ON`` against the ROS 2 wheels from PyPI (the venv is their
ament prefix: ``<venv>/share/<pkg>/cmake``), in ``build/msg``, and what it installs goes where the
venv's imports find it:

* ``lib/libdepth_refine_ros__rosidl_*.so`` -> ``<venv>/lib``: the type support libraries. rclpy's
  type support dispatch looks them up by name on ``LD_LIBRARY_PATH``, which the wheels' bootstrapper
  (``ros_wheels_bootstrapper.pth``) sets to ``<venv>/lib`` (+ the wheels' ``.libs`` folders) in
  every venv Python process, as it does for the wheels' own message packages.
* ``depth_refine_ros/msg/`` (the generated Python) and ``depth_refine_ros/depth_refine_ros_s__*.so``
  (its C extensions) -> the source package ``depth_refine_ros/``, which the editable install
  imports from (git ignores both; CMakeLists.txt leaves them out of a colcon install).
* ``share/depth_refine_ros/msg/`` and the ``rosidl_interfaces`` index entry -> ``<venv>/share``,
  for ``ros2 interface show``.

Then it imports the message in a fresh interpreter and round-trips one through rclpy's
serialization. Needs ``cmake`` (>= 3.20) and a C/C++ compiler (Debian: ``apt install cmake g++``).

Usage: ``.venv/bin/python tools/build_interfaces.py [--build-dir build/msg]``
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = "depth_refine_ros"
FIXUPS = ROOT / "tools" / "wheel_prefix_fixups.cmake"

CHECK = """
import math
from rclpy.serialization import deserialize_message, serialize_message
from depth_refine_ros.msg import RefineStats
m = RefineStats(mode="rgb", stage_names=["total"], stage_ms=[1.5], lowres_residual_m=math.nan)
back = deserialize_message(serialize_message(m), RefineStats)
assert back.stage_names == ["total"] and back.stage_ms[0] == 1.5 and math.isnan(back.lowres_residual_m)
print(RefineStats.__module__)
"""


def run(cmd: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def replace_tree(src: pathlib.Path, dst: pathlib.Path, ignore=None) -> None:
    if dst.is_symlink() or dst.is_file():
        dst.unlink()
    elif dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=ignore)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=pathlib.Path, default=ROOT / "build" / "msg")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    prefix = pathlib.Path(sys.prefix)
    if prefix == pathlib.Path(sys.base_prefix):
        print("run this with the venv's python (.venv/bin/python): the venv is the ament prefix", file=sys.stderr)
        return 2
    cmake = shutil.which("cmake")
    if cmake is None:
        print("cmake not found: generating the message needs cmake >= 3.20 and a C/C++ compiler "
              "(Debian: sudo apt install cmake g++)", file=sys.stderr)
        return 2
    build = args.build_dir.resolve()
    install = build / "install"
    # CMake builds a copy of the package's interface part: the venv lives inside the repository, and
    # CMake refuses to export a target whose include directories (the venv's numpy) lie inside the
    # source directory.
    source = build / "src"
    source.mkdir(parents=True, exist_ok=True)
    for name in ("CMakeLists.txt", "package.xml"):
        shutil.copy2(ROOT / name, source / name)
    replace_tree(ROOT / "msg", source / "msg")
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in (str(prefix), env.get("AMENT_PREFIX_PATH")) if p)
    env.pop("CMAKE_PREFIX_PATH", None)  # only the venv's wheels, never another ROS install
    run([cmake, "-S", str(source), "-B", str(build / "build"),
         f"-DCMAKE_PROJECT_INCLUDE={FIXUPS}",
         "-DDEPTH_REFINE_ROS_INTERFACES_ONLY=ON", "-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=Release",
         "-DCMAKE_INSTALL_MESSAGE=NEVER",
         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_INSTALL_PREFIX={install}",
         f"-DPython3_EXECUTABLE={sys.executable}", "-DPython3_FIND_VIRTUALENV=ONLY"], env)
    run([cmake, "--build", str(build / "build"), "--parallel", str(args.jobs)], env)
    if install.exists():
        shutil.rmtree(install)
    run([cmake, "--install", str(build / "build")], env)

    # the type support libraries, where the bootstrapper's LD_LIBRARY_PATH finds them
    libs = sorted((install / "lib").glob(f"lib{PKG}__rosidl_*.so"))
    assert libs, f"no lib{PKG}__rosidl_*.so under {install / 'lib'}"
    for lib in libs:
        shutil.copy2(lib, prefix / "lib" / lib.name)
    # the Python message package and its C extensions, into the source package (editable install)
    # The extensions are named with this Python's EXT_SUFFIX (``.cpython-311-x86_64-linux-gnu.so``), which
    # Python's import prefers to a plain ``.so``: the Kilted venv (3.11) and the Jazzy one (3.12, `make setup
    # ROS_DISTRO=jazzy`) each load their own from the one source tree. The generated Python is the same.
    gen = next(install.glob(f"lib/python*/site-packages/{PKG}"))
    src = ROOT / PKG
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for old in src.glob(f"{PKG}_s__*{suffix}"):  # (an untagged one from before loses to the tagged one)
        old.unlink()
    for ext in gen.glob(f"{PKG}_s__*.so"):
        shutil.copy2(ext, src / (ext.name.split(".")[0] + suffix))
    replace_tree(gen / "msg", src / "msg", shutil.ignore_patterns("__pycache__", "*.c"))
    # the interface definitions and their index entry, for `ros2 interface show`
    replace_tree(install / "share" / PKG / "msg", prefix / "share" / PKG / "msg")
    index = prefix / "share" / "ament_index" / "resource_index" / "rosidl_interfaces"
    index.mkdir(parents=True, exist_ok=True)
    shutil.copy2(install / "share" / "ament_index" / "resource_index" / "rosidl_interfaces" / PKG, index / PKG)

    out = subprocess.run([sys.executable, "-c", CHECK], env=os.environ, cwd="/", capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        print("the generated message does not import (see above)", file=sys.stderr)
        return 1
    print(f"{PKG}/msg/RefineStats: generated ({out.stdout.strip()}; type support in {prefix / 'lib'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
