"""rosbag2 files (sqlite3 or MCAP) in and out, with the ``rosbags`` library (no rosbag2_py needed).

Messages are stored as the CDR bytes the wire carries. Reading deserialises them with the
``rosbags`` type store into objects with the ROS field names (``data`` a numpy array), which
:mod:`depth_refine_ros.data.messages` decodes exactly as it decodes the live node's messages. This
module never imports rclpy, so training reads bags without ROS; the layers that publish
(``ros/``, live replay) turn a message into an rclpy one with ``ros.conversions.to_rclpy``, and
write rclpy messages with ``BagWriter.write_cdr(topic, *ros.conversions.to_cdr(msg), t_ns)``.

Topics (the names ``sr_node`` listens on; :class:`Topics` renames them):
    ``rgb/image``, ``rgb/camera_info``, ``depth_lr/image``, ``depth_lr/camera_info``, ``depth_gt/image``.
An image stream recorded through image_transport's compressed transports is read from
``<topic>/compressed`` (RGB) or ``<topic>/compressedDepth`` (depth, ground truth) as
``sensor_msgs/msg/CompressedImage`` when the raw topic is not in the bag; it pairs by stamp and
decodes (:mod:`depth_refine_ros.data.compressed`) like the raw one.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.core.encodings import ImageFormatError
from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.data.messages import depth_msg_to_metres, first_intrinsics, rgb_msg_to_array

STORAGES = ("sqlite3", "mcap")
IMAGE, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
#: image_transport's compressed transport of each image stream (topic suffix = "/" + transport)
COMPRESSED_TRANSPORT = {"rgb": "compressed", "depth": "compressedDepth", "gt": "compressedDepth"}


class BagError(RuntimeError):
    """A bag that cannot be read or written as asked; the message says what and where."""


@dataclass(frozen=True)
class Topics:
    """Topic names inside a bag."""

    rgb: str = "rgb/image"
    rgb_info: str = "rgb/camera_info"
    depth: str = "depth_lr/image"
    depth_info: str = "depth_lr/camera_info"
    gt: str = "depth_gt/image"


_TYPESTORE = None


def typestore():
    """The ``rosbags`` type store for ROS 2 Kilted messages (built once)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore

        _TYPESTORE = get_typestore(Stores.ROS2_KILTED)
    return _TYPESTORE


class BagWriter:
    """Write messages into a new rosbag2 (context manager).

    Args:
        path: the bag directory to create (must not exist: rosbag2 never overwrites).
        storage: ``sqlite3`` or ``mcap``.
    """

    def __init__(self, path: str | pathlib.Path, storage: str = "sqlite3") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"storage must be one of {STORAGES}, got '{storage}'")
        self.path = pathlib.Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists; rosbag2 writes a new directory (remove it or pick another)")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._conns: dict[str, object] = {}
        self._ts = typestore()

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def write_cdr(self, topic: str, msgtype: str, data: bytes, t_ns: int) -> None:
        """Store one serialised message (``msgtype`` e.g. ``sensor_msgs/msg/Image``) on ``topic`` at ``t_ns``."""
        if topic not in self._conns:
            self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=self._ts)
        elif self._conns[topic].msgtype != msgtype:
            raise BagError(f"topic '{topic}' holds {self._conns[topic].msgtype}, not {msgtype}")
        self._writer.write(self._conns[topic], int(t_ns), bytes(data))

    def write(self, topic: str, msg, t_ns: int) -> None:
        """Store a message read from a bag (a ``rosbags`` object) on ``topic`` at ``t_ns``.

        rclpy messages go through :meth:`write_cdr` (``ros.conversions.to_cdr`` serialises them).
        """
        if not hasattr(msg, "__msgtype__"):
            raise BagError(f"{type(msg).__name__} is not a bag message; serialise rclpy messages with "
                           "ros.conversions.to_cdr and call write_cdr")
        self.write_cdr(topic, msg.__msgtype__, self._ts.serialize_cdr(msg, msg.__msgtype__), t_ns)

    def __exit__(self, *exc) -> None:
        self._writer.close()


@dataclass
class BagFrame:
    """One synchronised frame of a bag (``rosbags`` message objects; ``rgb``/``gt``/infos may be None)."""

    stamp_ns: int
    t_ns: int
    rgb: object | None
    depth: object
    rgb_info: object | None = None
    depth_info: object | None = None
    gt: object | None = None


@dataclass
class BagContents:
    """What :func:`read_bag` found: frames in time order, message counts, unpaired messages."""

    frames: list[BagFrame]
    counts: dict[str, int]
    storage: str
    unpaired_depth: int = 0
    unpaired_rgb: int = 0
    messages: list[tuple[str, int, object]] = field(default_factory=list)
    #: ``rgb``/``depth``/``gt`` -> the transport they were recorded with (``raw``, ``compressed``,
    #: ``compressedDepth``); streams absent from the bag are ``raw``
    transports: dict[str, str] = field(default_factory=dict)


def image_topic(base: str, key: str, transport: str) -> str:
    """The bag topic of image stream ``key`` (``rgb``/``depth``/``gt``) named ``base`` with ``transport``."""
    return base if transport == "raw" else f"{base}/{COMPRESSED_TRANSPORT[key]}"


def _find_image_topic(by_topic: dict, base: str, key: str) -> tuple[str, str]:
    """``(topic, transport)`` of an image stream: the raw topic, else image_transport's compressed one."""
    compressed = image_topic(base, key, COMPRESSED_TRANSPORT[key])
    if base not in by_topic and compressed in by_topic:
        return compressed, COMPRESSED_TRANSPORT[key]
    return base, "raw"


def _open_reader(path: pathlib.Path):
    from rosbags.highlevel import AnyReader

    if path.is_file():  # a .db3/.mcap file: rosbag2 is the directory holding it and metadata.yaml
        path = path.parent
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    try:
        reader = AnyReader([path], default_typestore=typestore())
        reader.open()
    except Exception as e:  # rosbags raises several types for damaged files; all mean the same here
        raise BagError(f"{path}: cannot open the bag: damaged or truncated ({type(e).__name__}: {e})") from None
    return reader


def read_bag(path: str | pathlib.Path, topics: Topics = Topics(), need_rgb: bool = True,
             max_interval_ns: int = 50_000_000, keep_messages: bool = False) -> BagContents:
    """Read a bag and pair RGB with depth as the node does (nearest stamp within ``max_interval_ns``).

    camera_info and ground truth attach by exact stamp, else the latest before the image (how a
    driver's streams relate). ``keep_messages`` also returns every message in bag order (for replay).

    Raises:
        BagError: unreadable/truncated bag, no depth topic, no RGB topic when ``need_rgb``, a topic
            of the wrong type, no messages, or no RGB/depth pair (the message gives the stamp ranges).
    """
    path = pathlib.Path(path)
    reader = _open_reader(path)
    try:
        by_topic = {c.topic: c for c in reader.connections}
        found = {k: _find_image_topic(by_topic, base, k)
                 for k, base in (("depth", topics.depth), ("rgb", topics.rgb), ("gt", topics.gt))}
        transports = {k: tr for k, (_, tr) in found.items()}
        want = {"depth": found["depth"][0], "rgb": found["rgb"][0], "rgb_info": topics.rgb_info,
                "depth_info": topics.depth_info, "gt": found["gt"][0]}
        expected = {k: IMAGE if tr == "raw" else COMPRESSED for k, tr in transports.items()}
        expected.update(rgb_info=INFO, depth_info=INFO)
        if want["depth"] not in by_topic:
            raise BagError(f"{path}: no '{topics.depth}' topic (the low-res depth; or "
                           f"'{image_topic(topics.depth, 'depth', 'compressedDepth')}'); topics in the bag: "
                           f"{sorted(by_topic) or 'none'}")
        if need_rgb and want["rgb"] not in by_topic:
            raise BagError(f"{path}: no '{topics.rgb}' topic (RGB guidance; or "
                           f"'{image_topic(topics.rgb, 'rgb', 'compressed')}'); topics in the bag: {sorted(by_topic)}")
        for k, t in want.items():
            if t in by_topic and by_topic[t].msgtype != expected[k]:
                raise BagError(f"{path}: topic '{t}' is {by_topic[t].msgtype}, expected {expected[k]}")
        conns = [by_topic[t] for t in want.values() if t in by_topic]
        key_of = {t: k for k, t in want.items()}
        streams: dict[str, list[tuple[int, int, object]]] = {k: [] for k in want}
        messages = []
        for conn, t_ns, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            k = key_of[conn.topic]
            st = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            streams[k].append((st, t_ns, msg))
            if keep_messages:
                messages.append((k, t_ns, msg))
        storage = "mcap" if any((path if path.is_dir() else path.parent).glob("*.mcap")) else "sqlite3"
    except BagError:
        raise
    except Exception as e:
        raise BagError(f"{path}: the bag is damaged or truncated ({type(e).__name__}: {e})") from None
    finally:
        reader.close()
    counts = {want[k]: len(v) for k, v in streams.items() if want[k] in by_topic}
    if not streams["depth"]:
        raise BagError(f"{path}: '{want['depth']}' has no messages (empty bag?)")
    frames, unpaired_rgb = _pair(streams, need_rgb, max_interval_ns)
    if not frames:
        d = [s for s, _, _ in streams["depth"]]
        r = [s for s, _, _ in streams["rgb"]] or [0]
        raise BagError(f"{path}: no RGB/depth pair within {max_interval_ns / 1e6:.0f} ms: depth stamps "
                       f"{min(d) / 1e9:.3f}..{max(d) / 1e9:.3f} s, rgb {min(r) / 1e9:.3f}..{max(r) / 1e9:.3f} s")
    return BagContents(frames, counts, storage, len(streams["depth"]) - len(frames), unpaired_rgb, messages,
                       transports)


def _latest(stream: list[tuple[int, int, object]], stamp: int):
    """The message with ``stamp`` exactly, else the latest one before it (None if none)."""
    best = None
    for st, _, m in stream:
        if st == stamp:
            return m
        if st < stamp:
            best = m
    return best


def _pair(streams, need_rgb: bool, max_interval_ns: int) -> tuple[list[BagFrame], int]:
    rgbs = sorted(streams["rgb"], key=lambda x: x[0])
    stamps = np.array([s for s, _, _ in rgbs], np.int64)
    used: set[int] = set()
    gts = {s: m for s, _, m in streams["gt"]}
    frames = []
    for st, t_ns, dmsg in sorted(streams["depth"], key=lambda x: x[0]):
        rgb = None
        if len(stamps):
            j = int(np.argmin(np.abs(stamps - st)))
            if abs(int(stamps[j]) - st) <= max_interval_ns and j not in used:
                rgb = rgbs[j][2]
                used.add(j)
        if rgb is None and need_rgb:
            continue
        gt = gts.get(st)
        frames.append(BagFrame(st, t_ns, rgb, dmsg, _latest(streams["rgb_info"], st),
                               _latest(streams["depth_info"], st), gt))
    return frames, len(rgbs) - len(used)


@dataclass
class Decoded:
    """A bag frame decoded to arrays.

    Attributes:
        stamp_ns: the depth message's stamp.
        rgb: ``(H, W, 3) uint8`` RGB, or None for a depth-only frame.
        depth_lr: ``(h, w) float32`` metres, NaN invalid.
        gt: ``(H, W) float32`` metres (``depth_gt/image``), or None.
        intrinsics: of the RGB image when its camera_info is there, else of the depth; or None.
    """

    stamp_ns: int
    rgb: np.ndarray | None
    depth_lr: np.ndarray
    gt: np.ndarray | None
    intrinsics: Intrinsics | None


def decode(contents: BagContents, log=None) -> tuple[list[Decoded], dict[str, int]]:
    """Decode every frame of :func:`read_bag`'s result with the one decoder (:mod:`data.messages`).

    Frames that do not decode are counted by reason (and reported through ``log(str)``), never fatal.
    """
    out, bad = [], {}
    for f in contents.frames:
        try:
            rgb = rgb_msg_to_array(f.rgb) if f.rgb is not None else None
            d = depth_msg_to_metres(f.depth)
            gt = depth_msg_to_metres(f.gt) if f.gt is not None else None
        except ImageFormatError as e:
            bad[e.reason] = bad.get(e.reason, 0) + 1
            if log:
                log(f"frame {f.stamp_ns / 1e9:.3f} s skipped: {e}")
            continue
        rgb_info = (f.rgb_info, rgb.shape[:2]) if rgb is not None else (None, None)
        intr = first_intrinsics([rgb_info, (f.depth_info, d.shape)])  # the RGB's, else the depth's
        out.append(Decoded(f.stamp_ns, rgb, d, gt, intr))
    return out, bad
