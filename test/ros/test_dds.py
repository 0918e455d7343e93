"""The Fast DDS profile reaches the participant on every distribution (docs/nodes.md, "ROS 2 distributions").

Fast DDS 2 (Jazzy) reads only ``FASTRTPS_DEFAULT_PROFILES_FILE`` and silently ignores
``FASTDDS_DEFAULT_PROFILES_FILE``, the only variable the package used to set: on Jazzy the nodes then
ran with the default 512 KiB shared-memory segment and a 15 Hz 640x480 stream lost frames. The unit
tests check which variable is set for which Fast DDS; the ros test checks, in whatever venv runs it
(``make test`` Kilted, ``make test ROS_DISTRO=jazzy`` Jazzy), that a participant created after
:func:`use_packaged_fastdds_profile` really maps the profile's 32 MiB segment.
"""
import os
import subprocess
import sys

import pytest

from depth_refine_ros.ros import dds

SEGMENT = 33554432  # <segment_size> in resources/fastdds_profile.xml


@pytest.fixture
def clean_env(monkeypatch):
    """No profile variable, no ROS_DISTRO, and a library path with nothing on it."""
    for v in (*dds.PROFILE_VARS, "ROS_DISTRO", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH"):
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


def fake_lib(tmp_path, name: str) -> str:
    d = tmp_path / name.split(".")[0]
    d.mkdir()
    (d / name).write_bytes(b"")
    return str(d)


@pytest.mark.unit
@pytest.mark.parametrize("distro, major", [("humble", 2), ("jazzy", 2), ("Jazzy", 2), ("kilted", 3),
                                           ("rolling", 3), ("lyrical", 3)])
def test_ros_distro_decides(distro, major):
    assert dds.fastdds_major({"ROS_DISTRO": distro, "LD_LIBRARY_PATH": "/nowhere"}) == major


@pytest.mark.unit
def test_library_on_the_search_path_decides_without_ros_distro(tmp_path):
    v2, v3 = fake_lib(tmp_path, "libfastrtps.so.2.14"), fake_lib(tmp_path, "libfastdds.so.3.2")
    assert dds.fastdds_major({"LD_LIBRARY_PATH": f"/nowhere:{v2}"}) == 2
    assert dds.fastdds_major({"LD_LIBRARY_PATH": v3}) == 3
    assert dds.fastdds_major({"LD_LIBRARY_PATH": f"{v3}:{v2}"}) == 3  # the first, as the linker
    # a sourced workspace without LD_LIBRARY_PATH: <prefix>/lib
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "libfastrtps.so.2.14.5").write_bytes(b"")
    assert dds.fastdds_major({"AMENT_PREFIX_PATH": str(prefix)}) == 2
    assert dds.fastdds_major({}) is None


@pytest.mark.unit
@pytest.mark.parametrize("distro, expected", [("jazzy", ("FASTRTPS_DEFAULT_PROFILES_FILE",)),
                                              ("kilted", ("FASTDDS_DEFAULT_PROFILES_FILE",)),
                                              ("", dds.PROFILE_VARS)])
def test_packaged_profile_goes_to_the_variable_this_fast_dds_reads(clean_env, distro, expected):
    if distro:
        clean_env.setenv("ROS_DISTRO", distro)
    path = dds.use_packaged_fastdds_profile()
    assert path == dds.packaged_profile_path() and os.path.isfile(path)
    assert {v for v in dds.PROFILE_VARS if os.environ.get(v)} == set(expected)
    assert all(os.environ[v] == path for v in expected)


@pytest.mark.unit
def test_users_profile_is_kept_and_reaches_fast_dds_2(clean_env):
    # set as the launch files and the Kilted docs do: Jazzy would ignore it, so it is copied over
    clean_env.setenv("ROS_DISTRO", "jazzy")
    clean_env.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/mine.xml")
    assert dds.use_packaged_fastdds_profile() is None
    assert os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == "/mine.xml"
    # the variable Jazzy reads, already set, wins over the launch file's default
    clean_env.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/share/fastdds_profile.xml")
    clean_env.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", "/mine.xml")
    assert dds.use_packaged_fastdds_profile() is None
    assert os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == "/mine.xml"


@pytest.mark.unit
def test_users_profile_on_fast_dds_3_is_left_alone(clean_env):
    clean_env.setenv("ROS_DISTRO", "kilted")
    clean_env.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/mine.xml")
    assert dds.use_packaged_fastdds_profile() is None
    assert "FASTRTPS_DEFAULT_PROFILES_FILE" not in os.environ  # Fast DDS 3 warns whenever it is set


PROBE = """
import os, time
import rclpy
from sensor_msgs.msg import Image
from depth_refine_ros.ros.dds import use_packaged_fastdds_profile
use_packaged_fastdds_profile()
rclpy.init()
node = rclpy.create_node("segment_probe")
pub = node.create_publisher(Image, "segment_probe", 1)
sizes = {}
for line in open("/proc/self/maps"):
    parts = line.split()
    name = parts[5] if len(parts) >= 6 else ""
    # the participant's segment: /dev/shm/fastrtps_<guid> (Fast DDS 2) or fastdds_<guid> (3), not the port queues
    if name.startswith(("/dev/shm/fastrtps_", "/dev/shm/fastdds_")) and "_port" not in name:
        a, b = (int(x, 16) for x in parts[0].split("-"))
        sizes[name] = sizes.get(name, 0) + b - a
print(max(sizes.values(), default=0))
node.destroy_node()
rclpy.shutdown()
"""


@pytest.mark.ros
def test_participant_maps_the_profiles_segment():
    """A node process that calls use_packaged_fastdds_profile() gets the 32 MiB segment, on this distro."""
    env = {k: v for k, v in os.environ.items() if k not in dds.PROFILE_VARS}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deprecated" not in out.stderr, out.stderr  # no FASTRTPS_... warning on Fast DDS 3
    biggest = int(out.stdout.split()[-1])
    assert biggest >= SEGMENT, (f"largest Fast DDS segment mapped is {biggest} bytes, not the profile's "
                                f"{SEGMENT}: the profile did not reach Fast DDS (ROS_DISTRO="
                                f"{os.environ.get('ROS_DISTRO')}, Fast DDS {dds.fastdds_major()})")
