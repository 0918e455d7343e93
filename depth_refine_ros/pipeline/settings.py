"""The runtime settings: every setting of the nodes, its default and its description, declared once.

Each node's settings are one frozen dataclass (:class:`SrParams`, :class:`MonoParams`) whose fields
carry their ROS parameter name, description, allowed values and smallest value (:func:`_p`). Everything
that runs a pipeline starts from them:

* ``ros/params.py`` declares every field as a ROS parameter and reads the values back into the
  dataclass; it also renders ``config/*.yaml`` and the parameter tables of ``docs/nodes.md``;
* :func:`depth_refine_ros.pipeline.factory.spec_from_settings` turns an :class:`SrParams` into the
  pipeline (for ``sr_node``, ``eval-dataset``, ``eval-bag``, ``bench`` and the demo alike);
* the eval and bench commands generate their setting options from these fields
  (``cli/setting_args.py``), and ``eval-bag --live`` and ``bench`` pass settings to a live node as
  ``name:=value`` (:func:`node_overrides`).

So a default changed here changes the node, ``config/*.yaml``, ``docs/nodes.md``, eval, bench and the
demo together. This module imports no ROS: the pipeline and eval layers read it too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from depth_refine_ros.core.sampling import SAMPLINGS
from depth_refine_ros.core.temporal import DEFAULT_ALPHA, DEFAULT_DELTA, DEFAULT_PERSISTENCY, PERSISTENCY_MODES
from depth_refine_ros.core.upsample import CLASSICAL_METHODS


def _p(default: Any, name: str, doc: str, choices: tuple[str, ...] = (), minimum: float | None = None,
       runtime: bool = False, any_type: bool = False) -> Any:
    """A parameter field: ROS name, description, allowed values, smallest value; ``runtime``: not
    read-only (the node applies changes, see its set-parameters callback); ``any_type``: declared with
    dynamic typing (e.g. a mode given by name or by number)."""
    return field(default=default, metadata={"ros": name, "doc": doc, "choices": choices, "minimum": minimum,
                                            "runtime": runtime, "any_type": any_type})


RUNTIME_NOTE = "Changeable at run time (ros2 param set)."


def describe(f) -> str:
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
        "it covers: sensors, binning, averaging, antialiased resizes), decimated (each is its block's "
        "top-left pixel: a driver keeping every n-th pixel, image_proc crop_decimate, a nearest-neighbour "
        "resize; re-sampled at the block centres first, else the output sits (n-1)/2 px off the RGB), or "
        "averaged (centred, and each is the clean average of its block: binning, an area or antialiased "
        "resize; the output is projected back onto the samples; on noisy input it adds the noise back).",
        SAMPLINGS)
    keep_holes: bool = _p(True, "output.keep_holes",
                          "NaN where the low-res input had no depth (as the classical upsamplers); false "
                          "publishes the network's fill-in there.")
    flip_ensemble: bool = _p(False, "ensemble.flip",
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
    temporal_alpha: float = _p(DEFAULT_ALPHA, "temporal.alpha",
                               "Temporal filter: weight of the current frame, 0..1 (1 = no smoothing).",
                               runtime=True)
    temporal_delta: int = _p(
        int(DEFAULT_DELTA), "temporal.delta",
        "Temporal filter: a disparity change of at least this (1..100; librealsense's units, 1/32 px of a "
        "D435 at 848x480: 20 ~ 2.95 cm x depth_m^2) is motion and passes unsmoothed.", runtime=True)
    temporal_persistency: str = _p(
        PERSISTENCY_MODES[DEFAULT_PERSISTENCY], "temporal.persistency",
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


def setting(name: str, cls: type = None) -> dataclasses.Field:
    """The field of setting ``name`` (the dataclass field name, e.g. ``depth_sampling``) of ``cls``
    (default :class:`SrParams`)."""
    for f in fields(cls or SrParams):
        if f.name == name:
            return f
    raise KeyError(f"no setting {name!r} in {(cls or SrParams).__name__}")


def ros_name(name: str, cls: type = None) -> str:
    """The ROS parameter name of setting ``name`` (``depth_sampling`` -> ``depth.sampling``)."""
    return setting(name, cls).metadata["ros"]


OFFLINE_CHANGES = {"backend": "onnxruntime", "registration_every_n": 1}
"""Where the offline commands (``eval-dataset``, ``eval-bag`` offline, ``bench``'s stage rows) differ
from the node's defaults: models run on onnxruntime (installed everywhere, so reports reproduce on any
machine), and ``registration.mode: auto`` estimates on every frame, in the caller's thread (an offline
run wants each frame's estimate used for the frames after it)."""


def offline_settings(**changes: Any) -> SrParams:
    """The node's settings with :data:`OFFLINE_CHANGES` and ``changes`` (field names) applied."""
    return dataclasses.replace(SrParams(), **{**OFFLINE_CHANGES, **changes})


def method_settings(method: str, base: SrParams | None = None, **changes: Any) -> SrParams:
    """``base`` (default :func:`offline_settings`) set to run ``method`` by name, with ``changes``.

    ``method``: a classical upsampler (:data:`CLASSICAL_METHODS`: ``backend: classical``,
    ``classical.method``) or an SR model name or directory (``model``, on ``base``'s or the changed
    backend).
    """
    s = dataclasses.replace(base or offline_settings(), **changes)
    if method in CLASSICAL_METHODS:
        return dataclasses.replace(s, backend="classical", classical_method=method)
    return dataclasses.replace(s, model=method)


def method_of(s: SrParams) -> str:
    """The method ``s`` runs: its classical method with ``backend: classical``, else its model."""
    return s.classical_method if s.backend == "classical" else s.model


def format_value(v: Any) -> str:
    """A value as ``-p name:=value`` writes it (bools as ``true``/``false``)."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def node_overrides(s: SrParams, names: tuple[str, ...], always: tuple[str, ...] = (),
                   base: SrParams | None = None) -> list[str]:
    """``name:=value`` overrides that make a node started with ``base`` (default: the node's defaults)
    run ``s``'s settings ``names``, in that order; a setting equal to ``base``'s is left out unless it is
    in ``always``."""
    base = base or SrParams()
    return [f"{ros_name(n)}:={format_value(getattr(s, n))}" for n in names
            if n in always or getattr(s, n) != getattr(base, n)]
