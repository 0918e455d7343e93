"""image_transport's compressed transports: ``compressed`` RGB (jpeg/png) and ``compressedDepth``
(ConfigHeader + PNG, 16UC1 and 32FC1), decoded as the C++ plugins decode them, bad payloads
rejected, bags with compressed topics, and sr_node subscribed through them over DDS."""
import struct
import types

import cv2
import numpy as np
import pytest
from conftest import require_data

from depth_refine_ros.core.encodings import ImageFormatError, depth_to_metres
from depth_refine_ros.data import compressed as cz
from depth_refine_ros.data.messages import depth_msg_to_metres, rgb_msg_to_array

unit = pytest.mark.unit


def smooth_rgb(h=48, w=64, seed=0):
    """A camera-like image (smooth gradients + a few edges): what JPEG is made for."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 200 + 20, y / h * 180 + 30, (x + y) / (w + h) * 150 + 50], -1)
    img[h // 3:h // 2, w // 4:w // 2] = rng.integers(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def cpp_inverse_depth(z: np.ndarray, depth_max=10.0, depth_quantization=100.0):
    """codec.cpp's 32FC1 loop, step by step in float32: a, b, q = (unsigned short)(a / z + b)."""
    z0, zmax = np.float32(depth_quantization), np.float32(depth_max)
    a = z0 * (z0 + np.float32(1.0))
    b = np.float32(1.0) - a / zmax
    q = np.zeros(z.shape, np.uint16)
    for idx, v in np.ndenumerate(z):
        if v < zmax:  # false for NaN, as in C++
            q[idx] = int(np.float32(a / v + b))  # the float -> unsigned short cast truncates
    return a, b, q


# ---------------------------------------------------------------- round trips
@unit
def test_jpeg_rgb_round_trip_within_tolerance():
    rgb = smooth_rgb()
    fmt, data = cz.encode_rgb(rgb, "jpeg")
    assert fmt == "rgb8; jpeg compressed bgr8" and data[:2] == b"\xff\xd8"
    out = cz.decode_rgb(fmt, data)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    err = np.abs(out.astype(int) - rgb)
    assert err.mean() < 2.0 and np.median(err) <= 1
    # channel order kept: the red gradient runs along x, the green one along y
    assert out[5, -5, 0] > out[5, 5, 0] + 100 and out[-5, 5, 1] > out[5, 5, 1] + 100


@unit
def test_png_rgb_round_trip_is_exact_and_every_channel_order_decodes():
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), np.uint8)
    fmt, data = cz.encode_rgb(rgb, "png")
    assert fmt == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(cz.decode_rgb(fmt, data), rgb)
    np.testing.assert_array_equal(cz.decode_rgb("bgr8; png compressed bgr8", data), rgb)
    np.testing.assert_array_equal(cz.decode_rgb("png", data), rgb)  # older publishers: BGR, no ';'
    np.testing.assert_array_equal(cz.decode_rgb("", data), rgb)  # no format at all: magic bytes
    # a publisher that stored RGB as is ("compressed rgb8"): the decoded channels are RGB already
    _, as_is = cv2.imencode(".png", rgb)
    np.testing.assert_array_equal(cz.decode_rgb("rgb8; png compressed rgb8", as_is.tobytes()), rgb)
    # mono8 and png with alpha
    grey = rgb[..., 0].copy()
    _, g = cv2.imencode(".png", grey)
    np.testing.assert_array_equal(cz.decode_rgb("mono8; png compressed ", g.tobytes()), np.stack([grey] * 3, -1))
    _, bgra = cv2.imencode(".png", np.dstack([rgb[..., ::-1], np.full(grey.shape, 7, np.uint8)]))
    np.testing.assert_array_equal(cz.decode_rgb("bgra8; png compressed bgr8", bgra.tobytes()), rgb)


@unit
def test_compressed_depth_16uc1_round_trip_is_exact():
    mm = np.random.default_rng(2).integers(0, 10_001, (24, 32)).astype(np.uint16)
    mm[:3, :3] = 0
    fmt, data = cz.encode_depth(mm, "16UC1")
    assert fmt == "16UC1; compressedDepth png" and len(data) > 12
    assert struct.unpack("<i", data[:4]) == (cz.INV_DEPTH,) and data[12:20] == cz.PNG_SIGNATURE
    raw, enc = cz.decode_depth_raw(fmt, data)
    assert enc == "16UC1" and raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, mm)
    m = cz.decode_depth(fmt, data)
    np.testing.assert_array_equal(m, depth_to_metres(mm, "16UC1"))  # what the raw 16UC1 decoder returns
    # codec.cpp's max-depth filter: beyond depth_max (10 m) becomes 0 = invalid
    far = mm.copy()
    far[5, 5] = 12_000
    assert cz.decode_depth_raw(*cz.encode_depth(far))[0][5, 5] == 0


@unit
def test_compressed_depth_32fc1_within_quantisation_and_invalid_stays_invalid():
    rng = np.random.default_rng(3)
    z = rng.uniform(0.2, 9.9, (30, 40)).astype(np.float32)
    bad = {(0, 0): np.nan, (0, 1): 0.0, (0, 2): np.inf, (0, 3): 10.0, (0, 4): 25.0, (0, 5): -1.0}
    for idx, v in bad.items():
        z[idx] = v
    fmt, data = cz.encode_depth(z, "32FC1")
    assert fmt == "32FC1; compressedDepth png"
    out = cz.decode_depth(fmt, data)
    assert out.dtype == np.float32 and out.shape == z.shape
    for idx in bad:
        assert np.isnan(out[idx]), idx
    ok = np.isfinite(z) & (z > 0) & (z < 10)
    assert np.isfinite(out[ok]).all()
    a, _ = cz.quantisation()
    step = z[ok].astype(np.float64) ** 2 / float(a)  # one q step in metres at z
    err = out[ok].astype(np.float64) - z[ok]
    assert (err >= -1e-6).all() and (err <= step * 1.01 + 1e-6).all()  # truncation: decoded >= true
    assert np.abs(err).max() < 0.0101  # <= 9.9 mm at 10 m with the defaults


# ---------------------------------------------------------------- bytes exactly as the C++ codec writes them
@unit
def test_decodes_bytes_made_exactly_as_codec_cpp_makes_them():
    z = np.array([[0.5, 1.0, 2.0, np.nan], [3.3, 9.99, 12.0, 0.75]], np.float32)
    a, b, q = cpp_inverse_depth(z)
    # compressed->data = memcpy(ConfigHeader{INV_DEPTH, {a, b}}) + cv::imencode(".png", invDepthImg)
    _, png = cv2.imencode(".png", q, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    data = struct.pack("<iff", 0, a, b) + png.tobytes()
    out = cz.decode_depth("32FC1; compressedDepth png", data)
    with np.errstate(divide="ignore"):
        want = np.where(q > 0, a / (q.astype(np.float32) - b), np.nan).astype(np.float32)
    np.testing.assert_array_equal(out, want)
    assert np.isnan(out[0, 3]) and np.isnan(out[1, 2])  # NaN and beyond depth_max
    np.testing.assert_allclose(out[np.isfinite(out)], z[np.isfinite(out)], rtol=2e-3)
    # our encoder writes the same header and the same quantised image
    fmt, ours = cz.encode_depth(z, "32FC1")
    assert ours[:12] == data[:12]
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(ours[12:], np.uint8), cv2.IMREAD_UNCHANGED), q)
    # 16UC1: header too (depthParam uninitialised: any bytes), then the raw PNG; Humble's format
    # string has no " png" and the oldest none at all
    mm = np.array([[0, 1000, 65535 // 7], [4321, 9999, 1]], np.uint16)
    _, png16 = cv2.imencode(".png", mm)
    data16 = struct.pack("<i", 0) + b"\xde\xad\xbe\xef\x7f\xff\xff\xff" + png16.tobytes()
    for fmt in ("16UC1; compressedDepth png", "16UC1; compressedDepth", "16UC1", "mono16; compressedDepth png"):
        np.testing.assert_array_equal(cz.decode_depth_raw(fmt, data16)[0], mm)


@unit
def test_message_decoders_dispatch_on_compressed_messages():
    """The one decoder (data/messages) takes CompressedImage objects (rclpy, rosbags: duck-typed)."""
    rgb = smooth_rgb()
    mm = np.full((12, 16), 1500, np.uint16)
    header = types.SimpleNamespace(stamp=types.SimpleNamespace(sec=1, nanosec=2), frame_id="cam")
    m_rgb = types.SimpleNamespace(header=header, format=cz.encode_rgb(rgb, "png")[0],
                                  data=np.frombuffer(cz.encode_rgb(rgb, "png")[1], np.uint8))
    fmt, data = cz.encode_depth(mm)
    m_depth = types.SimpleNamespace(header=header, format=fmt, data=np.frombuffer(data, np.uint8))
    np.testing.assert_array_equal(rgb_msg_to_array(m_rgb), rgb)
    np.testing.assert_array_equal(depth_msg_to_metres(m_depth), depth_to_metres(mm, "16UC1"))


@unit
def test_rclpy_compressed_messages_round_trip():
    from depth_refine_ros.ros import conversions as conv

    hdr = conv.header_at(5.25, "cam")
    z = np.full((6, 8), 2.0, np.float32)
    z[0, 0] = np.nan
    m = conv.depth_to_compressed_msg(z, "32FC1", hdr)
    assert type(m).__name__ == "CompressedImage" and m.format == "32FC1; compressedDepth png"
    assert conv.stamp_ns(m.header) == 5_250_000_000 and m.header.frame_id == "cam"
    out = conv.depth_msg_to_metres(m)
    assert np.isnan(out[0, 0]) and np.allclose(out[1:], 2.0, atol=2 ** 2 / 10100)
    r = conv.rgb_to_compressed_msg(smooth_rgb(), hdr, "png")
    np.testing.assert_array_equal(conv.rgb_msg_to_array(r), smooth_rgb())


# ---------------------------------------------------------------- bad payloads
@unit
@pytest.mark.parametrize("case, reason, text", [
    ("jpeg_truncated", "decode", "truncated JPEG"),
    ("png_truncated", "decode", "truncated PNG"),
    ("jpeg_garbage", "decode", "corrupt image data"),
    ("not_an_image", "decode", "not a JPEG"),
    ("empty", "decode", "not a JPEG"),
    ("h264", "format", "unsupported compressed format"),
    ("depth_on_rgb", "format", "compressedDepth payload"),
    ("rgb16", "encoding", "encoding 'rgb16'"),
])
def test_bad_rgb_payloads_raise_a_clear_error(case, reason, text):
    fmt, jpg = cz.encode_rgb(smooth_rgb(), "jpeg")
    _, png = cz.encode_rgb(smooth_rgb(), "png")
    fmt_data = {
        "jpeg_truncated": (fmt, jpg[: len(jpg) - 100]),
        "png_truncated": ("rgb8; png compressed bgr8", png[:-30]),
        "jpeg_garbage": (fmt, jpg[:2] + bytes(40) + jpg[42:]),  # headers zeroed, SOI and EOI intact
        "not_an_image": (fmt, b"hello world, not a jpeg"),
        "empty": (fmt, b""),
        "h264": ("rgb8; h264 compressed", jpg),
        "depth_on_rgb": ("16UC1; compressedDepth png", jpg),
        "rgb16": ("rgb16; png compressed bgr16", png),
    }[case]
    with pytest.raises(ImageFormatError, match=text) as e:
        cz.decode_rgb(*fmt_data)
    assert e.value.reason == reason


@unit
@pytest.mark.parametrize("case, reason, text", [
    ("truncated_png", "decode", "truncated PNG"),
    ("header_only", "decode", "not more than the 12-byte ConfigHeader"),
    ("short", "decode", "not more than the 12-byte ConfigHeader"),
    ("no_header", "decode", "starts with a PNG signature"),
    ("corrupt_png", "decode", "do not decode"),
    ("8bit_png", "decode", "expected 16-bit single-channel"),
    ("bad_quantisation", "decode", "not an INV_DEPTH quantisation"),
    ("undefined_format", "decode", "not an INV_DEPTH quantisation"),
    ("rvl", "format", "rvl codec is not supported"),
    ("unknown", "format", "unsupported compressedDepth format"),
    ("jpeg_on_depth", "format", "unsupported compressedDepth format"),
    ("colour_encoding", "encoding", "encoding 'rgb8'"),
])
def test_bad_depth_payloads_raise_a_clear_error(case, reason, text):
    fmt16, d16 = cz.encode_depth(np.full((8, 8), 1234, np.uint16))
    fmt32, d32 = cz.encode_depth(np.full((8, 8), 2.0, np.float32), "32FC1")
    _, png8 = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    body = d32[12:]
    corrupt = d16[:40] + bytes(len(d16) - 52) + d16[-12:]
    fmt_data = {
        "truncated_png": (fmt16, d16[:-20]),
        "header_only": (fmt16, d16[:12]),
        "short": (fmt32, d32[:7]),
        "no_header": (fmt16, d16[12:]),
        "corrupt_png": (fmt16, corrupt),
        "8bit_png": (fmt16, d16[:12] + png8.tobytes()),
        "bad_quantisation": (fmt32, struct.pack("<iff", 0, 0.0, 1.0) + body),
        "undefined_format": (fmt32, struct.pack("<iff", -1, 10100.0, -1009.0) + body),
        "rvl": ("32FC1; compressedDepth rvl", d32),
        "unknown": ("32FC1; compressedDepth zstd", d32),
        "jpeg_on_depth": ("rgb8; jpeg compressed bgr8", d16),
        "colour_encoding": ("rgb8; compressedDepth png", d16),
    }[case]
    with pytest.raises(ImageFormatError, match=text) as e:
        cz.decode_depth(*fmt_data)
    assert e.value.reason == reason


# ---------------------------------------------------------------- bags
def synthetic_frames(n=3, h=48, w=64):
    from depth_refine_ros.data.datasets import Frame

    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        depth = (1.0 + 0.02 * x + 0.01 * y + 0.1 * i).astype(np.float32)
        depth[:4, :4] = np.nan
        out.append(Frame("synthetic", f"f{i}", "g", smooth_rgb(h, w, i), depth))
    return out


@unit
@pytest.mark.parametrize("rgb_format, depth_encoding", [("png", "16UC1"), ("jpeg", "32FC1")])
def test_bags_with_compressed_topics_read_pair_and_decode_like_raw(tmp_path, rgb_format, depth_encoding):
    from depth_refine_ros.data.bags import decode, read_bag
    from depth_refine_ros.eval.make_bag import build_bag

    frames = synthetic_frames()
    build_bag(frames, tmp_path / "raw", "mcap", scale=4, depth_encoding=depth_encoding)
    build_bag(frames, tmp_path / "c", "mcap", scale=4, depth_encoding=depth_encoding, transport="compressed",
              rgb_format=rgb_format)
    raw, c = read_bag(tmp_path / "raw"), read_bag(tmp_path / "c")
    assert raw.transports == {"depth": "raw", "rgb": "raw", "gt": "raw"}
    assert c.transports == {"depth": "compressedDepth", "rgb": "compressed", "gt": "raw"}
    assert set(c.counts) == {"rgb/image/compressed", "rgb/camera_info", "depth_lr/image/compressedDepth",
                             "depth_lr/camera_info", "depth_gt/image"}
    assert c.frames[0].rgb.__msgtype__ == "sensor_msgs/msg/CompressedImage"
    assert c.frames[0].depth.format == f"{depth_encoding}; compressedDepth png"
    assert [f.stamp_ns for f in c.frames] == [f.stamp_ns for f in raw.frames]
    (dr, bad_r), (dc, bad_c) = decode(raw), decode(c)
    assert bad_r == bad_c == {} and len(dr) == len(dc) == 3
    for a, b in zip(dr, dc, strict=True):
        np.testing.assert_array_equal(np.isnan(a.depth_lr), np.isnan(b.depth_lr))
        step = 1e-6 if depth_encoding == "16UC1" else np.nanmax(a.depth_lr) ** 2 / 10100 * 1.01
        np.testing.assert_allclose(b.depth_lr, a.depth_lr, atol=step, equal_nan=True)
        if rgb_format == "png":
            np.testing.assert_array_equal(b.rgb, a.rgb)
        else:
            assert np.abs(b.rgb.astype(int) - a.rgb).mean() < 2.0
        np.testing.assert_array_equal(b.gt, a.gt)
        assert b.intrinsics == a.intrinsics


@unit
def test_a_bad_compressed_frame_in_a_bag_is_counted_not_fatal(tmp_path):
    from depth_refine_ros.data.bags import BagWriter, decode, read_bag
    from depth_refine_ros.ros import conversions as conv

    with BagWriter(tmp_path / "b", "sqlite3") as bag:
        for i in range(3):
            hdr = conv.header_from_ns(1_000_000_000 + i * 100_000_000, "cam")
            rgb = conv.rgb_to_compressed_msg(smooth_rgb(), hdr, "jpeg")
            if i == 1:
                rgb.data = rgb.data[:-50]  # truncated in the recording
            depth = conv.depth_to_compressed_msg(np.full((12, 16), 1500, np.uint16), "16UC1", hdr)
            bag.write_cdr("rgb/image/compressed", *conv.to_cdr(rgb), conv.stamp_ns(hdr))
            bag.write_cdr("depth_lr/image/compressedDepth", *conv.to_cdr(depth), conv.stamp_ns(hdr))
    logs = []
    frames, bad = decode(read_bag(tmp_path / "b"), logs.append)
    assert len(frames) == 2 and bad == {"decode": 1}
    assert "truncated JPEG" in logs[0]


# ---------------------------------------------------------------- ROS: topic names as image_transport resolves them
@pytest.mark.ros
def test_transport_topics_follow_namespace_and_remapping_of_the_base_topic():
    import rclpy

    from depth_refine_ros.ros import transports

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("transport_probe", namespace="/robot", context=ctx,
                                 cli_args=["--ros-args", "-r", "rgb/image:=/camera/color/image_raw"])
        assert transports.subscription(node, "rgb/image", "raw")[1] == "rgb/image"
        mtype, topic = transports.subscription(node, "rgb/image", "compressed")
        assert mtype.__name__ == "CompressedImage" and topic == "/camera/color/image_raw/compressed"
        assert transports.transport_topic(node, "depth_lr/image", "compressedDepth") == \
            "/robot/depth_lr/image/compressedDepth"
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)


# ---------------------------------------------------------------- live: sr_node over DDS
H, W, S = 384, 512, 4


def infos(stamp):
    from depth_refine_ros.ros.rig import info_msg

    return (info_msg(H, W, 460.8, 460.8, 255.5, 191.5, stamp),
            info_msg(H // S, W // S, 115.2, 115.2, 63.5, 47.5, stamp))


@pytest.mark.ros
@pytest.mark.slow
def test_sr_node_refines_compressed_transports_like_raw_and_rejects_bad_payloads(live_node):
    from frames import load_rgbdd

    from depth_refine_ros.eval.methods import build_method
    from depth_refine_ros.ros.rig import compressed_image_msg

    frames = load_rgbdd(require_data("rgbdd"), 4, S)
    node, rig = live_node.start("rgb_transport:=compressed", "depth_transport:=compressedDepth",
                                "classical.method:=guided_filter", "log_throttle_s:=0.0",
                                "output.cloud_type:=none", name="rig_compressed", clouds=False,
                                rgb_transport="compressed", depth_transport="compressedDepth")
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0))
    t0 = 1_700_000_000.0
    sent = rig.play([(rgb, "rgb8", lr, "16UC1", t0 + i / 10, infos(t0 + i / 10)) for i, (rgb, lr, _) in
                     enumerate(frames)], 10.0, pace_s=5.0)
    assert rig.wait_for(lambda: set(sent) <= set(rig.images), 5), node.log()[-2000:]
    guided = build_method("guided_filter")
    for k, (i, _) in sent.items():
        rgb, lr, _ = frames[i]
        m = rig.images[k][1]
        d = np.frombuffer(m.data, np.float32).reshape(H, W)
        # exactly what the pipeline makes of the decoded payloads ...
        dec_rgb = cz.decode_rgb(*cz.encode_rgb(rgb, "jpeg"))
        exact, _ = guided.run(dec_rgb, lr.astype(np.float32) / 1000)
        np.testing.assert_allclose(d, exact, rtol=1e-5, atol=1e-6, equal_nan=True)
        # ... and, against the raw path, only JPEG's few grey levels apart
        raw, _ = guided.run(rgb, lr.astype(np.float32) / 1000)
        np.testing.assert_array_equal(np.isnan(d), np.isnan(raw))
        diff = np.abs(d - raw)[np.isfinite(raw)]
        assert np.median(diff) < 0.002 and np.percentile(diff, 99) < 0.03, (np.median(diff), diff.max())

    # 32FC1 compressedDepth: within its quantisation of the raw 16UC1 frame
    rgb, lr, _ = frames[1]
    t = t0 + 10
    k = rig.send(rgb, "rgb8", lr.astype(np.float32) / 1000, "32FC1", t, infos(t))
    assert rig.wait_for(lambda: k in rig.images, 5), node.log()[-2000:]
    d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
    raw, _ = guided.run(rgb, lr.astype(np.float32) / 1000)
    assert np.nanmedian(np.abs(d - raw)) < 0.005

    # bad payloads: rejected with a log line and a counter each; the next good frame goes through
    def bad(stamp, rgb_msg=None, depth_msg=None):
        rig.pub_rgb.publish(rgb_msg or compressed_image_msg(rgb, "rgb8", stamp))
        rig.pub_depth.publish(depth_msg or compressed_image_msg(lr, "16UC1", stamp))
        rig.spin(0.5)

    t += 1
    truncated = compressed_image_msg(lr, "16UC1", t)
    truncated.data = truncated.data[:-40]
    bad(t, depth_msg=truncated)
    t += 1
    wrong = compressed_image_msg(rgb, "rgb8", t)
    wrong.format = "rgb8; h264 compressed"
    bad(t, rgb_msg=wrong)
    t += 1
    raw_png = compressed_image_msg(lr, "16UC1", t)
    raw_png.data = raw_png.data[12:]  # a PNG without the ConfigHeader
    bad(t, depth_msg=raw_png)
    t += 1
    k = rig.send(rgb, "rgb8", lr, "16UC1", t, infos(t))
    assert rig.wait_for(lambda: k in rig.images, 5), "the next good frame was not processed"
    rig.wait_for(lambda: rig.diag_values().get("rejected depth_decode") == "2"
                 and rig.diag_values().get("rejected rgb_format") == "1", 3)
    diag = rig.diag_values()
    assert diag["rejected depth_decode"] == "2" and diag["rejected rgb_format"] == "1", diag
    assert diag["transports"] == "rgb compressed, depth compressedDepth"
    log = live_node.stop()
    assert "rejected frame" in log and "depth_decode: /depth_lr/image/compressedDepth: " in log, log[-2000:]
    assert "truncated PNG" in log and "the data starts with a PNG signature, not the 12-byte ConfigHeader" in log
    assert "rgb_format: /rgb/image/compressed: unsupported compressed format 'rgb8; h264 compressed'" in log


# ---------------------------------------------------------------- make-bag / eval-bag with compressed topics
@pytest.mark.ros
@pytest.mark.slow
def test_make_bag_and_eval_bag_round_trip_with_compressed_topics(tmp_path):
    import json

    from clikit import HELD_OUT_DAY, cli

    from depth_refine_ros.data.bags import Topics, read_bag

    root = require_data("rgbdd")
    code, log = cli("make-bag", "--root", root, "--groups", HELD_OUT_DAY, "--frames", 4, "--transport", "compressed",
                    "--rgb-format", "png", "--storage", "mcap", "--out", tmp_path / "bag")
    assert code == 0 and "compressed transports (rgb png)" in log, log
    c = read_bag(tmp_path / "bag")
    assert c.transports["rgb"] == "compressed" and c.transports["depth"] == "compressedDepth"
    code, log = cli("make-bag", "--root", root, "--groups", HELD_OUT_DAY, "--frames", 4, "--storage", "mcap",
                    "--out", tmp_path / "raw")
    assert code == 0, log
    scores = {}
    for name in ("raw", "bag"):
        code, log = cli("eval-bag", tmp_path / name, "--method", "guided_filter", "--compare", "--scales",
                        "--panels", 0, "--out", tmp_path / f"offline_{name}")
        assert code == 0, log
        scores[name] = json.loads((tmp_path / f"offline_{name}" / "metrics.json").read_text())
    # png RGB and 16UC1 compressedDepth are lossless: the same scores as the raw bag
    assert scores["bag"]["rows"][0]["rmse_cm"] == pytest.approx(scores["raw"]["rows"][0]["rmse_cm"], rel=1e-6)
    assert scores["bag"]["transports"] == "depth compressedDepth, rgb compressed, gt raw"
    # live: replayed as recorded into an sr_node subscribed to the same transports; --out-bag keeps them
    code, log = cli("eval-bag", tmp_path / "bag", "--live", "--paced", "--method", "guided_filter", "--compare",
                    "--scales", "--panels", 0, "--out-bag", tmp_path / "refined", "--out", tmp_path / "live",
                    timeout=400)
    assert code == 0, log
    live = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert live["live"]["sent"] == 4 and live["live"]["received"] == 4, live["live"]
    assert live["live"]["node_diagnostics"]["transports"] == "rgb compressed, depth compressedDepth"
    assert live["rows"][0]["rmse_cm"] == pytest.approx(scores["raw"]["rows"][0]["rmse_cm"], rel=1e-4)
    out = read_bag(tmp_path / "refined", Topics(depth="depth_refined/image"))
    assert out.transports == {"depth": "raw", "rgb": "compressed", "gt": "raw"} and len(out.frames) == 4
    assert out.counts["rgb/image/compressed"] == 4


@pytest.mark.ros
@pytest.mark.slow
def test_mono_node_takes_compressed_rgb_and_compressed_depth(live_node):
    from frames import load_rgbdd

    from depth_refine_ros.ros.rig import compressed_image_msg

    frames = load_rgbdd(require_data("rgbdd"), 3, S)
    node, rig = live_node.start(
        "model:=mono_small", "backend:=onnxruntime", "metric.mode:=fit", "rgb_transport:=compressed",
        "depth_transport:=compressedDepth", "output.cloud_type:=none", "log_throttle_s:=0.0",
        executable="mono_node", prefix="depth_mono", match_s=60, name="rig_mono_compressed", clouds=False,
        rgb_transport="compressed", depth_transport="compressedDepth")
    rig.prime(frames[0][0], frames[0][1], "16UC1", 1_600_000_000.0, infos(1_600_000_000.0), timeout=60)
    t0 = 1_700_000_000.0
    sent = rig.play([(rgb, "rgb8", lr, "16UC1", t0 + i / 5, infos(t0 + i / 5)) for i, (rgb, lr, _) in
                     enumerate(frames)], 5.0, pace_s=20.0)
    assert rig.wait_for(lambda: set(sent) <= set(rig.images), 20), node.log()[-2000:]
    for k, (i, _) in sent.items():
        d = np.frombuffer(rig.images[k][1].data, np.float32).reshape(H, W)
        gt = frames[i][2]
        assert abs(np.nanmedian(d) - np.nanmedian(gt[gt > 0])) < 0.2 * np.nanmedian(gt[gt > 0])
    t = t0 + 10
    broken = compressed_image_msg(frames[0][0], "rgb8", t)
    broken.data = broken.data[:-100]
    rig.pub_depth.publish(compressed_image_msg(frames[0][1], "16UC1", t))
    rig.pub_rgb.publish(broken)
    assert rig.wait_for(lambda: rig.diag_values("monocular depth").get("rejected rgb_decode") == "1", 5), \
        rig.diag_values("monocular depth")
    log = live_node.stop()
    assert "rgb_decode: /rgb/image/compressed: 'rgb8; jpeg compressed bgr8': truncated JPEG" in log, log[-2000:]
