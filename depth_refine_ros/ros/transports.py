"""image_transport's transports for the nodes' image inputs: which topic and message type each uses.

As image_transport does it (``image_common``'s ``image_transport/src/subscriber.cpp`` resolves the
base topic through the node's namespace and remappings, then the plugin appends ``/<transport>``):
``raw`` subscribes ``sensor_msgs/Image`` on the base topic itself (e.g. ``rgb/image``); ``compressed``
and ``compressedDepth`` subscribe ``sensor_msgs/CompressedImage`` on the *resolved* base topic +
``/compressed`` or ``/compressedDepth``, so ``-r rgb/image:=/camera/color/image_raw`` makes the
compressed input ``/camera/color/image_raw/compressed``, the topic the driver's image_transport
publisher advertises. Decoding is :mod:`depth_refine_ros.data.compressed`.
"""
from __future__ import annotations

from sensor_msgs.msg import CompressedImage, Image

from depth_refine_ros.data.compressed import DEPTH_TRANSPORTS, RGB_TRANSPORTS  # noqa: F401  (re-exported)


def transport_topic(node, base: str, transport: str) -> str:
    """The topic image_transport would subscribe for ``base`` with ``transport`` on ``node``."""
    if transport == "raw":
        return base  # relative: create_subscription applies namespace and remappings
    return node.resolve_topic_name(base) + "/" + transport


def message_type(transport: str) -> type:
    """``Image`` for ``raw``, ``CompressedImage`` for ``compressed`` and ``compressedDepth``."""
    return Image if transport == "raw" else CompressedImage


def subscription(node, base: str, transport: str) -> tuple[type, str]:
    """``(message type, topic)`` of an image input ``base`` with ``transport``."""
    return message_type(transport), transport_topic(node, base, transport)
