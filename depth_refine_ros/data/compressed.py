"""``sensor_msgs/CompressedImage`` payloads <-> numpy, as image_transport's plugins write and read them.

Two transports, following ``ros-perception/image_transport_plugins`` (rolling, the Jazzy/Kilted code;
older releases write the same bytes):

* ``compressed`` (``compressed_image_transport``, ``src/compressed_publisher.cpp`` /
  ``compressed_subscriber.cpp``): ``data`` is a plain JPEG or PNG file; ``format`` is
  ``"<encoding>; <jpeg|png> compressed <target>"``, e.g. ``"rgb8; jpeg compressed bgr8"``: colour
  images are converted to BGR before ``cv::imencode``, so a decoder that finds ``"compressed bgr"``
  reads the decoded image as BGR, and as RGB otherwise. A ``format`` without ``';'`` (older
  publishers: ``"jpeg"``, ``"png"``) means BGR for 3 channels, mono8 for one.
* ``compressedDepth`` (``compressed_depth_image_transport``, ``src/codec.cpp`` and
  ``include/compressed_depth_image_transport/compression_common.h``): ``format`` is
  ``"<encoding>; compressedDepth png"`` (``"...; compressedDepth"`` alone, as Humble writes it, and
  a format without ``';'`` also mean png; ``"compressedDepth rvl"`` is the other codec, not read here).
  ``data`` starts with the 12-byte ``ConfigHeader`` copied from the C++ struct with ``memcpy``::

      struct ConfigHeader {
        compressionFormat format;   // int32 enum: UNDEFINED = -1, INV_DEPTH = 0 (always INV_DEPTH)
        float depthParam[2];        // quantisation a, b (set for 32FC1 only)
      };

  (native byte order: little-endian on every ROS platform), followed by a PNG:

  - ``16UC1`` (and ``mono16``): the raw uint16 millimetres as a 16-bit PNG. The header is written
    for 16UC1 too (``depthParam`` left uninitialised), so the decoder skips it in both cases.
  - ``32FC1``: inverse depth, ``q = (uint16)(a / z + b)`` with ``a = z0 * (z0 + 1)``,
    ``b = 1 - a / depth_max`` (``z0`` = the publisher's ``depth_quantization``, default 100;
    ``depth_max`` default 10 m), computed in float32 and truncated; ``q = 0`` for
    ``z >= depth_max`` or NaN (invalid). Decoding is ``z = a / (q - b)``, NaN where ``q == 0``.
    One quantisation step is ``z**2 / a`` metres (1 mm at 1 m, 9.9 mm at 10 m with the defaults).

Decoders return exactly what the raw decoders of :mod:`depth_refine_ros.data.messages` return
(``(H, W, 3) uint8`` RGB; ``(H, W) float32`` metres with NaN invalid) and raise
:class:`~depth_refine_ros.core.encodings.ImageFormatError` with reason ``format`` (a format string
this code does not read), ``encoding`` (an image encoding the node does not take) or ``decode``
(the payload: truncated or corrupt JPEG/PNG, no or short ConfigHeader, an unusable quantisation, a
PNG of the wrong bit depth). Truncation is checked structurally (JPEG EOI, PNG IEND) before
``cv2.imdecode``, whose behaviour on a cut-off JPEG differs between OpenCV versions.

The encoders write what the C++ publishers write (tests, ``make-bag``); one deliberate difference:
32FC1 depth whose ``q`` would exceed 65535 (nearer than ``a / (65535 - b)``, 0.15 m with the
defaults) or is <= 0 is stored as invalid (0), where the C++ cast wraps around.
No rclpy here: the functions take the message's fields (``format``, ``data``).
"""
from __future__ import annotations

import struct

import numpy as np

from depth_refine_ros.core.encodings import COLOR_ENCODINGS, DEPTH_ENCODINGS, ImageFormatError, depth_to_metres

#: image_transport's transport names and their topic suffixes
RGB_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")
#: compression methods of the ``compressed`` transport read and written here
RGB_FORMATS = ("jpeg", "png")

#: ``struct ConfigHeader`` of compression_common.h: int32 format, float depthParam[2] (little-endian)
CONFIG_HEADER = struct.Struct("<iff")
INV_DEPTH = 0  # enum compressionFormat { UNDEFINED = -1, INV_DEPTH }
DEPTH_MAX_M = 10.0  # compressed_depth_publisher.cpp defaults
DEPTH_QUANTIZATION = 100.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"
JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"


def is_compressed(msg) -> bool:
    """Whether a message object is a ``sensor_msgs/CompressedImage`` (has ``format``, no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def _bytes(data) -> bytes:
    """A message's ``data`` (bytes, ``array.array('B')`` from rclpy, numpy array from rosbags, list) as bytes."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False).tobytes()
    if isinstance(data, (list, tuple)):
        return bytes(data)
    return memoryview(data).cast("B").tobytes()


def _split(fmt: str) -> tuple[str | None, str]:
    """``"rgb8; jpeg compressed bgr8"`` -> ``("rgb8", " jpeg compressed bgr8")``; no ``';'`` -> ``(None, fmt)``."""
    pos = fmt.find(";")
    return (None, fmt) if pos < 0 else (fmt[:pos].strip(), fmt[pos:])


def _check_png(buf: bytes, what: str) -> None:
    if not buf.startswith(PNG_SIGNATURE):
        raise ImageFormatError("decode", f"{what}: not a PNG (no PNG signature at the start of the image data)")
    if not buf.endswith(PNG_IEND):
        raise ImageFormatError("decode", f"{what}: truncated PNG ({len(buf)} bytes, no IEND chunk at the end)")


def _check_jpeg(buf: bytes, what: str) -> None:
    if not buf.startswith(JPEG_SOI):
        raise ImageFormatError("decode", f"{what}: not a JPEG (no SOI marker at the start)")
    if not buf.rstrip(b"\x00").endswith(JPEG_EOI):  # some hardware encoders pad with zeros
        raise ImageFormatError("decode", f"{what}: truncated JPEG ({len(buf)} bytes, no EOI marker at the end)")


def _imdecode(buf: bytes, what: str) -> np.ndarray:
    import cv2

    try:
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageFormatError("decode", f"{what}: cv2.imdecode failed: {str(e).strip().splitlines()[-1]}") from None
    if img is None or img.size == 0:
        raise ImageFormatError("decode", f"{what}: corrupt image data ({len(buf)} bytes do not decode)")
    return img


def _imencode(ext: str, img: np.ndarray, params: list[int]) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, np.ascontiguousarray(img), params)
    if not ok:
        raise ImageFormatError("encoding", f"cv2.imencode({ext}) failed on a {img.shape} {img.dtype} image")
    return buf.tobytes()


# ---------------------------------------------------------------- compressed (RGB)
def decode_rgb(fmt: str, data) -> np.ndarray:
    """Decode a ``compressed`` transport payload (JPEG or PNG) as compressed_subscriber.cpp does.

    Args:
        fmt: the message's ``format`` (``"rgb8; jpeg compressed bgr8"``, ``"bgr8; png compressed bgr8"``,
            ``"mono8; jpeg compressed mono8"``, or an older ``"jpeg"``/``"png"``).
        data: the message's ``data`` (bytes, ``array.array``, numpy array).

    Returns:
        ``(H, W, 3) uint8`` RGB.

    Raises:
        ImageFormatError: ``format`` (compressedDepth, tiff or an unknown method), ``encoding`` (not one
            of the 8-bit colour encodings), ``decode`` (truncated or corrupt image).
    """
    encoding, tail = _split(fmt)
    if "compressedDepth" in fmt:
        raise ImageFormatError("format", f"format '{fmt}' is a compressedDepth payload: the RGB input takes "
                                         "'compressed' (jpeg/png)")
    words = tail.replace(";", " ").split()
    method = words[0].lower() if words else ""
    if method == "jpg":
        method = "jpeg"
    buf = _bytes(data)
    if method == "" and encoding is None:  # no format at all: tell by the magic bytes
        method = "png" if buf.startswith(PNG_SIGNATURE) else "jpeg"
    if method not in RGB_FORMATS:
        raise ImageFormatError("format", f"unsupported compressed format '{fmt}' (expected "
                                         "'<encoding>; jpeg|png compressed ...', e.g. 'rgb8; jpeg compressed bgr8')")
    if encoding is not None and encoding not in COLOR_ENCODINGS:
        raise ImageFormatError("encoding", f"compressed image of encoding '{encoding}' (expected one of "
                                           f"{sorted(COLOR_ENCODINGS)})")
    what = f"'{fmt}'"
    (_check_jpeg if method == "jpeg" else _check_png)(buf, what)
    img = _imdecode(buf, what)
    if img.dtype != np.uint8:
        raise ImageFormatError("encoding", f"{what}: decoded a {img.dtype} image; RGB input must be 8-bit")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] not in (3, 4):
        raise ImageFormatError("decode", f"{what}: decoded {img.shape[2]} channels (expected 1, 3 or 4)")
    # cv2 returns the channels in the order they were stored: BGR when the publisher converted to
    # bgr ("compressed bgr8", and every format without ';'), else as the publisher had them (RGB)
    bgr = encoding is None or "compressed bgr" in tail
    return np.ascontiguousarray(img[:, :, 2::-1] if bgr else img[:, :, :3])


def encode_rgb(rgb: np.ndarray, method: str = "jpeg", jpeg_quality: int = 95, png_level: int = 3) -> tuple[str, bytes]:
    """Encode ``(H, W, 3) uint8`` RGB as compressed_publisher.cpp does an ``rgb8`` Image.

    Args:
        rgb: the image.
        method: ``jpeg`` or ``png`` (the publisher's ``format`` parameter).
        jpeg_quality, png_level: the publisher's parameters (its defaults).

    Returns:
        ``(format, data)``: ``"rgb8; jpeg compressed bgr8"`` (or png) and the file bytes.
    """
    import cv2

    if method not in RGB_FORMATS:
        raise ValueError(f"method must be one of {RGB_FORMATS}, got '{method}'")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageFormatError("encoding", f"encode_rgb takes (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    bgr = rgb[:, :, ::-1]
    if method == "jpeg":
        data = _imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        data = _imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    return f"rgb8; {method} compressed bgr8", data


# ---------------------------------------------------------------- compressedDepth
def _depth_format(fmt: str) -> str:
    """The image encoding of a compressedDepth ``format``; raises for rvl or anything else (codec.cpp's parse)."""
    encoding, tail = _split(fmt)
    if encoding is None:
        encoding = fmt.strip()  # "older version ... supports only png"
    elif "compressedDepth png" in tail:
        pass
    elif "compressedDepth rvl" in tail:
        raise ImageFormatError("format", f"format '{fmt}': the rvl codec is not supported; publish with "
                                         "the compressedDepth plugin's format png (its default)")
    elif not ("compressedDepth" in tail and "compressedDepth " not in tail):
        raise ImageFormatError("format", f"unsupported compressedDepth format '{fmt}' (expected "
                                         "'16UC1; compressedDepth png' or '32FC1; compressedDepth png')")
    if encoding not in DEPTH_ENCODINGS:
        raise ImageFormatError("encoding", f"compressedDepth image of encoding '{encoding}' (expected one of "
                                           f"{sorted(DEPTH_ENCODINGS)})")
    return encoding


def decode_depth_raw(fmt: str, data) -> tuple[np.ndarray, str]:
    """Decode a ``compressedDepth`` payload into the Image the C++ subscriber would hand on.

    Returns:
        ``(array, encoding)``: ``(H, W) uint16`` for ``16UC1``/``mono16`` (millimetres, 0 invalid), or
        ``(H, W) float32`` metres for ``32FC1`` (NaN where ``q == 0``).

    Raises:
        ImageFormatError: see :func:`decode_depth`.
    """
    encoding = _depth_format(fmt)
    buf = _bytes(data)
    what = f"'{fmt}'"
    n = CONFIG_HEADER.size
    if len(buf) <= n:
        raise ImageFormatError("decode", f"{what}: {len(buf)} bytes, not more than the {n}-byte ConfigHeader")
    if buf.startswith(PNG_SIGNATURE):
        raise ImageFormatError("decode", f"{what}: the data starts with a PNG signature, not the {n}-byte "
                                         "ConfigHeader compressed_depth_image_transport writes first")
    kind, a, b = CONFIG_HEADER.unpack_from(buf)
    png = buf[n:]
    _check_png(png, what)
    q = _imdecode(png, what)
    if q.dtype != np.uint16 or q.ndim != 2:
        raise ImageFormatError("decode", f"{what}: the PNG holds {q.dtype} x{1 if q.ndim == 2 else q.shape[2]}, "
                                         "expected 16-bit single-channel")
    if encoding != "32FC1":
        return q, encoding
    if kind != INV_DEPTH or not (np.isfinite(a) and np.isfinite(b)) or a == 0:
        raise ImageFormatError("decode", f"{what}: ConfigHeader (format {kind}, depthParam {a:g}, {b:g}) is not "
                                         "an INV_DEPTH quantisation")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.float32(a) / (q.astype(np.float32) - np.float32(b))
    z[q == 0] = np.nan
    return z, encoding


def decode_depth(fmt: str, data) -> np.ndarray:
    """Decode a ``compressedDepth`` payload (16UC1/mono16 or 32FC1, png) to metres.

    Args:
        fmt: the message's ``format``, e.g. ``"32FC1; compressedDepth png"``.
        data: the message's ``data``: ConfigHeader + PNG.

    Returns:
        ``(H, W) float32`` metres, NaN invalid (as :func:`~depth_refine_ros.data.messages.depth_msg_to_metres`).

    Raises:
        ImageFormatError: ``format`` (rvl or an unknown format string), ``encoding`` (not a depth
            encoding), ``decode`` (no/short ConfigHeader, truncated or corrupt PNG, wrong bit depth,
            a 32FC1 header that is not an INV_DEPTH quantisation).
    """
    arr, encoding = decode_depth_raw(fmt, data)
    return depth_to_metres(arr, encoding)


def quantisation(depth_max: float = DEPTH_MAX_M, depth_quantization: float = DEPTH_QUANTIZATION
                 ) -> tuple[np.float32, np.float32]:
    """codec.cpp's ``(depthQuantA, depthQuantB)`` in float32: ``a = z0 (z0 + 1)``, ``b = 1 - a / depth_max``."""
    z0, zmax = np.float32(depth_quantization), np.float32(depth_max)
    a = np.float32(z0 * (z0 + np.float32(1.0)))
    return a, np.float32(np.float32(1.0) - a / zmax)


def encode_depth(depth: np.ndarray, encoding: str = "16UC1", depth_max: float = DEPTH_MAX_M,
                 depth_quantization: float = DEPTH_QUANTIZATION, png_level: int = 3) -> tuple[str, bytes]:
    """Encode a depth image as compressed_depth_image_transport does (codec.cpp, format png).

    Args:
        depth: ``(H, W) uint16`` millimetres for ``16UC1``/``mono16`` (values above ``depth_max`` become
            0, as in codec.cpp), or ``(H, W) float32`` metres for ``32FC1`` (NaN/0/Inf invalid).
        encoding: ``16UC1``, ``mono16`` or ``32FC1``.
        depth_max, depth_quantization, png_level: the publisher's parameters (its defaults).

    Returns:
        ``(format, data)``: ``"<encoding>; compressedDepth png"`` and ConfigHeader + PNG.
    """
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    if encoding == "32FC1":
        if depth.dtype != np.float32 or depth.ndim != 2:
            raise ImageFormatError("encoding", f"32FC1 takes (H, W) float32 metres, got {depth.shape} {depth.dtype}")
        a, b = quantisation(depth_max, depth_quantization)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            qf = a / depth + b  # float32, as the C++ loop
            ok = (depth < np.float32(depth_max)) & (depth > 0) & np.isfinite(qf) & (qf >= 0) & (qf < 65536)
        q = np.zeros(depth.shape, np.uint16)
        q[ok] = np.trunc(qf[ok]).astype(np.uint16)
        header = CONFIG_HEADER.pack(INV_DEPTH, float(a), float(b))
    elif encoding in ("16UC1", "mono16"):
        if depth.dtype != np.uint16 or depth.ndim != 2:
            raise ImageFormatError("encoding", f"{encoding} takes (H, W) uint16 mm, got {depth.shape} {depth.dtype}")
        q = depth.copy()
        q[q > np.uint16(min(int(depth_max * 1000.0), 65535))] = 0  # codec.cpp's max-depth filter
        header = CONFIG_HEADER.pack(INV_DEPTH, 0.0, 0.0)  # C++ leaves depthParam uninitialised here
    else:
        raise ImageFormatError("encoding", f"compressedDepth encodes 16UC1, mono16 or 32FC1, not '{encoding}'")
    return f"{encoding}; compressedDepth png", header + _imencode(".png", q, params)
