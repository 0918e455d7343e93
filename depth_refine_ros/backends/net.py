"""Network backends: a model directory + an engine (ONNX Runtime, torch or TensorRT).

An :class:`Engine` only runs a graph (``feeds -> outputs``, ``(1, C, H, W) float32``); the
task classes here do the same pre/post-processing for every engine (padding, normalisation,
cropping, units; :mod:`depth_refine_ros.core.net_input`), so swapping the engine never changes
what is computed, only how fast.
"""
from __future__ import annotations

import abc
import time

import numpy as np

from depth_refine_ros.backends.base import Backend, BackendError
from depth_refine_ros.core import net_input
from depth_refine_ros.core.foundation import card_input_hw
from depth_refine_ros.core.projection import project_averaged
from depth_refine_ros.data.modeldir import ModelDir


class Engine(abc.ABC):
    """Runs one model's graph.

    Attributes:
        name: backend registry name of the engine.
        rgb_u8: :meth:`run` takes ``rgb`` as the ``(1, H, W, 3) uint8`` image instead (the engine's
            compiled graph converts it; OpenVINO's option).
    """

    name = "abstract"
    rgb_u8 = False

    @abc.abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the graph.

        Args:
            feeds: input name -> ``(1, C, H, W) float32`` (names as in the model card).

        Returns:
            Outputs in the card's order, ``float32`` numpy arrays.
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """Device, provider and precision, for logs."""


class NetBackend(Backend):
    """Base of the network task backends.

    Args:
        model: the verified model directory.
        engine: what runs its graph.

    Attributes:
        selection: why this engine was chosen, set by ``backend: auto`` (empty otherwise);
            :meth:`describe` ends with it, so the node's start-up log says what auto picked and why.
    """

    selection: str = ""

    def __init__(self, model: ModelDir, engine: Engine) -> None:
        self.model = model
        self.engine = engine
        self.name = engine.name

    def describe(self) -> str:
        text = f"{self.engine.name}/{self.model.describe()} on {self.engine.describe()}"
        return f"{text} [auto: {self.selection}]" if self.selection else text


class SrNetBackend(NetBackend):
    """Guided (``sr``) or depth-only (``depth_sr``) super-resolution.

    Args:
        keep_holes: NaN where the nearest low-res pixel was invalid (default, like the classical
            upsamplers); False publishes the network's fill-in there.
        flip_ensemble: also run the left-right mirrored input and average the two outputs
            (self-ensemble; twice the inference time).
    """

    def __init__(self, model: ModelDir, engine: Engine, keep_holes: bool = True, flip_ensemble: bool = False
                 ) -> None:
        super().__init__(model, engine)
        self.flip_ensemble = flip_ensemble
        self.needs_rgb = model.kind == "sr"
        lo, hi = model.card.scales or (1, 16)
        self.scale_range = (float(lo), float(hi))
        self.keep_holes = keep_holes
        self._feeds: dict[str, np.ndarray] = {}  # graph input arrays, reused frame to frame

    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        """Refine; :attr:`last_timings` then holds this call's milliseconds per stage (fill,
        upsample, normalise, pad, infer, crop, holes; ``projection`` for a net with a projection gate,
        whose graph's second output channel says per pixel how much of the projection onto the
        low-res samples to take)."""
        t: dict[str, float] = {}
        feeds, scale, valid = net_input.sr_inputs(inputs["depth_lr"], inputs.get("rgb"), out_hw,
                                                  self.model.size_multiple, self.needs_rgb, t, self._feeds,
                                                  rgb_u8=self.engine.rgb_u8)
        t0 = time.perf_counter()
        out = self.engine.run(feeds)[0]
        if self.flip_ensemble:
            out = out.copy()  # an engine may hand back its own output buffer, rewritten by the next run
            # the width axis: NCHW, or NHWC for the uint8 RGB some engines take
            mirrored = {k: np.ascontiguousarray(np.flip(v, axis=2 if k == "rgb" and self.engine.rgb_u8 else 3))
                        for k, v in feeds.items()}
            out += np.flip(self.engine.run(mirrored)[0], axis=3)
            out *= np.float32(0.5)
        t["infer"] = (time.perf_counter() - t0) * 1e3
        gated = out.shape[1] == 2  # a net with a projection gate (models/sr_net.py consistency)
        depth = net_input.sr_output(out, scale, out_hw, valid, self.keep_holes and not gated, t)
        if gated:
            # projected before the holes are masked, as training projects the net's whole output
            t1 = time.perf_counter()
            depth = project_averaged(depth, inputs["depth_lr"], gate=out[0, 1, :out_hw[0], :out_hw[1]])
            if self.keep_holes:
                net_input.mask_holes(depth, valid)
            t["projection"] = (time.perf_counter() - t1) * 1e3
        self.last_timings = t
        return {"depth": depth}


class MonoBackend(NetBackend):
    """Monocular depth: ``{"rgb": (H, W, 3) uint8}`` -> ``{"depth": (H, W) float32}`` relative.

    The RGB is resized to the card's ``input_hw`` (optionally times ``upscale``: SDDR's
    high-resolution inference) and the half-size output is resized back to ``out_hw``. An imported
    foundation model's card may give an aspect-keeping size policy instead (``input_size``:
    :func:`~depth_refine_ros.core.foundation.card_input_hw`); its output is then at the input size.
    """

    def __init__(self, model: ModelDir, engine: Engine) -> None:
        super().__init__(model, engine)
        if model.card.input_hw is None:
            raise BackendError(f"{model.path}: a mono model card needs input_hw")
        self.input_hw = model.card.input_hw

    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int], upscale: float = 1.0
              ) -> dict[str, np.ndarray]:
        m = self.model.size_multiple
        hw = net_input.padded_size(card_input_hw(self.model.card, inputs["rgb"].shape[:2], upscale), m)
        x = net_input.rgb_to_nchw(net_input.resize_rgb(inputs["rgb"], hw))
        out = self.engine.run({"rgb": x})[0][0, 0]
        return {"depth": net_input.resize_depth(out, out_hw)}

    def warmup(self, out_hw: tuple[int, int] = (480, 640), scale: int = 4) -> None:
        rgb = np.random.default_rng(0).integers(0, 255, (*out_hw, 3), dtype=np.uint8)
        self.infer({"rgb": rgb}, out_hw)


class SddrBackend(NetBackend):
    """SDDR refiner: ``{"low", "high"}`` (``(H, W) float32``, same units) -> ``{"depth", "edges"}``.

    Both inputs are min-max normalised with ``low``'s range; outputs are mapped back to it.
    """

    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        low, lo, hi = net_input.minmax_normalise(inputs["low"])
        span = max(hi - lo, 1e-6)
        high = np.nan_to_num((inputs["high"] - lo) / span, nan=0.5).astype(np.float32)
        hw = net_input.padded_size(low.shape, self.model.size_multiple)
        d0, g0 = self.engine.run({"low": net_input.pad_to(low, hw)[None, None],
                                  "high": net_input.pad_to(high, hw)[None, None]})
        h, w = low.shape
        return {"depth": d0[0, 0, :h, :w] * np.float32(span) + np.float32(lo),
                "edges": g0[0, 0, :h, :w] * np.float32(span)}

    def warmup(self, out_hw: tuple[int, int] = (480, 640), scale: int = 4) -> None:
        d = 1.0 + np.random.default_rng(0).random(out_hw).astype(np.float32)
        self.infer({"low": d, "high": d}, out_hw)


class PromptDepthBackend(NetBackend):
    """Prompt depth (an imported Prompt Depth Anything, docs/foundation_models.md): the RGB plus the
    low-res metric depth as the prompt -> metric depth at the RGB's size, for ``sr_node``.

    The RGB is resized by the card's size policy (longer side, multiples of 14); the prompt goes in at
    its own size, in metres, holes filled from the nearest valid pixel (the graph min-max normalises
    it, so a hole must not be NaN); the output (metres at the input size) is resized to ``out_hw``.

    Args:
        keep_holes: NaN where the nearest low-res pixel was invalid (as :class:`SrNetBackend`).
        flip_ensemble: also run the left-right mirrored RGB and prompt and average (as :class:`SrNetBackend`).
    """

    def __init__(self, model: ModelDir, engine: Engine, keep_holes: bool = True, flip_ensemble: bool = False
                 ) -> None:
        super().__init__(model, engine)
        self.needs_rgb = True
        self.flip_ensemble = flip_ensemble
        lo, hi = model.card.scales or (1, 16)
        self.scale_range = (float(lo), float(hi))
        self.keep_holes = keep_holes

    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        filled, valid = net_input.fill_invalid(inputs["depth_lr"])
        prompt = np.ascontiguousarray(filled, dtype=np.float32)[None, None]
        if float(prompt.max() - prompt.min()) < 1e-6:  # a flat prompt: min-max would divide by zero
            prompt = prompt.copy()
            prompt[0, 0, 0, 0] += np.float32(1e-3)
        hw = net_input.padded_size(card_input_hw(self.model.card, out_hw), self.model.size_multiple)
        x = net_input.rgb_to_nchw(net_input.resize_rgb(inputs["rgb"], hw))
        t1 = time.perf_counter()
        out = self.engine.run({"rgb": x, "depth": prompt})[0]
        if self.flip_ensemble:
            mirrored = self.engine.run({"rgb": np.ascontiguousarray(x[..., ::-1]),
                                        "depth": np.ascontiguousarray(prompt[..., ::-1])})[0]
            out = 0.5 * (out + mirrored[..., ::-1])
        t2 = time.perf_counter()
        depth = net_input.resize_depth(out[0, 0], out_hw)
        if self.keep_holes and not valid.all():
            depth += net_input.nearest_mask(np.where(valid, np.float32(0), np.float32(np.nan)), out_hw)
        t.update(normalise=(t1 - t0) * 1e3, infer=(t2 - t1) * 1e3, crop=(time.perf_counter() - t2) * 1e3)
        self.last_timings = t
        return {"depth": depth}


_TASKS = {"sr": SrNetBackend, "depth_sr": SrNetBackend, "mono": MonoBackend, "sddr": SddrBackend,
          "prompt_depth": PromptDepthBackend}


def task_backend(model: ModelDir, engine: Engine, **options) -> NetBackend:
    """The task backend for ``model.kind`` around ``engine``."""
    if model.kind not in _TASKS:
        raise BackendError(f"{model.path}: no backend for model kind '{model.kind}'")
    return _TASKS[model.kind](model, engine, **options)


def load_for_engine(model: str | ModelDir, need: tuple[str, ...]) -> ModelDir:
    """Load and verify a model directory, turning model errors into :class:`BackendError`.

    A :class:`ModelDir` already loaded is taken as it is, with only the files of ``need`` it has not
    verified yet checked: ``backend: auto`` loads a directory once and hands it to the engine it picks.
    """
    from dataclasses import replace

    from depth_refine_ros.data.modeldir import ModelError, load_model_dir, verify_files

    if isinstance(model, ModelDir):
        missing = tuple(f for f in need if f not in model.verified)
        try:
            for f in missing:
                if f not in model.card.files:
                    raise ModelError(f"{model.path}: its card lists no {f}")
            if missing:
                verify_files(model.path, model.card, missing)
        except ModelError as e:
            raise BackendError(f"model refused: {e}") from e
        return replace(model, verified=model.verified | set(missing)) if missing else model
    if not model:
        raise BackendError("this backend needs a model: set the 'model' parameter to an installed "
                           "model name or a model directory (list them with `depth-refine models`)")
    try:
        return load_model_dir(model, need)
    except ModelError as e:
        raise BackendError(f"model refused: {e}") from e
