"""sr_node parameters: declared once (this dataclass), with descriptions, read into a frozen object.

The dataclass is the single source: :func:`declare_and_read` declares every field on the node
with its description and constraints, and :func:`render_yaml` writes ``config/sr.yaml`` (a test
checks the shipped file is exactly that rendering, so the YAML can never drift from the code).
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from rcl_interfaces.msg import ParameterDescriptor

from depth_refine_ros.core.sampling import SAMPLINGS
from depth_refine_ros.core.upsample import CLASSICAL_METHODS


def _p(default: Any, name: str, doc: str, choices: tuple[str, ...] = (), minimum: float | None = None,
       runtime: bool = False, any_type: bool = False) -> Any:
    """A parameter field: ROS name, description, allowed values, smallest value; ``runtime``: not
    read-only (the node applies changes, see its set-parameters callback); ``any_type``: declared with
    dynamic typing (e.g. a mode given by name or by number)."""
    return field(default=default, metadata={"ros": name, "doc": doc, "choices": choices, "minimum": minimum,
                                            "runtime": runtime, "any_type": any_type})


RUNTIME_NOTE = "Changeable at run time (ros2 param set)."


def _describe(f) -> str:
    """The description declared on the node and written into config/*.yaml."""
    desc = f.metadata["doc"]
    if f.metadata["choices"]:
        desc += " One of: " + ", ".join(f.metadata["choices"]) + "."
    if f.metadata.get("runtime"):
        desc += " " + RUNTIME_NOTE
    return desc


@dataclass(frozen=True)
class CommonParams:
    """Parameters both nodes declare (ROS names in the ``ros`` metadata)."""

    node_name: ClassVar[str] = ""

    backend: str = _p("auto", "backend",
                      "Inference backend: classical (no network); for models: auto (the fastest present: "
                      "tensorrt on a CUDA GPU, else openvino, else onnxruntime; logs what it picked and why), "
                      "onnxruntime (CPU), openvino (CPU, compiled model cached next to the model), torch, "
                      "or tensorrt (GPU, engine cached next to the model).",
                      ("classical", "auto", "onnxruntime", "openvino", "torch", "tensorrt"))
    backend_threads: int = _p(0, "backend_threads",
                              "Inference threads of the onnxruntime and openvino backends. 0 = auto: "
                              "on 4 or fewer CPUs all but one (the other left to DDS and the node, for "
                              "tail latency), else the library's default (one per physical core).")
    model: str = _p("sr_faster", "model",
                    "SR model for the network backends: an installed name (depth-refine models) or a "
                    "model directory (not read with backend classical).")
    device: str = _p("auto", "device", "Device of the network backends: auto (the backend's own: cuda for "
                     "tensorrt, else cpu), cpu or cuda.", ("auto", "cpu", "cuda"))
    precision: str = _p("auto", "precision",
                        "Network precision: auto (the backend's own: fp16 for tensorrt; for openvino bf16 where "
                        "the CPU runs it natively and the model's depth standardisation can be kept in f32, "
                        "else fp32; fp32 otherwise), fp32, fp16 (torch on cuda, tensorrt) or bf16 (openvino "
                        "on CPUs with native bf16: docs/models.md).", ("auto", "fp32", "fp16", "bf16"))
    cloud_type: str = _p("xyzrgb", "output.cloud_type",
                         "Organized point cloud on the node's .../points topic: xyz, xyzrgb, or none (no cloud).",
                         ("xyz", "xyzrgb", "none"))
    cloud_layout: str = _p("packed", "output.cloud_layout",
                           "Memory layout of the cloud's points: pcl (x, y, z, pad; xyzrgb: 32 bytes with rgb at "
                           "16, as pcl::PointXYZRGB) or packed (no padding: 12 bytes; xyzrgb 16 with rgb at 12: "
                           "half the bytes to build and publish). Consumers reading fields by name (rviz2, "
                           "PointCloud2Iterator, pcl fromROSMsg) read both.", ("pcl", "packed"))
    cloud_stride: int = _p(1, "output.cloud_stride",
                           "Cloud of every n-th row and column only (still organized, ceil(H/n) x ceil(W/n)); "
                           "its points are exactly the full cloud's at those pixels. 1 = every pixel.", minimum=1)
    cloud_rate_hz: float = _p(0.0, "output.cloud_rate_hz",
                              "Publish the cloud at most this often (Hz, by the frames' stamps) while depth goes "
                              "out every frame; 0 = with every frame.", minimum=0.0)
    min_depth_m: float = _p(0.05, "depth.min_m", "Depth at or below this (metres) is invalid (NaN).")
    max_depth_m: float = _p(20.0, "depth.max_m", "Depth above this (metres) is invalid (NaN).")
    refine_mode: str = _p("none", "refine.mode",
                          "SDDR refinement of the output: none, one_stage, or two_stage (about 30x "
                          "the refiner cost, sharper).", ("none", "one_stage", "two_stage"))
    refine_model: str = _p("sddr_small", "refine.model",
                           "SDDR refiner model (read only when refine.mode != none).")
    input_reliability: str = _p("reliable", "qos.input_reliability",
                                "Input reliability: reliable (REP 2003 drivers) or best_effort.",
                                ("reliable", "best_effort"))
    input_depth: int = _p(5, "qos.input_depth", "Input queue depth (KEEP_LAST).")
    output_reliability: str = _p("reliable", "qos.output_reliability",
                                 "Output reliability: reliable or best_effort.",
                                 ("reliable", "best_effort"))
    output_depth: int = _p(2, "qos.output_depth", "Output queue depth (KEEP_LAST).")
    silent_input_warn_s: float = _p(
        5.0, "qos.silent_input_warn_s",
        "Warn when an input has a matched publisher but no message for this long (s).")
    diagnostics_period_s: float = _p(1.0, "diagnostics.period_s", "Period (s) of /diagnostics.")
    log_throttle_s: float = _p(5.0, "log_throttle_s",
                               "Each kind of rejected-input log line repeats at most this often (s).")
    rgb_transport: str = _p(
        "raw", "rgb_transport",
        "image_transport transport of rgb/image: raw (sensor_msgs/Image on rgb/image) or compressed "
        "(sensor_msgs/CompressedImage, jpeg or png, on the remapped rgb/image + /compressed).",
        ("raw", "compressed"))
    depth_transport: str = _p(
        "raw", "depth_transport",
        "image_transport transport of depth_lr/image: raw (sensor_msgs/Image) or compressedDepth "
        "(sensor_msgs/CompressedImage, 16UC1 or 32FC1 png, on the remapped depth_lr/image + /compressedDepth).",
        ("raw", "compressedDepth"))


@dataclass(frozen=True)
class SrParams(CommonParams):
    """All sr_node parameters."""

    node_name: ClassVar[str] = "sr_node"

    depth_sampling: str = _p(
        "centred", "depth.sampling",
        "Where depth_lr's pixels sample the scene: centred (each stands for the block of output pixels "
        "it covers: sensors, binning, averaging, antialiased resizes) or decimated (each is its block's "
        "top-left pixel: a driver keeping every n-th pixel, image_proc crop_decimate, a nearest-neighbour "
        "resize; re-sampled at the block centres first, else the output sits (n-1)/2 px off the RGB).",
        SAMPLINGS)
    keep_holes: bool = _p(True, "output.keep_holes",
                          "NaN where the low-res input had no depth (as the classical upsamplers); false "
                          "publishes the network's fill-in there.")
    flip_ensemble: bool = _p(False, "model.flip_ensemble",
                             "Also run the network on the mirrored frame and average the two outputs "
                             "(self-ensemble): about 2 % lower RMSE, twice the inference time.")
    rgb_timeout_s: float = _p(
        1.0, "depth_only.rgb_timeout_s",
        "When depth keeps arriving without rgb/image for this long (s) the node refines depth alone "
        "(depth-only model) and switches back when RGB returns; 0 disables.")
    depth_only_model: str = _p(
        "auto", "depth_only.model",
        "What refines depth while RGB is missing: auto (the shipped depth_sr_distilled on the node's backend; "
        "bicubic with backend classical; the model itself when it needs no RGB), bicubic, or a depth-only "
        "model name or directory.")
    depth_only_scale: int = _p(
        4, "depth_only.scale",
        "Output size = depth size x this while RGB is missing, when no RGB size or rgb/camera_info is known.")
    refine_mono_model: str = _p("mono_small", "refine.mono_model",
                                "Monocular model giving the refiner its high-resolution inference (read only "
                                "when refine.mode != none).")
    classical_method: str = _p(
        "bicubic", "classical.method",
        "Upsampler of the classical backend: bicubic (no guidance), joint_bilateral, "
        "guided_filter, fgs (fast global smoother).",
        CLASSICAL_METHODS)
    use_rgb_camera_info: bool = _p(
        True, "use_rgb_camera_info",
        "Take output intrinsics from rgb/camera_info when it arrives (exact for the output size); "
        "otherwise scale depth_lr/camera_info.")
    sync_mode: str = _p("approximate", "sync.mode",
                        "Pairing of rgb/image and depth_lr/image: approximate "
                        "(message_filters ApproximateTime) or exact (identical stamps).",
                        ("approximate", "exact"))
    sync_queue_size: int = _p(10, "sync.queue_size", "Messages kept per input while pairing.")
    sync_max_interval_s: float = _p(0.05, "sync.max_interval_s",
                                    "Largest stamp difference (s) of a paired rgb/depth set.")
    sync_lower_bound_s: float = _p(
        -1.0, "sync.inter_message_lower_bound_s",
        "Smallest stamp spacing (s) of one input, lets a pair go out without waiting for the next "
        "frame; negative = estimate from the stream, 0 = always wait.")
    registration_mode: str = _p(
        "none", "registration.mode",
        "Depth-to-RGB offset correction: none (trust the driver's registration), fixed "
        "(registration.shift_dy_px/shift_dx_px), or auto (tracked from where depth edges line up "
        "with RGB edges; for sensors whose aligned depth is a few pixels off).", ("none", "fixed", "auto"))
    registration_shift_dy_px: int = _p(0, "registration.shift_dy_px",
                                       "fixed: rows (output pixels) to move the depth down.")
    registration_shift_dx_px: int = _p(0, "registration.shift_dx_px",
                                       "fixed: columns (output pixels) to move the depth right.")
    registration_every_n: int = _p(
        5, "registration.every_n",
        "auto: estimate on every n-th frame (~25 ms each at 512x384, on a background thread).")
    registration_window: int = _p(15, "registration.window", "auto: median of this many estimates.")
    registration_max_shift_px: int = _p(8, "registration.max_shift_px",
                                        "auto: search radius (output pixels).")
    registration_min_shift_px: int = _p(
        2, "registration.min_shift_px",
        "auto: a tracked shift smaller than this is treated as none (one estimate is good to 1-2 px).")
    jump_back_reset_s: float = _p(
        1.0, "sync.jump_back_reset_s",
        "A stamp this far (s) behind the last processed one resets synchronisation (bag loop, "
        "sim time reset) instead of being rejected as out of order.")
    temporal_enable: bool = _p(
        False, "temporal.enable",
        "Temporal filter after refinement (librealsense's: smoothing in disparity, motion-safe, "
        "hole filling by persistency).", runtime=True)
    temporal_alpha: float = _p(0.4, "temporal.alpha",
                               "Temporal filter: weight of the current frame, 0..1 (1 = no smoothing).",
                               runtime=True)
    temporal_delta: int = _p(
        20, "temporal.delta",
        "Temporal filter: a disparity change of at least this (1..100; librealsense's units, 1/32 px of a "
        "D435 at 848x480: 20 ~ 2.95 cm x depth_m^2) is motion and passes unsmoothed.", runtime=True)
    temporal_persistency: str = _p(
        "valid_in_2_of_last_4", "temporal.persistency",
        "Temporal filter hole filling, a name or its number: 0 disabled, 1 valid_in_8_of_8, "
        "2 valid_in_2_of_last_3, 3 valid_in_2_of_last_4, 4 valid_in_2_of_8, 5 valid_in_1_of_last_2, "
        "6 valid_in_1_of_last_5, 7 valid_in_1_of_8, 8 always_on.", runtime=True, any_type=True)


@dataclass(frozen=True)
class MonoParams(CommonParams):
    """All mono_node parameters."""

    node_name: ClassVar[str] = "mono_node"

    backend: str = _p("onnxruntime", "backend",
                      "Inference backend: onnxruntime (CPU default), auto (tensorrt on a CUDA GPU, else "
                      "openvino, else onnxruntime; logs what it picked and why), openvino, torch or tensorrt.",
                      ("onnxruntime", "auto", "openvino", "torch", "tensorrt"))
    model: str = _p("", "model", "Monocular model: an installed name (depth-refine models) or a model directory.")
    metric_mode: str = _p(
        "relative", "metric.mode",
        "relative: publish the network's relative depth (arbitrary scale); fit: robust per-frame "
        "scale/shift fit to depth_lr/image (low-res or sparse depth, registered to rgb) -> metres.",
        ("relative", "fit"))
    metric_max_interval_s: float = _p(0.1, "metric.max_interval_s",
                                      "Largest stamp difference (s) between rgb and the depth used for the fit.")
    metric_min_points: int = _p(50, "metric.min_points", "Fewest valid depth pixels for a fit.")


def _ros_name(f) -> str:
    return f.metadata["ros"]


def declare_and_read(node, cls: type = None):
    """Declare every field of ``cls`` (default :class:`SrParams`) on ``node`` and read the values.

    Parameters are read-only unless declared ``runtime`` (the node then validates and applies
    changes in its own set-parameters callback).

    Raises:
        ValueError: a value is not one of the allowed choices, or below its minimum (message names
            the parameter).
    """
    declare(node, cls)
    return read(node, cls)


def declare(node, cls: type = None) -> None:
    """Declare every field of ``cls`` on ``node`` without checking the values (:func:`read` does:
    the managed node declares at start and validates at configure).

    Floating-point parameters are declared with dynamic typing: rcl reads ``-p depth.max_m:=4`` and a
    params file's ``max_m: 4`` as integers, and rclpy would refuse an integer for a double at
    declaration, so the node would not start. :func:`coerce` turns a number into a float and refuses
    anything else (a string, a bool) with the parameter's name.
    """
    for f in fields(cls or SrParams):
        meta = f.metadata
        node.declare_parameter(_ros_name(f), f.default,
                               ParameterDescriptor(description=_describe(f), read_only=not meta.get("runtime"),
                                                   dynamic_typing=bool(meta.get("any_type"))
                                                   or isinstance(f.default, float)))


def coerce(cls: type, ros_name: str, value: Any) -> Any:
    """``value`` of parameter ``ros_name`` as its field's type wants it: an int for a float
    parameter becomes a float; other values pass unchanged.

    Raises:
        ValueError: a float parameter given something that is not a number (bool included).
    """
    return _coerce(next(f for f in fields(cls) if _ros_name(f) == ros_name), value)


def _coerce(f, value: Any) -> Any:
    if not isinstance(f.default, float):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {_ros_name(f)} = {value!r} is not a number")
    return float(value)


def read(node, cls: type = None):
    """The declared values of ``cls``'s fields on ``node``, checked (raises ValueError as
    :func:`declare_and_read`)."""
    cls = cls or SrParams
    values = {}
    for f in fields(cls):
        meta = f.metadata
        v = _coerce(f, node.get_parameter(_ros_name(f)).value)
        if meta["choices"] and v not in meta["choices"]:
            raise ValueError(f"parameter {_ros_name(f)} = '{v}' is not one of "
                             f"{', '.join(meta['choices'])}")
        if meta.get("minimum") is not None and v < meta["minimum"]:
            raise ValueError(f"parameter {_ros_name(f)} = {v} is below its minimum {meta['minimum']}")
        values[f.name] = v
    return cls(**values)


def _yaml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v == "":
        return '""'  # an empty value must stay a string parameter, not null
    return str(v)


def render_yaml(cls: type = None) -> str:
    """The ``config/<node>.yaml`` text: every parameter of ``cls``, its default and description.

    Keyed ``/**/<node>:`` (the node by its name, in any namespace): a bare ``<node>:`` means
    ``/<node>`` to rcl, so the file would silently not apply to a node started with ``-r __ns:=...``.
    """
    cls = cls or SrParams
    node = cls.node_name
    short = node.replace("_node", "")
    lines = [
        f"# {node} parameters: every parameter the node declares, with its default.",
        f"# Generated from depth_refine_ros/ros/params.py ({cls.__name__}); a test keeps them identical.",
        f"# Use: {node} --ros-args --params-file config/{short}.yaml (keyed /**/{node}: any namespace)",
        f"/**/{node}:",
        "  ros__parameters:",
    ]
    tree: dict[str, list] = {}
    for f in fields(cls):
        assert f.default is not MISSING
        group, _, leaf = _ros_name(f).rpartition(".")
        tree.setdefault(group, []).append((leaf, f))
    for group, items in tree.items():
        indent = "    " if not group else "      "
        if group:
            lines.append(f"    {group}:")
        for leaf, f in items:
            lines.append(f"{indent}# {_describe(f)}")
            lines.append(f"{indent}{leaf}: {_yaml_value(f.default)}")
    return "\n".join(lines) + "\n"
