"""Use the package's Fast DDS profile unless the user configured their own.

Why (docs/architecture.md, ROS conventions): the publisher's shared-memory segment decides
large-message latency. Fast DDS's default segment (512 KiB) is too small for a camera's images:
they arrive late (reliable) or not at all (best-effort); the shipped profile
(``resources/fastdds_profile.xml``) sets 32 MiB. Fast DDS reads the variable when the participant is
created, so this must run before ``rclpy.init``.

Which variable Fast DDS reads depends on its major version (docs/nodes.md, "ROS 2 distributions"):
Fast DDS 3 (Kilted, Rolling) reads ``FASTDDS_DEFAULT_PROFILES_FILE`` (and warns that
``FASTRTPS_DEFAULT_PROFILES_FILE`` is deprecated whenever that one is set); Fast DDS 2 (Jazzy, Humble)
reads only ``FASTRTPS_DEFAULT_PROFILES_FILE`` and silently ignores the other, so a profile named only
there does not apply. The profile's XML itself reads the same in both versions.

Measurements: docs/log/history.md#measurements-moved-from-module-docstrings
"""
from __future__ import annotations

import glob
import os
from importlib import resources

FASTDDS_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"  # Fast DDS 3.x
FASTRTPS_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x
PROFILE_VARS = (FASTDDS_VAR, FASTRTPS_VAR)
#: ROS 2 distributions whose Fast DDS is 2.x (later ones ship 3.x)
FASTDDS2_DISTROS = ("humble", "iron", "jazzy")


def packaged_profile_path() -> str:
    """Absolute path of the shipped ``fastdds_profile.xml``."""
    return str(resources.files("depth_refine_ros").joinpath("resources/fastdds_profile.xml"))


def fastdds_major(environ: dict[str, str] | None = None) -> int | None:
    """Major version of the Fast DDS this process will load: 2, 3, or None when it cannot tell.

    ``ROS_DISTRO`` (set by every sourced ROS 2 install) decides when present; otherwise (a venv of
    PyPI wheels) the first Fast DDS library on the dynamic linker's path: ``LD_LIBRARY_PATH``, then
    ``<prefix>/lib`` of each ``AMENT_PREFIX_PATH`` entry.
    """
    env = os.environ if environ is None else environ
    distro = env.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return 2 if distro in FASTDDS2_DISTROS else 3
    dirs = [d for d in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    dirs += [os.path.join(p, "lib") for p in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for d in dirs:
        if glob.glob(os.path.join(d, "libfastdds.so.3*")):
            return 3
        if glob.glob(os.path.join(d, "libfastrtps.so.2*")):
            return 2
    return None


def profile_vars(major: int | None) -> tuple[str, ...]:
    """The variable(s) Fast DDS ``major`` reads its profile from (both when unknown)."""
    return {2: (FASTRTPS_VAR,), 3: (FASTDDS_VAR,)}.get(major, PROFILE_VARS)


def use_packaged_fastdds_profile() -> str | None:
    """Point Fast DDS at the shipped profile when no profile variable is set.

    A profile the user set in the variable this Fast DDS ignores (``FASTDDS_...`` on Jazzy, as the
    launch files and older docs set it) is copied into the one it reads, so it applies on every
    distribution.

    Returns:
        The profile path now in use, or None when the user's own setting was kept.
    """
    wanted = profile_vars(fastdds_major())
    user = next((os.environ[v] for v in PROFILE_VARS if os.environ.get(v)), None)
    if user is not None:
        if not any(os.environ.get(v) for v in wanted):
            for v in wanted:
                os.environ[v] = user
        return None
    path = packaged_profile_path()
    for v in wanted:
        os.environ[v] = path
    return path
