"""Methods to evaluate: settings (a method name: a classical upsampler, a model name or path) -> a
:class:`Pipeline`.

Evaluation runs the same :class:`~depth_refine_ros.pipeline.Pipeline` the nodes run, built from the
same settings (:class:`~depth_refine_ros.pipeline.settings.SrParams`) by the same function
(:func:`~depth_refine_ros.pipeline.factory.spec_from_settings`), so a number in a report is the number
the node would give on that frame.

A method's label (what reports print) names its settings with suffixes (``bicubic +decimated +reg``);
its result rows carry those settings as fields (:func:`row_fields`), which is what reports compare on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics
from depth_refine_ros.pipeline.factory import build_sr_pipeline, spec_from_settings
from depth_refine_ros.pipeline.settings import SrParams, method_of, method_settings
from depth_refine_ros.pipeline.sr import InputError, Pipeline

REG_SUFFIX = " +reg"  # label suffix of a method run with registration
TEMPORAL_SUFFIX = " +temporal"  # label suffix of a method run with the temporal filter
DECIMATED_SUFFIX = " +decimated"  # label suffix of a method told its input is decimated (depth.sampling)
AVERAGED_SUFFIX = " +averaged"  # label suffix of a method told its input is averaged (depth.sampling)

ROW_SETTINGS = ("depth_sampling", "registration_mode", "temporal_enable")
"""The settings (:class:`SrParams` fields) a result row carries besides ``method`` and ``method_name``:
the ones evaluation varies per row. Reports compare rows on them (``scoring.add_relative``)."""


def label_suffixes(settings: SrParams) -> str:
    """The suffixes a label gets for ``settings`` (``" +decimated +reg"``), in this order:
    ``depth.sampling`` (``decimated`` or ``averaged``), registration, the temporal filter."""
    return (sampling_suffix(settings.depth_sampling)
            + (REG_SUFFIX if settings.registration_mode != "none" else "")
            + (TEMPORAL_SUFFIX if settings.temporal_enable else ""))


def sampling_suffix(depth_sampling: str) -> str:
    """The label suffix of ``depth.sampling`` (``""`` for ``centred``, the default)."""
    return {"decimated": DECIMATED_SUFFIX, "averaged": AVERAGED_SUFFIX}.get(depth_sampling, "")


def method_name(settings: SrParams) -> str:
    """What a report calls the method of ``settings`` without its settings: the classical method or
    model, with the backend where it is not classical or onnxruntime (``sr_lite (openvino)``)."""
    name = method_of(settings)
    return name if settings.backend in ("classical", "onnxruntime") else f"{name} ({settings.backend})"


def settings_fields(settings: SrParams) -> dict:
    """``settings``' :data:`ROW_SETTINGS` as row fields."""
    return {k: getattr(settings, k) for k in ROW_SETTINGS}


@dataclass
class Method:
    """A named way of refining: ``label`` (what reports print), the pipeline, and if it uses RGB.

    ``settings``: what it was built from; ``name``: its label without the settings suffixes.
    """

    label: str
    pipeline: Pipeline
    uses_rgb: bool
    settings: SrParams | None = None
    name: str = ""

    def run(self, rgb: np.ndarray, depth_lr_m: np.ndarray, intrinsics: Intrinsics | None = None
            ) -> tuple[np.ndarray, float]:
        """Refine one frame -> (``(H, W) float32`` metres NaN invalid, milliseconds).

        Raises:
            InputError: the pipeline refused the frame (e.g. a scale outside the model's range).
        """
        t0 = time.perf_counter()
        if self.uses_rgb:
            res = self.pipeline.process(rgb, depth_lr_m, intrinsics)
        else:
            res = self.pipeline.process(None, depth_lr_m, intrinsics, out_hw=rgb.shape[:2])
        return res.depth, (time.perf_counter() - t0) * 1e3


def row_fields(method: Method) -> dict:
    """The fields that say which method a result row is: ``method`` (the label), ``method_name``
    (without settings) and the :data:`ROW_SETTINGS`."""
    return {"method": method.label, "method_name": method.name, **settings_fields(method.settings)}


def method_from_settings(settings: SrParams) -> Method:
    """The method that runs ``settings`` offline (no warm-up; the guided pipeline only).

    Raises:
        depth_refine_ros.backends.BackendError / depth_refine_ros.data.modeldir.ModelError: unknown
            name, a model of a kind that does not super-resolve, or a broken model directory.
    """
    pipe = build_sr_pipeline(spec_from_settings(settings), warmup=False)
    name = method_name(settings)
    # classical methods always take the RGB frame (its size is the output size; registration reads it)
    return Method(name + label_suffixes(settings), pipe, settings.backend == "classical" or pipe.backend.needs_rgb,
                  settings, name)


def build_method(name: str, backend: str | None = None, max_depth_m: float | None = None,
                 registration: str | None = None, temporal: bool | None = None,
                 depth_sampling: str | None = None, base: SrParams | None = None) -> Method:
    """``bicubic`` | ``joint_bilateral`` | ``guided_filter`` | ``fgs`` | an SR model name or directory,
    run with ``base`` (default: the offline settings,
    :func:`~depth_refine_ros.pipeline.settings.offline_settings`) and the given settings.

    Args:
        backend: inference backend for models (``backend``).
        max_depth_m: the pipeline's range clamp (``depth.max_m``).
        registration: ``none`` or ``auto`` (``registration.mode``): the depth-to-RGB offset tracked
            over the frames run so far (as sr_node does: median of the last 15 per-frame estimates,
            dead band 2 px) and undone; the label gets ``+reg``. ``eval-dataset`` replaces it per
            dataset pass with the median over all of that pass's frames (one sensor, one calibration).
        temporal: the temporal filter (``temporal.enable``, sr_node's ``temporal.*`` defaults) as the
            last stage; the label gets ``+temporal``. The filter is stateful: run the frames in time order.
        depth_sampling: ``centred`` or ``decimated`` (sr_node's ``depth.sampling``: the input is
            re-sampled at its block centres first); ``decimated`` labels get ``+decimated``.

    Raises:
        as :func:`method_from_settings`.
    """
    changes = {k: v for k, v in (("backend", backend), ("max_depth_m", max_depth_m),
                                 ("registration_mode", registration), ("temporal_enable", temporal),
                                 ("depth_sampling", depth_sampling)) if v is not None}
    return method_from_settings(method_settings(name, base, **changes))


__all__ = ["AVERAGED_SUFFIX", "DECIMATED_SUFFIX", "REG_SUFFIX", "ROW_SETTINGS", "TEMPORAL_SUFFIX", "InputError",
           "Method", "build_method", "label_suffixes", "method_from_settings", "method_name", "row_fields",
           "sampling_suffix", "settings_fields"]
