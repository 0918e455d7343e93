"""The ``openvino`` backend: the model's ONNX graph compiled by OpenVINO for the CPU, and run.

Precision: ``fp32`` (alias ``f32``) or ``bf16``; ``auto`` (the default) is bf16 where the CPU runs
it natively (OpenVINO lists ``BF16`` in the CPU's ``OPTIMIZATION_CAPABILITIES``: AVX512_BF16 or AMX)
*and* the graph can be kept accurate in bf16, else fp32. bf16 on a CPU without it is refused rather
than emulated slowly. The SR and depth-only graphs standardise their depth input per image; left to
itself, OpenVINO's bf16 would round the raw depth to 8 significant bits before the mean is
subtracted, which erases the networks' gain over bicubic, so
:func:`~depth_refine_ros.backends.ov_graph.keep_standardisation_f32` edits the graph at load time to
run that step in f32. Monocular graphs (RGB input only: nothing to round but 8-bit colour) run bf16
under ``auto`` too, measured as accurate (:data:`BF16_MEASURED_KINDS`). Any other graph without the
pattern (an SDDR refiner, a foreign export) runs fp32 under ``auto``; asked for explicitly it runs
bf16 with a warning. The start-up parity check (:mod:`~depth_refine_ros.backends.ov_parity`) bounds
the graph's arithmetic, not a model's accuracy: measure a model in bf16 with
``depth-refine eval-dataset`` before relying on it.

Shapes: the graph has dynamic height/width; each input size the engine meets is compiled as a
static-shape model (faster than one dynamic-shape model), cached on disk
(:mod:`~depth_refine_ros.backends.ov_cache`) and kept, the last :data:`MAX_SHAPES` in memory. The
size given as ``opt_hw`` (default 480x640 output) is compiled at start-up, so a camera of that size
never waits on its first frame. With ``background_compile`` (what the live nodes use) a frame of a
new size does not wait for its compile either: while that size is imported from the cache or
compiled (in a niced child process; ov_cache says why), frames run on the smallest compiled size that
holds them, edge-padded and cropped back, as the pipeline already pads to the model's multiple. The
per-image statistics then include more padding, so those few frames differ slightly from the exact
size's output (``test_openvino.py`` bounds the difference); a new size no compiled size holds is
compiled in the caller's thread. If the child fails, the background thread compiles itself, with a
warning. With ``preload`` (what the live nodes use) the start-up also imports the cached sizes live
nodes' frames last ran at (recorded in the cache's ``live_use.json``, with what ``depth-refine
build-engine --backend openvino --hw`` compiled ahead), the most recently used first, and runs each
once, so a camera met before is ready on its first frame instead of running padded beside a
background import.

Inputs and outputs (:meth:`OvEngine.run`): every input ``(1, C, H, W) float32``, the outputs
``float32`` arrays in the card's order. With ``rgb_u8`` (on for guided SR models built through
:func:`OpenVinoBackend`) the ``rgb`` input is the camera's ``(1, H, W, 3) uint8`` image instead,
converted inside the compiled graph (:func:`~depth_refine_ros.backends.ov_graph.rgb_u8_input`), so
the pipeline skips its float conversion of the image and feeds a quarter of the bytes; the output is
the same up to float rounding.

Measurements: docs/log/history.md#measurements-moved-from-module-docstrings
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import Engine, NetBackend, load_for_engine, task_backend
from depth_refine_ros.backends.ov_cache import (
    BLOB_FORMAT,
    COMPILE_NICE,
    COMPILE_TIMEOUT_S,
    LIVE_USE,
    OvCompiler,
    cache_key,
    choose_cache_dir,
    read_blob,
    read_blob_header,
    read_graph,
    read_live_use,
    record_live_use,
    user_cache_root,
    write_blob,
)
from depth_refine_ros.backends.ov_graph import PATCH_ID, RGB_U8_ID, keep_standardisation_f32, rgb_u8_input
from depth_refine_ros.backends.ov_parity import PARITY_TOL, check_parity, parity_feeds, parity_tolerance
from depth_refine_ros.core.foundation import card_input_hw
from depth_refine_ros.core.net_input import padded_size
from depth_refine_ros.data.modeldir import GRAPH, ModelDir

INSTALL = "pip install openvino (pinned in requirements.txt; Intel/AMD x86-64 and ARM64 CPUs)"
LOG = logging.getLogger("depth_refine_ros.openvino")
PRECISIONS = ("fp32", "bf16")
_ALIASES = {"f32": "fp32", "fp32": "fp32", "bf16": "bf16"}
_OV_HINT = {"fp32": "f32", "bf16": "bf16"}
# precision auto picks bf16 on CPUs with native bf16 when this is True and the graph's depth
# standardisation was kept in f32 (module docstring)
AUTO_BF16 = True
# model kinds without a depth input whose bf16 accuracy was measured equal to fp32 (auto may pick bf16)
BF16_MEASURED_KINDS = {"mono": "mono_small, 16 held-out RGB-D-D frames: median-scaled AbsRel 0.1491 fp32, 0.1492 bf16"}
MAX_SHAPES = 4


def _import_openvino():
    try:
        import openvino as ov
    except ImportError as e:
        raise BackendError(f"the openvino backend needs OpenVINO: {INSTALL} ({e})") from e
    return ov


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(core=None) -> tuple[bool, str]:
    """Whether OpenVINO runs bf16 natively on this CPU, and the evidence (for logs).

    True when the CPU plugin lists ``BF16`` in ``OPTIMIZATION_CAPABILITIES`` (it does so for
    AVX512_BF16 and AMX CPUs); the matching ``/proc/cpuinfo`` flags are quoted in the evidence.
    """
    core = core or _import_openvino().Core()
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_tile"})
    ok = "BF16" in caps
    return ok, (f"OpenVINO CPU capabilities {'include' if ok else 'lack'} BF16"
                f" (cpu flags: {', '.join(flags) or 'no avx512_bf16/amx'})")


def resolve_precision(precision: str, core=None) -> tuple[str, str]:
    """``(fp32 | bf16, why)`` for a requested ``precision`` (``auto``, ``fp32``/``f32`` or ``bf16``).

    Raises:
        BackendError: an unknown precision, or bf16 on a CPU without native bf16.
    """
    if precision in (None, "", "auto"):
        ok, why = native_bf16(core)
        if ok and AUTO_BF16:  # OvEngine falls back to fp32 where the graph cannot be kept accurate
            return "bf16", f"auto: {why}"
        return "fp32", f"auto: {why}" if not ok else "auto: AUTO_BF16 is off"
    p = _ALIASES.get(str(precision).lower())
    if p is None:
        raise BackendError(f"openvino precision must be fp32 (or f32), bf16 or auto, not '{precision}'")
    if p == "bf16":
        ok, why = native_bf16(core)
        if not ok:
            raise BackendError(f"openvino precision bf16 asked for, but {why}: OpenVINO would emulate "
                               "it slowly; use fp32 or auto")
        return p, "asked for"
    return p, "asked for"


class OvEngine(Engine):
    """OpenVINO CPU execution of a model's graph (see the module docstring).

    Args:
        model: verified model directory.
        precision: ``auto``, ``fp32`` (``f32``) or ``bf16``.
        threads: inference threads (0 = OpenVINO's default: one per physical core).
        opt_hw: output size whose padded input is compiled (and parity-checked) at start-up
            (monocular models: their card's ``input_hw`` instead); None compiles on first use only.
        cache_dir: blob cache directory (default: beside the model, else the user cache).
        parity: run the start-up comparison with ONNX Runtime.
        parity_tol: override :data:`PARITY_TOL` for this precision (:mod:`~depth_refine_ros.backends.ov_parity`).
        background_compile: compile a new input size on a background thread and run its frames
            padded on a larger compiled size meanwhile (module docstring); off: compile in the
            caller's thread.
        rgb_u8: the ``rgb`` input is fed as ``(1, H, W, 3) uint8`` (module docstring); only for
            guided SR graphs (``sr`` kind), ignored for others.
        preload: at start-up, also import (and run once) up to this many other cached input sizes
            live nodes' frames used, the most recently used first (module docstring); 0 = none, at
            most ``MAX_SHAPES - 2`` (one compiled-size slot stays free for a new size). An engine
            with ``preload`` is a live node's: it records the sizes its frames run at.

    Attributes:
        rgb_u8: whether :meth:`run` takes ``rgb`` as ``(1, H, W, 3) uint8`` (else ``(1, 3, H, W)
            float32``, like every other input).
        precision: the precision in use (``fp32`` or ``bf16``); ``precision_reason`` says why.
        cache_dir, cache_note: where blobs go, and why when not beside the model.
        compiler: the compiled-model cache (:class:`~depth_refine_ros.backends.ov_cache.OvCompiler`)
            that compiles or imports each input size.
        startup: seconds spent at start-up: ``{"load", "parity", "preload", "total"}``, ``"cache_hit"``
            and ``"preloaded"`` (the padded ``[H, W]`` input sizes imported beside the opt size).
        parity_err: the measured start-up difference per output (relative to its range).
        events: per compiled shape, ``'imported'``, ``'built'`` or ``'rebuilt (...)'``.
        padded_runs: frames run padded on a larger size while their own compiled (per shape).
        child_compiles: per shape compiled in the background's child process, its report
            (``nice``, ``seconds`` of the compile there, ``wall_s`` including the process start).
    """

    name = "openvino"

    def __init__(self, model: ModelDir, precision: str = "auto", threads: int = 0,
                 opt_hw: tuple[int, int] | None = (480, 640), cache_dir: str | os.PathLike | None = None,
                 parity: bool = True, parity_tol: float | None = None,
                 background_compile: bool = False, rgb_u8: bool = False, preload: int = 0) -> None:
        t0 = time.monotonic()
        ov = _import_openvino()
        self.ov, self.model = ov, model
        self.core = ov.Core()
        if "CPU" not in self.core.available_devices:
            raise BackendError(f"OpenVINO sees no CPU device (devices: {self.core.available_devices})")
        self.precision, self.precision_reason = resolve_precision(precision, self.core)
        if int(threads) < 0:
            raise BackendError(f"openvino threads must be >= 0 (0 = one per physical core), not {threads}")
        self.threads = int(threads)
        self.config = {"INFERENCE_PRECISION_HINT": _OV_HINT[self.precision],
                       "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if self.threads:
            self.config["INFERENCE_NUM_THREADS"] = self.threads
        self.cpu = {"name": str(self.core.get_property("CPU", "FULL_DEVICE_NAME")),
                    "arch": str(self.core.get_property("CPU", "DEVICE_ARCHITECTURE")),
                    "caps": sorted(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}
        self.version = ov.get_version()
        self.cache_dir, self.cache_note = choose_cache_dir(model, cache_dir)
        if self.cache_note:  # the read-only fallback is worth a warning; an explicit cache_dir is not
            (LOG.info if cache_dir else LOG.warning)("openvino: %s", self.cache_note)
        onnx_sha = model.sha256(GRAPH)
        graph = None  # the read ONNX model (edited for bf16), read once: here for bf16, else at the first compile
        self.graph_edits = ""  # ov_graph.PATCH_ID when the graph was edited (part of the cache key)
        if self.precision == "bf16":
            graph = read_graph(self.core, model)
            self._prepare_bf16(graph, auto=self.precision_reason.startswith("auto"))
        self.rgb_u8 = bool(rgb_u8) and model.kind == "sr" and "rgb" in model.inputs
        if self.rgb_u8:
            self.graph_edits += RGB_U8_ID
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        # _compiled and _pending (and the compiler's child processes), shared with the compile thread
        self._lock = threading.Lock()
        self.compiler = OvCompiler(ov, self.core, model, precision=self.precision, config=self.config,
                                   threads=self.threads, cpu=self.cpu, version=self.version,
                                   cache_dir=self.cache_dir, onnx_sha256=onnx_sha, graph_edits=self.graph_edits,
                                   rgb_u8=self.rgb_u8, graph=graph, lock=self._lock)
        self._pending: dict[tuple, threading.Thread] = {}
        self._failed: set[tuple] = set()  # background compiles that failed: compiled in the caller's thread
        self.background_compile = bool(background_compile)
        self.padded_runs: dict[tuple, int] = {}
        self._used: set[tuple] = set()  # sizes whose use this engine has recorded (LIVE_USE)
        self.live = int(preload) > 0  # a live node's engine: records the sizes frames run at
        self.parity_err: dict[str, float] = {}
        self.startup: dict[str, object] = {}
        if opt_hw is not None:
            hw = self._input_hw(opt_hw)
            t1 = time.monotonic()
            self._request(self._shapes(hw))
            self.startup["load"] = time.monotonic() - t1
            self.startup["cache_hit"] = self.events[self._shapes(hw)] == "imported"
            if parity:
                t2 = time.monotonic()
                tol = parity_tolerance(model, self.precision) if parity_tol is None else parity_tol
                self.parity_err.update(check_parity(model, hw, tol, self._run_float, precision=self.precision,
                                                    threads=self.threads, rgb_bytes=self.rgb_u8,
                                                    cache_dir=self.cache_dir))
                self.startup["parity"] = time.monotonic() - t2
        if preload > 0:
            t3 = time.monotonic()
            self.startup["preloaded"] = self._preload(int(preload))
            self.startup["preload"] = time.monotonic() - t3
        self.startup["total"] = time.monotonic() - t0

    def cached_shapes(self) -> list[tuple]:
        """Input shapes (as :meth:`_shapes`) whose blob in :attr:`cache_dir` this engine would load
        (the same key: OpenVINO, CPU, graph, precision, edits) and that a live node's frames (or
        :meth:`prepare`) used, the most recently used first (:data:`LIVE_USE`). Sizes only offline
        tools met (an evaluation over many image sizes) are not among them."""
        return self.compiler.cached_shapes()

    @property
    def events(self) -> dict[tuple, str]:
        """Per compiled shape, ``'imported'``, ``'built'`` or ``'rebuilt (...)'`` (the compiler's)."""
        return self.compiler.events

    @property
    def child_compiles(self) -> dict[tuple, dict]:
        """Per shape compiled in the background's child process, its report (the compiler's)."""
        return self.compiler.child_compiles

    def _preload(self, limit: int) -> list[list[int]]:
        """Import up to ``limit`` cached sizes not compiled yet and run each once (its first
        inference allocates); returns their ``[H, W]`` (padded input sizes). A camera whose size is
        not the opt size then meets a ready model on its first frame, not padded runs beside a
        background compile (which, on 2 cores, slowed the first frames of ``live_check.py`` to 41-74
        ms). Import only: a blob that does not import is skipped (its size compiles in the background
        when a frame needs it), and nothing here can stop the engine from starting."""
        done: list[tuple] = []
        try:
            candidates = self.cached_shapes()
        except Exception as e:  # noqa: BLE001 - a start-up nicety: never a reason not to start
            LOG.warning("openvino: cannot list the cached sizes in %s (%s): no preload", self.cache_dir, e)
            return []
        for shapes in candidates:
            if len(done) >= min(limit, MAX_SHAPES - 2):  # a slot stays free for a new size
                break
            with self._lock:
                if shapes in self._compiled:
                    continue
            hw = shapes[0][2:]
            try:
                request = self.compiler.import_blob(shapes, self.blob_path(shapes)).create_infer_request()
                self._infer(request, self._as_fed(parity_feeds(self.model, hw, rgb_bytes=self.rgb_u8)))
            except Exception as e:  # noqa: BLE001 - as above
                self.events.pop(shapes, None)
                LOG.warning("openvino: could not preload the cached size %s (%s); it compiles when a frame "
                            "needs it", list(hw), str(e).splitlines()[0] if str(e) else type(e).__name__)
                continue
            done.append((shapes, request))
        # the most recently used last: the compiled-size cache evicts from the front
        for shapes, request in reversed(done):
            self._keep(shapes, request)
        sizes = [[int(s[0][2]), int(s[0][3])] for s, _ in done]
        if sizes:
            LOG.info("openvino: preloaded the cached input size(s) %s", sizes)
        return sizes

    def prepare(self, out_hw: tuple[int, int]) -> str:
        """Compile (or import) the model for output size ``out_hw`` into the cache and mark it used, so
        a live node's preload finds it (``depth-refine build-engine --backend openvino --hw H W``).

        Returns:
            ``'imported'``, ``'built'`` or ``'rebuilt (...)'``.
        """
        shapes = self._shapes(self._input_hw(out_hw))
        self._request(shapes)
        path = self.blob_path(shapes)
        if not path.is_file():
            raise BackendError(f"could not write the compiled model for {list(shapes[0][2:])} to {self.cache_dir} "
                               "(see the warning above)")
        record_live_use(self.cache_dir, path.name)
        return self.events[shapes]

    def _input_hw(self, out_hw: tuple[int, int]) -> tuple[int, int]:
        """The padded graph input size for output size ``out_hw`` (a monocular model always runs at its
        card's input size, whatever the output size)."""
        in_hw = card_input_hw(self.model.card, out_hw) if self.model.kind == "mono" else None
        return padded_size(in_hw or out_hw, self.model.size_multiple)

    def _as_fed(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` (every input ``(1, C, H, W) float32``) as :meth:`run` takes them: with ``rgb_u8``
        the ``rgb`` input as ``(1, H, W, 3) uint8``."""
        return dict(feeds, rgb=rgb_bytes(feeds["rgb"])) if self.rgb_u8 else feeds

    def _prepare_bf16(self, graph, auto: bool) -> None:
        """Keep the depth standardisation of ``graph`` (the read ``openvino.Model``, edited in place) in
        f32 (ov_graph), or fall back to fp32 under ``auto``."""
        if "depth" in self.model.inputs and keep_standardisation_f32(graph, "depth"):
            self.graph_edits = PATCH_ID
            self.precision_reason += "; depth standardisation kept in f32"
            return
        imported = "imported" in self.model.card.extra  # a foundation model: its bf16 accuracy is its own
        if "depth" not in self.model.inputs and self.model.kind in BF16_MEASURED_KINDS and not imported:
            measured = BF16_MEASURED_KINDS[self.model.kind]
            self.precision_reason += f"; {self.model.kind} graphs measured in bf16 ({measured})"
            return
        what = ("no per-image depth standardisation to keep in f32" if "depth" in self.model.inputs
                else f"bf16 accuracy of {'imported ' if imported else ''}{self.model.kind} models is not measured")
        if auto:
            self.precision, self.precision_reason = "fp32", f"auto: {what}"
            self.config["INFERENCE_PRECISION_HINT"] = _OV_HINT["fp32"]
            return
        LOG.warning("openvino bf16 asked for on %s: %s; check its accuracy with depth-refine eval-dataset",
                    self.model.name, what)

    # shapes and compiled models -------------------------------------------------------------
    def _shapes(self, hw: tuple[int, int]) -> tuple:
        """``(name, C, H, W)`` per input: the graph's own layout, whatever layout :meth:`run` is fed."""
        return tuple((n, 3 if n == "rgb" else 1, int(hw[0]), int(hw[1])) for n in self.model.inputs)

    def _u8(self, name: str) -> bool:
        return self.rgb_u8 and name == "rgb"

    def _feed_shapes(self, feeds: dict[str, np.ndarray]) -> tuple:
        """:meth:`_shapes` of ``feeds`` (``rgb`` is NHWC bytes with ``rgb_u8``).

        Raises:
            BackendError: an ``rgb_u8`` engine fed anything but ``(1, H, W, 3) uint8`` RGB.
        """
        shapes = []
        for n in self.model.inputs:
            x = feeds[n]
            if self._u8(n):
                if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
                    raise BackendError(f"{self.model.name}: this OpenVINO engine takes '{n}' as (1, H, W, 3) uint8 "
                                       f"(rgb_u8), not {x.dtype} {tuple(x.shape)}")
                shapes.append((n, x.shape[3], x.shape[1], x.shape[2]))
            else:
                shapes.append((n, *np.shape(x)[1:]))
        return tuple(shapes)

    def blob_path(self, shapes: tuple) -> Path:
        """The cache file of the model compiled for ``shapes``."""
        return self.compiler.blob_path(shapes)

    def _request(self, shapes: tuple):
        with self._lock:
            if shapes in self._compiled:
                self._compiled.move_to_end(shapes)
                return self._compiled[shapes]
        request = self._load(shapes).create_infer_request()
        self._keep(shapes, request)
        return request

    def _keep(self, shapes: tuple, request) -> None:
        with self._lock:
            self._compiled[shapes] = request
            while len(self._compiled) > MAX_SHAPES:
                self._compiled.popitem(last=False)

    def _holder(self, shapes: tuple) -> tuple[tuple, object] | None:
        """``(shape, request)`` of the smallest compiled shape at least as large as ``shapes`` in every
        input (None: none). The request is taken under the lock, so a concurrent eviction from the
        compiled-shape cache cannot force a recompile of the holder."""
        with self._lock:
            fits = [k for k in self._compiled
                    if all(a[0] == b[0] and a[1] == b[1] and a[2] >= b[2] and a[3] >= b[3]
                           for a, b in zip(k, shapes, strict=True))]
            if not fits:
                return None
            best = min(fits, key=lambda k: k[0][2] * k[0][3])
            self._compiled.move_to_end(best)
            return best, self._compiled[best]

    def _compile_in_background(self, shapes: tuple) -> None:
        def work() -> None:
            try:
                if not self.blob_path(shapes).is_file() and not self.compiler.compile_in_child(shapes):
                    return  # shutting down: no compile here (a later frame of that size tries again)
                self._keep(shapes, self._load(shapes).create_infer_request())
            except Exception as e:  # noqa: BLE001 - reported; the caller's thread retries and raises
                LOG.warning("openvino: background compile of %s failed (%s); the next frame of that size "
                            "compiles in the caller's thread", [list(s[1:]) for s in shapes], e)
                with self._lock:
                    self._failed.add(shapes)
            finally:
                with self._lock:
                    self._pending.pop(shapes, None)

        with self._lock:
            if shapes in self._pending or self.compiler.closing:
                return
            thread = threading.Thread(target=work, name="ov-compile", daemon=True)
            self._pending[shapes] = thread
        LOG.info("openvino: new input size %s: compiling it in the background, frames run padded meanwhile",
                 [list(s[1:]) for s in shapes])
        thread.start()

    def _run_padded(self, holder: tuple[tuple, object], feeds: dict[str, np.ndarray],
                    hw: tuple[int, int]) -> list[np.ndarray]:
        """Run ``feeds`` edge-padded to the compiled ``holder`` (shape, request); outputs cropped to ``hw``."""
        shape, request = holder
        big = {}
        for n, _, H, W in shape:
            x = feeds[n]
            if self._u8(n):  # (1, h, w, 3) bytes
                big[n] = np.pad(x, [(0, 0), (0, H - x.shape[1]), (0, W - x.shape[2]), (0, 0)], mode="edge")
            else:
                big[n] = np.pad(np.asarray(x, dtype=np.float32),
                                [(0, 0), (0, 0), (0, H - x.shape[2]), (0, W - x.shape[3])], mode="edge")
        outs = self._infer(request, big)
        return [o[..., :hw[0], :hw[1]].copy() for o in outs]

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop background compiles' child processes and wait (up to ``timeout_s``) for the background
        threads, so none is cut off at interpreter exit; no size is compiled here any more."""
        self.compiler.stop()
        with self._lock:
            threads = list(self._pending.values())
        for t in threads:
            t.join(timeout_s)

    def _mark_used(self, shapes: tuple) -> None:
        """Record in :data:`LIVE_USE` that frames ran at ``shapes`` now, once per engine, for a live
        node's engine only (:meth:`prepare` records too); imports, parity runs and offline tools do not
        count. The order :meth:`cached_shapes` (and so the preload) goes by."""
        if not self.live or shapes in self._used:
            return
        self._used.add(shapes)
        record_live_use(self.cache_dir, self.blob_path(shapes).name)

    def _load(self, shapes: tuple):
        """The compiled model for ``shapes``, imported from the cache or compiled (:attr:`compiler`)."""
        return self.compiler.load(shapes)

    # running ---------------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        shapes = self._feed_shapes(feeds)
        self._mark_used(shapes)
        with self._lock:
            ready = shapes in self._compiled
            failed = shapes in self._failed
        if not ready and not failed and self.background_compile and self.model.kind in ("sr", "depth_sr"):
            # SR graphs map an input of H x W to outputs of H x W: a padded run crops back exactly
            holder = self._holder(shapes)
            if holder is not None:
                self._compile_in_background(shapes)
                self.padded_runs[shapes] = self.padded_runs.get(shapes, 0) + 1
                return self._run_padded(holder, feeds, shapes[0][2:])
        return self._infer(self._request(shapes), feeds)

    def _infer(self, request, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request.infer({n: np.ascontiguousarray(feeds[n], dtype=np.uint8 if self._u8(n) else np.float32)
                       for n in self.model.inputs})
        # the request owns its output buffers: copy before the next run overwrites them
        return [np.array(request.get_output_tensor(i).data, dtype=np.float32, copy=True)
                for i in range(len(self.model.outputs))]

    def _run_float(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``feeds`` (every input ``(1, C, H, W) float32``) run at their own size's compiled model: the
        start-up parity run. Not :meth:`run`: not a frame's use, never padded."""
        feeds = self._as_fed(feeds)  # the same image as bytes: feeds["rgb"] holds multiples of 1/255
        return self._infer(self._request(self._feed_shapes(feeds)), feeds)

    def describe(self) -> str:
        threads = self.threads or "default"
        text = f"CPU {self.cpu['name']} {self.precision} ({self.precision_reason}), threads {threads}"
        if self.rgb_u8:
            text += ", RGB fed as bytes"
        if self.startup.get("preloaded"):
            text += ", cached input sizes ready: " + ", ".join(f"{w}x{h}" for h, w in self.startup["preloaded"])
        if self.cache_note:
            text += f"; {self.cache_note}"
        return text


def rgb_bytes(rgb: np.ndarray) -> np.ndarray:
    """``(1, 3, H, W) float32`` in [0, 1] -> ``(1, H, W, 3) uint8`` (rounded)."""
    return np.ascontiguousarray(np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1))


def OpenVinoBackend(model: str = "", device: str = "cpu", precision: str = "auto", threads: int = 0,
                    **options) -> NetBackend:
    """Build the openvino backend for an installed model name or model directory.

    Options: ``opt_hw``, ``cache_dir``, ``parity``, ``parity_tol``, ``background_compile``, ``preload``,
    ``rgb_u8`` (default on here; see :class:`OvEngine`), and the
    task backend's (``keep_holes``).

    Raises:
        BackendError: missing OpenVINO, a device other than cpu, a bad precision, model refused, or
            the start-up parity check failed.
    """
    if device not in ("cpu", "CPU", "auto", None):
        raise BackendError(f"openvino runs on the CPU here (device cpu), not '{device}'")
    md = load_for_engine(model, (GRAPH,))
    engine_opts = {k: options.pop(k) for k in ("opt_hw", "cache_dir", "parity", "parity_tol", "background_compile",
                                               "rgb_u8", "preload") if k in options}
    engine_opts.setdefault("rgb_u8", True)  # the SR task backend feeds bytes when the engine takes them
    return task_backend(md, OvEngine(md, precision, threads, **engine_opts), **options)


# the backend's public names, those of ov_cache, ov_graph and ov_parity it uses included (importable from here)
__all__ = ["AUTO_BF16", "BF16_MEASURED_KINDS", "BLOB_FORMAT", "COMPILE_NICE", "COMPILE_TIMEOUT_S", "INSTALL",
           "LIVE_USE", "MAX_SHAPES", "PARITY_TOL", "PATCH_ID", "PRECISIONS", "RGB_U8_ID", "OpenVinoBackend",
           "OvEngine", "cache_key", "choose_cache_dir", "cpu_flags", "native_bf16", "parity_feeds", "read_blob",
           "read_blob_header", "read_live_use", "record_live_use", "resolve_precision", "rgb_bytes", "rgb_u8_input",
           "user_cache_root", "write_blob"]
