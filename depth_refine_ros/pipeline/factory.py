"""The one pipeline factory: what ``sr_node`` and ``mono_node`` run and what evaluation scores are built here.

Everyone starts from the settings (:class:`~depth_refine_ros.pipeline.settings.SrParams`, the node's
parameters): ``sr_node`` reads them from ROS, ``eval-dataset``, ``eval-bag``, ``bench`` and the demo from
their options (:func:`~depth_refine_ros.pipeline.settings.method_settings`). :func:`spec_from_settings`,
the one translation, turns them into an :class:`SrPipelineSpec`, and :func:`build_sr_pipelines` builds
it, so a number in a report is the number the node gives on that frame. ``mono_node``'s settings
(:class:`~depth_refine_ros.pipeline.settings.MonoParams`) take the same road:
:func:`mono_spec_from_settings` -> :class:`MonoPipelineSpec` -> :func:`build_mono_pipeline`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from depth_refine_ros.backends import BackendError, create_backend, create_model_backend, node_threads
from depth_refine_ros.core.temporal import TemporalFilter
from depth_refine_ros.core.upsample import CLASSICAL_METHODS
from depth_refine_ros.pipeline.mono import MonoPipeline, MonoPipelineConfig
from depth_refine_ros.pipeline.registration import Registration
from depth_refine_ros.pipeline.settings import MonoParams, SrParams, method_settings
from depth_refine_ros.pipeline.sr import Pipeline, PipelineConfig

# the shipped depth-only model ``depth_only_model: auto`` resolves to (docs/results.md#depth-sr-distilled)
DEFAULT_DEPTH_ONLY_MODEL = "depth_sr_distilled"

_SETTINGS = SrParams()  # the settings' defaults: a spec field that is a setting takes its default from here


@dataclass(frozen=True)
class SrPipelineSpec:
    """Everything that decides an SR pipeline, resolved from the settings by :func:`spec_from_settings`.

    A field named as a setting of :class:`~depth_refine_ros.pipeline.settings.SrParams` is that
    setting, with its default; the others are made from settings (:data:`SPEC_FROM_SETTINGS`).
    Unlike the settings, a bare spec names no model: ``SrPipelineSpec()`` is classical bicubic.

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
    classical_method: str = _SETTINGS.classical_method
    device: str = _SETTINGS.device
    precision: str = _SETTINGS.precision
    threads: int = 0
    keep_holes: bool = _SETTINGS.keep_holes
    flip_ensemble: bool = _SETTINGS.flip_ensemble
    min_depth_m: float = _SETTINGS.min_depth_m
    max_depth_m: float = _SETTINGS.max_depth_m
    depth_sampling: str = _SETTINGS.depth_sampling
    refine_mode: str = _SETTINGS.refine_mode
    refine_model: str = ""
    refine_mono_model: str = ""
    depth_only_model: str = ""
    registration_mode: str = _SETTINGS.registration_mode
    registration_shift_px: tuple[int, int] = (_SETTINGS.registration_shift_dy_px, _SETTINGS.registration_shift_dx_px)
    registration_every_n: int = _SETTINGS.registration_every_n
    registration_window: int = _SETTINGS.registration_window
    registration_max_shift_px: int = _SETTINGS.registration_max_shift_px
    registration_min_shift_px: int = _SETTINGS.registration_min_shift_px
    registration_background: bool = False
    background_compile: bool = False
    temporal: bool = _SETTINGS.temporal_enable
    temporal_alpha: float = _SETTINGS.temporal_alpha
    temporal_delta: float = _SETTINGS.temporal_delta
    temporal_persistency: str | int = _SETTINGS.temporal_persistency


def _threads(settings: SrParams | MonoParams, live: bool) -> int:
    """A live node leaves a CPU to DDS on small machines (``backend_threads`` 0 = auto); offline: the library's."""
    return node_threads(settings.backend_threads) if live else settings.backend_threads


SPEC_FROM_SETTINGS: dict[str, Callable[[SrParams, bool], Any]] = {
    "threads": _threads,
    "registration_shift_px": lambda s, live: (s.registration_shift_dy_px, s.registration_shift_dx_px),
    "temporal": lambda s, live: s.temporal_enable,
    # a live node never makes a frame wait: the offset estimate and new openvino sizes run beside it
    "registration_background": lambda s, live: live,
    "background_compile": lambda s, live: live,
}
"""The :class:`SrPipelineSpec` fields that are not a setting of the same name: how each is made from
the settings (and ``live``: a node serving a stream, not an offline run). Every other field is copied
by name."""


def spec_from_settings(settings: SrParams, live: bool = False) -> SrPipelineSpec:
    """The pipeline spec of ``settings``: the one translation from settings to pipeline.

    ``sr_node`` calls it with ``live=True``; ``eval-dataset``, ``eval-bag`` (offline), ``bench`` and the
    demo's offline rows with their settings (:func:`~depth_refine_ros.pipeline.settings.method_settings`).
    A spec field named as a setting takes its value by name; the rest come from :data:`SPEC_FROM_SETTINGS`.
    """
    return _spec(SrPipelineSpec, SPEC_FROM_SETTINGS, settings, live)


def _spec(cls: type, made: dict[str, Callable[[Any, bool], Any]], settings: Any, live: bool) -> Any:
    """A ``cls`` spec from ``settings``: each field from ``made`` where it is there, else the setting of its name."""
    return cls(**{f.name: made[f.name](settings, live) if f.name in made else getattr(settings, f.name)
                  for f in dataclasses.fields(cls)})


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
    return create_model_backend(spec.backend, model, spec.device, spec.precision, kinds=kinds,
                                threads=spec.threads, **options)


def build_sr_pipelines(spec: SrPipelineSpec, warmup: bool = True) -> tuple[Pipeline, Pipeline]:
    """The guided pipeline and the depth-only one (used while RGB is missing).

    Both share one :class:`~depth_refine_ros.pipeline.registration.Registration`, so depth-only output
    stays on the RGB grid with the shift in use, and one temporal filter (one output stream).

    Args:
        spec: what to build.
        warmup: run each backend once on a dummy frame (first-call costs out of the first frame).

    Raises:
        BackendError: a backend or model cannot be loaded (the message says why).
        depth_refine_ros.data.modeldir.ModelError: a broken model directory.
        ValueError: temporal filter settings out of range.
    """
    return _build(spec, warmup, depth_only=True)


def _build(spec: SrPipelineSpec, warmup: bool, depth_only: bool) -> tuple[Pipeline, Pipeline | None]:
    """:func:`build_sr_pipelines`; without ``depth_only`` the second pipeline is None (not built)."""
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
        # prompt_depth: an imported Prompt Depth Anything (docs/foundation_models.md)
        backend = _net(spec, spec.model, ("sr", "depth_sr", "prompt_depth"), keep_holes=spec.keep_holes,
                       flip_ensemble=spec.flip_ensemble)
    refiner = None
    if spec.refine_mode != "none":
        from depth_refine_ros.pipeline.sddr import SddrRefinement

        refiner = SddrRefinement(
            _net(spec, spec.refine_model, ("sddr",)), _net(spec, spec.refine_mono_model, ("mono",)),
            spec.refine_mode)
    only = _depth_only_backend(spec, backend) if depth_only else None
    if warmup:
        backend.warmup()
        if only is not None and only is not backend:
            only.warmup()
    registration = Registration(
        spec.registration_mode, spec.registration_shift_px, spec.registration_every_n,
        spec.registration_window, max_shift_px=spec.registration_max_shift_px,
        min_shift_px=spec.registration_min_shift_px, background=spec.registration_background)
    return (Pipeline(backend, cfg, refiner, registration, temporal),
            None if only is None else Pipeline(only, cfg, registration=registration, temporal=temporal))


def _depth_only_backend(spec: SrPipelineSpec, backend):
    """What refines frames without RGB (``spec.depth_only_model``; ``backend`` is the guided one)."""
    choice = spec.depth_only_model
    if choice == "auto":
        # backend classical runs no network unless one is named; a depth-only model serves itself
        choice = "" if spec.backend == "classical" or not backend.needs_rgb else DEFAULT_DEPTH_ONLY_MODEL
    if choice in ("", "bicubic"):
        return backend if not backend.needs_rgb else create_backend("classical", method="bicubic")
    return _net(spec, choice, ("depth_sr",), keep_holes=spec.keep_holes, flip_ensemble=spec.flip_ensemble)


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
    """The guided pipeline of :func:`build_sr_pipelines` alone (evaluation, benchmarks): the
    depth-only model is not loaded."""
    return _build(spec, warmup, depth_only=False)[0]


def spec_for_method(name: str, **changes: Any) -> SrPipelineSpec:
    """The offline spec that runs a method by name (a classical upsampler, or an SR model name or
    directory) with settings ``changes`` (field names of
    :class:`~depth_refine_ros.pipeline.settings.SrParams`, e.g. ``depth_sampling='decimated'``):
    :func:`spec_from_settings` of :func:`~depth_refine_ros.pipeline.settings.method_settings`."""
    return spec_from_settings(method_settings(name, **changes))


_MONO_SETTINGS = MonoParams()  # a mono spec field that is a setting takes its default from here


@dataclass(frozen=True)
class MonoPipelineSpec:
    """Everything that decides ``mono_node``'s pipeline, resolved from the settings by :func:`mono_spec_from_settings`.

    As :class:`SrPipelineSpec`: a field named as a setting of
    :class:`~depth_refine_ros.pipeline.settings.MonoParams` is that setting, with its default; the
    others are made from settings (:data:`MONO_SPEC_FROM_SETTINGS`). A bare spec names no model.

    Attributes:
        backend: a network backend (``onnxruntime``, ``openvino``, ``torch``, ``tensorrt``, ``auto``).
        model: monocular model name or directory.
        device, precision, threads: as :class:`SrPipelineSpec`.
        refine_mode: SDDR stage after the network: ``none``, ``one_stage`` or ``two_stage``.
        refine_model: the SDDR refiner model (``refine_mode != none``).
        min_depth_m, max_depth_m, min_points: the
            :class:`~depth_refine_ros.pipeline.mono.MonoPipelineConfig` fields of those names.
    """

    backend: str = _MONO_SETTINGS.backend
    model: str = ""
    device: str = _MONO_SETTINGS.device
    precision: str = _MONO_SETTINGS.precision
    threads: int = 0
    refine_mode: str = _MONO_SETTINGS.refine_mode
    refine_model: str = ""
    min_depth_m: float = _MONO_SETTINGS.min_depth_m
    max_depth_m: float = _MONO_SETTINGS.max_depth_m
    min_points: int = _MONO_SETTINGS.metric_min_points


MONO_SPEC_FROM_SETTINGS: dict[str, Callable[[MonoParams, bool], Any]] = {
    "threads": _threads,
    "min_points": lambda s, live: s.metric_min_points,
}
"""The :class:`MonoPipelineSpec` fields that are not a setting of the same name (as :data:`SPEC_FROM_SETTINGS`)."""


def mono_spec_from_settings(settings: MonoParams, live: bool = False) -> MonoPipelineSpec:
    """The monocular pipeline spec of ``settings`` (``mono_node`` calls it with ``live=True``): fields by
    name, the rest from :data:`MONO_SPEC_FROM_SETTINGS`."""
    return _spec(MonoPipelineSpec, MONO_SPEC_FROM_SETTINGS, settings, live)


def build_mono_pipeline(spec: MonoPipelineSpec, warmup: bool = True) -> MonoPipeline:
    """The monocular pipeline ``mono_node`` runs: the network, optionally the SDDR stage.

    Raises:
        BackendError: a backend or model cannot be loaded, or a model of the wrong kind.
    """
    net = SrPipelineSpec(backend=spec.backend, device=spec.device, precision=spec.precision, threads=spec.threads)
    mono = _net(net, spec.model, ("mono",))
    if warmup:
        mono.warmup()
    refiner = None
    if spec.refine_mode != "none":
        from depth_refine_ros.pipeline.sddr import SddrRefinement

        refiner = SddrRefinement(_net(net, spec.refine_model, ("sddr",)), mono, spec.refine_mode)
    config = MonoPipelineConfig(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(MonoPipelineConfig)})
    return MonoPipeline(mono, config, refiner)
