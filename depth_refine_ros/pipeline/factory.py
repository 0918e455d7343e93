"""The one pipeline factory: what ``sr_node`` runs and what evaluation scores are built here.

``sr_node`` fills a :class:`SrPipelineSpec` from its parameters, ``depth-refine eval-*`` from a
method name; both get their pipelines from :func:`build_sr_pipelines`, so a number in a report is
the number the node gives on that frame.
"""
from __future__ import annotations

from dataclasses import dataclass

from depth_refine_ros.backends import BackendError, create_backend, create_model_backend
from depth_refine_ros.core.register import Registration
from depth_refine_ros.core.temporal import DEFAULT_ALPHA, DEFAULT_DELTA, PERSISTENCY_MODES, TemporalFilter
from depth_refine_ros.core.upsample import CLASSICAL_METHODS
from depth_refine_ros.pipeline.mono import MonoPipeline, MonoPipelineConfig
from depth_refine_ros.pipeline.sr import Pipeline, PipelineConfig

# the shipped depth-only model ``depth_only_model: auto`` resolves to (docs/results.md#depth-sr-distilled)
DEFAULT_DEPTH_ONLY_MODEL = "depth_sr_distilled"


@dataclass(frozen=True)
class SrPipelineSpec:
    """Everything that decides an SR pipeline (no ROS types: nodes and eval both fill it).

    Attributes:
        backend: ``classical`` or a network backend (``onnxruntime``, ``openvino``, ``torch``,
            ``tensorrt``, ``auto``).
        model: SR model name or directory (network backends; not read with ``classical``).
        classical_method: one of :data:`~depth_refine_ros.core.upsample.CLASSICAL_METHODS`.
        device: ``auto`` (the backend's default: cuda for tensorrt, else cpu), ``cpu`` or ``cuda``.
        precision: ``auto`` (the backend's default: fp16 for tensorrt; for openvino bf16 where the
            CPU runs it natively and the model's depth standardisation can be kept in f32, else
            fp32; fp32 otherwise), ``fp32``, ``fp16`` (torch on cuda, tensorrt) or ``bf16``
            (openvino on CPUs that run it natively; see docs/models.md).
        threads: inference threads of onnxruntime and openvino (0: the library's default).
        keep_holes: pixels whose nearest low-res source is invalid stay NaN in the output.
        flip_ensemble: the SR network also runs the mirrored frame and the two outputs are
            averaged (twice the inference time).
        min_depth_m: output (and input) depth at or below this is invalid (metres).
        max_depth_m: output (and input) depth above this is invalid (metres).
        depth_sampling: ``centred`` or ``decimated``: where the low-res pixels sample the scene
            (:mod:`depth_refine_ros.core.sampling`; :class:`~depth_refine_ros.pipeline.sr.PipelineConfig`).
        refine_mode: SDDR stage after the backend: ``none``, ``one_stage`` or ``two_stage``.
        refine_model: the SDDR refiner model (``refine_mode != none``).
        refine_mono_model: the monocular model giving the refiner its high-resolution inference.
        depth_only_model: what refines frames without RGB: a depth-only SR model (name or
            directory); ``auto``: :data:`DEFAULT_DEPTH_ONLY_MODEL`, except with backend
            ``classical`` or a main model that needs no RGB (then as empty); empty or ``bicubic``:
            the main backend when it needs no RGB, else bicubic.
        registration_mode: ``none``, ``fixed`` or ``auto`` (depth-to-RGB offset, see ``core.register``).
        registration_shift_px: ``(dy, dx)`` pixels for ``fixed``.
        registration_every_n: ``auto``: estimate on every n-th RGB frame.
        registration_window: ``auto``: median of this many estimates.
        registration_max_shift_px: search radius of the estimate (pixels).
        registration_min_shift_px: ``auto``: dead band; smaller estimates are taken as 0.
        registration_background: estimate on a background thread (live nodes: no frame waits).
        background_compile: openvino (also under ``auto``): a new input size compiles on a
            background thread while its frames run padded on a larger compiled size, and the
            :data:`PRELOAD_SIZES` most recently used cached sizes are imported at start-up (live nodes).
        temporal: run the temporal filter (:mod:`depth_refine_ros.core.temporal`) as the last stage.
        temporal_alpha: its weight of the current frame (0..1).
        temporal_delta: its motion threshold in disparity units (1..100).
        temporal_persistency: its hole-filling mode, a name or number 0..8.
    """

    backend: str = "classical"
    model: str = ""
    classical_method: str = "bicubic"
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0
    keep_holes: bool = True
    flip_ensemble: bool = False
    min_depth_m: float = 0.05
    max_depth_m: float = 20.0
    depth_sampling: str = "centred"
    refine_mode: str = "none"
    refine_model: str = ""
    refine_mono_model: str = ""
    depth_only_model: str = ""
    registration_mode: str = "none"
    registration_shift_px: tuple[int, int] = (0, 0)
    registration_every_n: int = 5
    registration_window: int = 15
    registration_max_shift_px: int = 8
    registration_min_shift_px: int = 2
    registration_background: bool = False
    background_compile: bool = False
    temporal: bool = False
    temporal_alpha: float = DEFAULT_ALPHA
    temporal_delta: float = DEFAULT_DELTA
    temporal_persistency: str | int = PERSISTENCY_MODES[3]


def build_temporal(spec: SrPipelineSpec) -> TemporalFilter | None:
    """The spec's temporal filter, or None when ``spec.temporal`` is off.

    Raises:
        ValueError: alpha, delta or persistency out of range (the message says which), checked
            even while the filter is off, so a bad setting is refused when it is made.
    """
    temporal = TemporalFilter(spec.temporal_alpha, spec.temporal_delta, spec.temporal_persistency)
    return temporal if spec.temporal else None


PRELOAD_SIZES = 2
"""Live nodes on openvino import this many cached input sizes besides the opt size at start-up: a
camera that is not 640x480 (or two cameras on one model) found ready on the first frame."""


def _net(spec: SrPipelineSpec, model: str, kinds: tuple[str, ...], **options):
    """A network backend for ``model`` with the spec's backend, device, precision and threads."""
    if spec.background_compile and spec.backend in ("auto", "openvino"):
        options["background_compile"] = True
        options["preload"] = PRELOAD_SIZES
    return create_model_backend(spec.backend, model, None if spec.device == "auto" else spec.device,
                                None if spec.precision == "auto" else spec.precision, kinds=kinds,
                                threads=spec.threads, **options)


def build_sr_pipelines(spec: SrPipelineSpec, warmup: bool = True) -> tuple[Pipeline, Pipeline]:
    """The guided pipeline and the depth-only one (used while RGB is missing).

    Both share one :class:`~depth_refine_ros.core.register.Registration`, so depth-only output
    stays on the RGB grid with the shift in use, and one temporal filter (one output stream).

    Args:
        spec: what to build.
        warmup: run each backend once on a dummy frame (first-call costs out of the first frame).

    Raises:
        BackendError: a backend or model cannot be loaded (the message says why).
        depth_refine_ros.core.modeldir.ModelError: a broken model directory.
        ValueError: temporal filter settings out of range.
    """
    temporal = build_temporal(spec)  # first: a bad setting fails before any model loads
    cfg = PipelineConfig(min_depth_m=spec.min_depth_m, max_depth_m=spec.max_depth_m,
                         depth_sampling=spec.depth_sampling)
    if spec.backend == "classical":
        # ``model`` is not read: the node's default names the shipped network, and the classical
        # upsamplers stay one parameter (backend:=classical) away from it
        if spec.classical_method not in CLASSICAL_METHODS:
            raise BackendError(f"unknown classical method '{spec.classical_method}' "
                               f"(one of {', '.join(CLASSICAL_METHODS)})")
        backend = create_backend("classical", method=spec.classical_method)
    else:
        backend = _net(spec, spec.model, ("sr", "depth_sr"), keep_holes=spec.keep_holes,
                       flip_ensemble=spec.flip_ensemble)
    refiner = None
    if spec.refine_mode != "none":
        from depth_refine_ros.pipeline.sddr import SddrRefinement

        refiner = SddrRefinement(
            _net(spec, spec.refine_model, ("sddr",)), _net(spec, spec.refine_mono_model, ("mono",)),
            spec.refine_mode)
    choice = spec.depth_only_model
    if choice == "auto":
        # backend classical runs no network unless one is named; a depth-only model serves itself
        choice = "" if spec.backend == "classical" or not backend.needs_rgb else DEFAULT_DEPTH_ONLY_MODEL
    if choice in ("", "bicubic"):
        only = backend if not backend.needs_rgb else create_backend("classical", method="bicubic")
    else:
        only = _net(spec, choice, ("depth_sr",), keep_holes=spec.keep_holes, flip_ensemble=spec.flip_ensemble)
    if warmup:
        backend.warmup()
        if only is not backend:
            only.warmup()
    registration = Registration(
        spec.registration_mode, spec.registration_shift_px, spec.registration_every_n,
        spec.registration_window, max_shift_px=spec.registration_max_shift_px,
        min_shift_px=spec.registration_min_shift_px, background=spec.registration_background)
    return (Pipeline(backend, cfg, refiner, registration, temporal),
            Pipeline(only, cfg, registration=registration, temporal=temporal))


def close_pipelines(*pipelines: Pipeline | None) -> None:
    """Stop the work that runs beside ``pipelines`` (each thing once): the shared registration's
    background estimate, and background model compiles (an engine's ``close``)."""
    seen: set[int] = set()
    for pl in pipelines:
        if pl is None:
            continue
        for obj, method in ((pl.registration, "close"), (getattr(pl.backend, "engine", None), "close")):
            if obj is not None and id(obj) not in seen and callable(getattr(obj, method, None)):
                seen.add(id(obj))
                getattr(obj, method)()


def build_sr_pipeline(spec: SrPipelineSpec, warmup: bool = True) -> Pipeline:
    """The guided pipeline of :func:`build_sr_pipelines` alone (evaluation, benchmarks)."""
    return build_sr_pipelines(spec, warmup)[0]


def spec_for_method(name: str, backend: str = "onnxruntime", max_depth_m: float = 20.0,
                    registration: str = "none", temporal: bool = False,
                    depth_sampling: str = "centred") -> SrPipelineSpec:
    """The spec that runs a method by name: a classical upsampler, or an SR model name/directory.

    ``registration='auto'`` estimates on every frame with a window of 15, in the caller's thread
    (offline evaluation wants the estimate of this frame used for this frame's successors).
    ``temporal``: the temporal filter as the last stage, with sr_node's defaults (librealsense's).
    ``depth_sampling``: as :class:`SrPipelineSpec`.
    """
    reg = dict(registration_mode=registration, registration_every_n=1, registration_window=15,
               temporal=temporal, depth_sampling=depth_sampling)
    if name in CLASSICAL_METHODS:
        return SrPipelineSpec(backend="classical", classical_method=name, max_depth_m=max_depth_m, **reg)
    return SrPipelineSpec(backend=backend, model=name, max_depth_m=max_depth_m, **reg)


def build_mono_pipeline(backend: str, model: str, device: str = "auto", precision: str = "auto",
                        refine_mode: str = "none", refine_model: str = "",
                        config: MonoPipelineConfig | None = None, warmup: bool = True,
                        threads: int = 0) -> MonoPipeline:
    """The monocular pipeline ``mono_node`` runs: the network, optionally the SDDR stage.

    Raises:
        BackendError: a backend or model cannot be loaded, or a model of the wrong kind.
    """
    spec = SrPipelineSpec(backend=backend, device=device, precision=precision, threads=threads)
    mono = _net(spec, model, ("mono",))
    if warmup:
        mono.warmup()
    refiner = None
    if refine_mode != "none":
        from depth_refine_ros.pipeline.sddr import SddrRefinement

        refiner = SddrRefinement(_net(spec, refine_model, ("sddr",)), mono, refine_mode)
    return MonoPipeline(mono, config, refiner)
