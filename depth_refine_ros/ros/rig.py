"""Live rig: sr_node in its own process, fed and observed over real DDS.

Used by the ROS tests, the benchmark and the demo, so all three exercise the node exactly as a
user runs it. ``NodeProcess`` starts ``sr_node --ros-args --params-file <sr.yaml> [-p ...]`` and
stops it with SIGINT; ``Rig`` is an rclpy node in the calling process that publishes the inputs
and records every output by stamp (ns). The caller sets ``ROS_DOMAIN_ID`` and
``ROS_AUTOMATIC_DISCOVERY_RANGE`` (see :func:`isolate_domain`) before the first ``Rig``.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.ros import conversions as conv

BIN = pathlib.Path(sys.executable).parent


def default_params_file(config: str = "sr.yaml") -> pathlib.Path:
    """``config/<config>`` of the checkout (editable install) or of the installed share/ dir."""
    repo = pathlib.Path(__file__).resolve().parents[2] / "config" / config
    if repo.exists():
        return repo
    return pathlib.Path(sys.prefix) / "share" / "depth_refine_ros" / "config" / config


def executable_path(executable: str) -> pathlib.Path:
    """A console script of the package: beside this Python (the venv's ``bin/``), else where colcon and
    ``make setup`` install it for launch_ros (``lib/depth_refine_ros/`` of the package's ament prefix)."""
    here = BIN / executable
    if here.exists():
        return here
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix

        lib = pathlib.Path(get_package_prefix("depth_refine_ros")) / "lib" / "depth_refine_ros" / executable
        return lib if lib.exists() else here
    except (ImportError, PackageNotFoundError):
        return here


def isolate_domain(base: int = 150) -> None:
    """Give this process (and the nodes it starts) its own DDS domain, localhost only."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(base + os.getpid() % 70))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
FRAME = "camera_color_optical_frame"
REL = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def _params_file_from_dict(params: dict, directory: pathlib.Path) -> str:
    """A params file holding ``params`` for any node, as launch_ros writes a Node's parameter dict
    (string values read as YAML scalars, as launch_ros reads them)."""
    values = {}
    for name, value in params.items():
        if isinstance(value, str):
            parsed = yaml.safe_load(value) if value else value
            value = parsed if isinstance(parsed, (bool, int, float, str)) else value
        values[name] = value
    fd, path = tempfile.mkstemp(prefix="params_", suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump({"/**": {"ros__parameters": values}}, f)
    return path


class NodeProcess:
    """A node (``sr_node`` by default) as a separate process (context manager).

    Args:
        *overrides: parameter overrides ``name:=value``.
        executable: console script to run (``sr_node`` or ``mono_node``).
        namespace: the node's namespace (``-r __ns:=``), as a launch file's ``Node(namespace=...)``.
        remaps: ``(from, to)`` remapping rules, as a launch file's ``Node(remappings=...)``.
        parameters: as a launch file's ``Node(parameters=...)``: params files and dicts, in order
            (default: the package's ``config/<node>.yaml``); ``overrides`` come after them.
    """

    def __init__(self, *overrides: str, executable: str = "sr_node", namespace: str = "",
                 remaps=(), parameters: list | None = None) -> None:
        self.log_path = pathlib.Path(tempfile.mkdtemp(prefix=executable + "_")) / "node.log"
        config = executable.replace("_node", "") + ".yaml"
        if parameters is None:
            parameters = [default_params_file(config)]
        cmd = [str(executable_path(executable)), "--ros-args"]
        if namespace.strip("/"):
            cmd += ["-r", "__ns:=/" + namespace.strip("/")]
        for src, dst in remaps:
            cmd += ["-r", f"{src}:={dst}"]
        for item in parameters:
            path = _params_file_from_dict(item, self.log_path.parent) if isinstance(item, dict) else item
            cmd += ["--params-file", str(path)]
        for o in overrides:
            cmd += ["-p", o]
        self.cmd = cmd
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        env = dict(os.environ, ROS_HOME=str(self.log_path.parent), PYTHONUNBUFFERED="1",
                   RCUTILS_LOGGING_BUFFERED_STREAM="0")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        return self

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        """SIGINT, wait; returns the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def image_msg(arr: np.ndarray, encoding: str, stamp_s: float, frame: str = FRAME) -> Image:
    """An Image as a driver would publish it (stamp in seconds)."""
    return conv.array_to_image_msg(arr, encoding, conv.header_at(stamp_s, frame))


def compressed_image_msg(arr: np.ndarray, encoding: str, stamp_s: float, frame: str = FRAME,
                         rgb_format: str = "jpeg") -> CompressedImage:
    """A CompressedImage as image_transport's publishers send it: ``rgb8`` arrays through ``compressed``
    (``rgb_format`` jpeg or png), depth (``16UC1`` mm / ``32FC1`` m) through ``compressedDepth``."""
    header = conv.header_at(stamp_s, frame)
    if encoding == "rgb8":
        return conv.rgb_to_compressed_msg(arr, header, rgb_format)
    return conv.depth_to_compressed_msg(arr, encoding, header)


def info_msg(h: int, w: int, fx: float, fy: float, cx: float, cy: float, stamp_s: float) -> CameraInfo:
    """A plumb_bob CameraInfo with zero distortion for a ``w x h`` image."""
    return conv.intrinsics_to_camera_info(Intrinsics(fx, fy, cx, cy, w, h), conv.header_at(stamp_s, FRAME))


def synthetic_frame(h: int, w: int, scale: int, base_m: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """A small RGB-D frame needing no data: ``(rgb (h, w, 3) uint8, depth_lr (h/scale, w/scale) uint16 mm)``.

    The depth is a tilted plane from ``base_m`` with a raised box (an edge for guided methods); the RGB
    shows the same box, so the two are registered.
    """
    hl, wl = h // scale, w // scale
    yy, xx = np.mgrid[0:hl, 0:wl].astype(np.float32)
    depth_m = base_m + 0.01 * xx + 0.005 * yy
    box = (slice(hl // 4, hl // 2), slice(wl // 4, wl // 2))
    depth_m[box] -= 0.3
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[..., 0] = (np.arange(w) * 255 // max(1, w - 1))[None, :]
    rgb[..., 1] = (np.arange(h) * 255 // max(1, h - 1))[:, None]
    rgb[..., 2] = 40
    rgb[box[0].start * scale:box[0].stop * scale, box[1].start * scale:box[1].stop * scale] = (230, 200, 30)
    return rgb, np.round(depth_m * 1000).astype(np.uint16)


def camera_infos(h: int, w: int, scale: int, stamp_s: float) -> tuple[CameraInfo, CameraInfo]:
    """``(rgb camera_info (w x h), depth camera_info (w/scale x h/scale))`` of one camera, fx = 0.9 w."""
    fx, cx, cy = 0.9 * w, w / 2 - 0.5, h / 2 - 0.5
    lr = info_msg(h // scale, w // scale, fx / scale, fx / scale, (cx + 0.5) / scale - 0.5, (cy + 0.5) / scale - 0.5,
                  stamp_s)
    return info_msg(h, w, fx, fx, cx, cy, stamp_s), lr


key = conv.stamp_ns  # outputs are recorded by stamp in ns


def _transport_topic(base: str, transport: str) -> tuple[type, str]:
    """``(type, topic)`` image_transport publishes ``base`` on with ``transport`` (the rig is not remapped)."""
    return (Image, base) if transport == "raw" else (CompressedImage, f"{base}/{transport}")


class Rig:
    """Publishes a node's inputs and records its outputs (keyed by stamp in ns).

    Args:
        name: rig node name.
        clouds: also subscribe to the cloud (the nodes build it only when someone does).
        prefix: the node's output namespace (``depth_refined`` for sr_node, ``depth_mono``).
        rgb_transport, depth_transport: image_transport transports the rig publishes the images
            with (``raw``; ``compressed`` (``rgb_format`` jpeg or png) on ``rgb/image/compressed``,
            ``compressedDepth`` on ``depth_lr/image/compressedDepth``); the node must be started with
            the same ``rgb_transport`` / ``depth_transport`` parameters.
        namespace, remaps: the node's namespace and remapping rules: the rig's node gets the same, so
            its relative topic names resolve to the node's topics (a namespaced or remapped node).
        inputs: False: record only, no input publishers (a :class:`Driver` publishes them).
    """

    def __init__(self, name: str = "test_rig", clouds: bool = True, prefix: str = "depth_refined",
                 rgb_transport: str = "raw", depth_transport: str = "raw", rgb_format: str = "jpeg",
                 namespace: str = "", remaps=(), inputs: bool = True) -> None:
        self.prefix = prefix
        self.record_clouds = clouds
        self.rgb_transport, self.depth_transport, self.rgb_format = rgb_transport, depth_transport, rgb_format
        if not rclpy.ok():
            rclpy.init()
        rules = [a for src, dst in remaps for a in ("-r", f"{src}:={dst}")]
        self.node = rclpy.create_node(name, namespace="/" + namespace.strip("/"),
                                      cli_args=["--ros-args", *rules] if rules else None)
        n = self.node
        self.pub_rgb = self.pub_rgb_info = self.pub_depth = self.pub_depth_info = None
        if inputs:
            self.pub_rgb = n.create_publisher(*_transport_topic("rgb/image", rgb_transport), REL)
            self.pub_rgb_info = n.create_publisher(CameraInfo, "rgb/camera_info", REL)
            self.pub_depth = n.create_publisher(*_transport_topic("depth_lr/image", depth_transport), REL)
            self.pub_depth_info = n.create_publisher(CameraInfo, "depth_lr/camera_info", REL)
        self.images: dict[int, tuple[float, Image]] = {}
        self.infos: dict[int, CameraInfo] = {}
        self.clouds: dict[int, PointCloud2] = {}
        self.diags: list[DiagnosticArray] = []
        # kept so wait_matched can check that each output stream has matched (DDS discovers every
        # endpoint pair on its own: the image can match before the camera_info does)
        self.subs = [
            n.create_subscription(Image, f"{prefix}/image",
                                  lambda m: self.images.setdefault(key(m.header), (time.monotonic(), m)), REL),
            n.create_subscription(CameraInfo, f"{prefix}/camera_info",
                                  lambda m: self.infos.setdefault(key(m.header), m), REL)]
        if clouds:
            self.subs.append(n.create_subscription(PointCloud2, f"{prefix}/points",
                                                   lambda m: self.clouds.setdefault(key(m.header), m), REL))
        n.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 10)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=min(0.02, max(0.0, end - time.monotonic())))

    def wait_for(self, cond, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.02)
        return cond()

    def wait_matched(self, timeout: float = 20.0) -> None:
        pubs = [p for p in (self.pub_depth, self.pub_rgb, self.pub_rgb_info) if p is not None]
        # node.count_publishers, not Subscription.get_publisher_count (Jazzy and later; not in Humble)
        ok = self.wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs)
                           and all(self.node.count_publishers(s.topic_name) > 0 for s in self.subs), timeout)
        assert ok, "the node never matched the rig's publishers"
        self.spin(0.5)

    def send(self, rgb: np.ndarray | None, rgb_enc: str, depth: np.ndarray | None, depth_enc: str,
             stamp_s: float, infos: tuple | None = None, rgb_stamp_s: float | None = None) -> int:
        """Publish one frame; returns the depth stamp key (ns). ``infos`` = (rgb_info, depth_info)."""
        if infos is not None:
            ri, di = infos
            if ri is not None:
                self.pub_rgb_info.publish(ri)
            if di is not None:
                self.pub_depth_info.publish(di)
        if rgb is not None:
            self.pub_rgb.publish(self._image(rgb, rgb_enc, stamp_s if rgb_stamp_s is None else rgb_stamp_s,
                                             self.rgb_transport))
        msg = self._image(depth, depth_enc, stamp_s, self.depth_transport) if depth is not None else None
        if msg is not None:
            self.pub_depth.publish(msg)
            return key(msg.header)
        return -1

    def _image(self, arr: np.ndarray, encoding: str, stamp_s: float, transport: str):
        if transport == "raw":
            return image_msg(arr, encoding, stamp_s)
        return compressed_image_msg(arr, encoding, stamp_s, rgb_format=self.rgb_format)

    def play(self, frames, rate_hz: float, progress=None,
             pace_s: float | None = None) -> dict[int, tuple[int, float]]:
        """Publish frames at ``rate_hz`` while recording outputs (a driver's steady stream).

        Args:
            frames: iterable of ``send()`` argument tuples ``(rgb, rgb_enc, depth, depth_enc,
                stamp_s, infos)``.
            rate_hz: publishing rate (the most; see ``pace_s``).
            progress: optional ``callback(i, sent)`` after each frame.
            pace_s: if set, also wait up to this long for each frame's refined depth before the
                next is sent: a stream that never outruns the node. Tests that check every frame
                is answered use it so that they do not depend on the machine's speed (on a loaded
                machine the latest-frame policy rightly drops frames a fixed-rate stream outruns);
                throughput is the benchmark's to measure, not a test's.

        Returns:
            depth stamp (ns) -> (frame index, monotonic send time).
        """
        period = 1.0 / rate_hz
        sent: dict[int, tuple[int, float]] = {}
        for i, args in enumerate(frames):
            t = time.monotonic()
            k = self.send(*args)
            sent[k] = (i, t)
            if pace_s is not None:
                self.wait_for(lambda k=k: k in self.images, pace_s)
            self.spin(max(0.0, t + period - time.monotonic()))
            if progress is not None:
                progress(i, sent)
        return sent

    def latencies_ms(self, sent: dict[int, tuple[int, float]]) -> list[float]:
        """Send -> refined-depth-received latency (ms) of every frame of ``sent`` that came back."""
        return [(self.images[k][0] - t) * 1e3 for k, (_, t) in sent.items() if k in self.images]

    def prime(self, rgb: np.ndarray, depth: np.ndarray, depth_enc: str, stamp_s: float,
              infos: tuple | None = None, timeout: float = 10.0) -> int:
        """Send frames until one comes back on every output the rig records, then forget them.

        Discovery is per endpoint: the node can match the rig's image subscription before its cloud
        subscription, and a volatile reliable reader misses what was published before it matched.
        So one frame every second (stamps ``stamp_s``, ``+1 ms``, ...) until the same stamp has
        arrived as image, camera_info and (when recorded) cloud.

        Returns:
            how many priming frames were sent (the node may have published any number of them
            from one up to this, since early ones can be lost before it matched).
        """
        end = time.monotonic() + timeout
        keys: list[int] = []

        def complete() -> bool:
            return any(k in self.images and k in self.infos and (not self.record_clouds or k in self.clouds)
                       for k in keys)

        while not complete() and time.monotonic() < end:
            keys.append(self.send(rgb, "rgb8", depth, depth_enc, stamp_s + 1e-3 * len(keys), infos))
            self.wait_for(complete, min(1.0, max(0.0, end - time.monotonic())))
        assert complete(), f"the node produced no complete output in {timeout:.0f} s"
        self.spin(0.3)  # let anything still in flight land, then forget it
        self.images.clear()
        self.infos.clear()
        self.clouds.clear()
        return len(keys)

    def diag_values(self, name: str = "depth refinement") -> dict[str, str]:
        """Key/values of the newest diagnostics status whose name contains ``name``."""
        for arr in reversed(self.diags):
            for st in arr.status:
                if name in st.name:
                    return {kv.key: kv.value for kv in st.values}
        return {}

    def close(self) -> None:
        self.node.destroy_node()


class Driver:
    """A camera driver: the node's four inputs published from a DDS participant of its own.

    The publishers live in an rclpy context of their own (a participant, as a driver process has), so
    :meth:`close` is the driver process going away and a new ``Driver`` is the restarted driver, found
    by discovery like a new process. Publishes raw images only.

    Args:
        name: the driver node's name.
        namespace, remaps: as :class:`Rig`'s, so the relative input names reach the node's topics.
    """

    def __init__(self, name: str = "camera_driver", namespace: str = "", remaps=()) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        rules = [a for src, dst in remaps for a in ("-r", f"{src}:={dst}")]
        self.node = rclpy.create_node(name, namespace="/" + namespace.strip("/"), context=self.context,
                                      cli_args=["--ros-args", *rules] if rules else None)
        n = self.node
        self.pub_rgb = n.create_publisher(Image, "rgb/image", REL)
        self.pub_rgb_info = n.create_publisher(CameraInfo, "rgb/camera_info", REL)
        self.pub_depth = n.create_publisher(Image, "depth_lr/image", REL)
        self.pub_depth_info = n.create_publisher(CameraInfo, "depth_lr/camera_info", REL)

    def matched(self) -> bool:
        """Whether a subscriber (the node) has matched every image and camera_info publisher."""
        return all(p.get_subscription_count() > 0
                   for p in (self.pub_rgb, self.pub_rgb_info, self.pub_depth, self.pub_depth_info))

    def send(self, rgb: np.ndarray | None, depth: np.ndarray | None, depth_enc: str, stamp_s: float,
             infos: tuple | None = None) -> int:
        """Publish one frame (``rgb8`` RGB, depth, their camera_infos); returns the depth stamp key (ns), or -1
        without depth. ``infos`` = (rgb_info, depth_info)."""
        if infos is not None:
            self.pub_rgb_info.publish(infos[0])
            self.pub_depth_info.publish(infos[1])
        if rgb is not None:
            self.pub_rgb.publish(image_msg(rgb, "rgb8", stamp_s))
        if depth is None:
            return -1
        msg = image_msg(depth, depth_enc, stamp_s)
        self.pub_depth.publish(msg)
        return key(msg.header)

    def close(self) -> None:
        """The driver goes away: its node, publishers and participant."""
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
