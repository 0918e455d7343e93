"""The ``openvino`` backend: the model's ONNX graph compiled by OpenVINO for the CPU.

Precision: ``fp32`` (alias ``f32``) or ``bf16``; ``auto`` (the default) is bf16 where the CPU runs
it natively (OpenVINO lists ``BF16`` in the CPU's ``OPTIMIZATION_CAPABILITIES``: AVX512_BF16 or AMX)
*and* the graph's depth standardisation could be kept in f32 (SR and depth-only models, below),
else fp32. bf16 on a CPU without it is refused rather than emulated slowly.

bf16 and the depth input: OpenVINO's CPU plugin runs every node in bf16 except the graph's tail.
The SR graphs standardise their depth input per image, a node outside the tail, so the raw depth
would be rounded to 8 significant bits (steps of 0.4 %) before the mean is subtracted, and that
rounding erases the networks' gain over bicubic. :func:`~depth_refine_ros.backends.ov_graph.keep_standardisation_f32`
edits the graph at load time so the standardisation runs in f32; measured on 8 held-out RGB-D-D
frames (RMSE, cm, ``sr_faster`` with its stage-d weights; OpenVINO fp32 = ONNX Runtime to 1e-3 cm; for
``sr_lite`` the unedited loss is larger, x8 1.76 -> 2.84 cm on 4 frames against bicubic's 2.90):

    scale   fp32    bf16 unedited   bf16 edited (what runs)
    x4      1.785   1.802           1.779
    x8      2.419   2.612           2.419
    x16     3.751   4.345           3.755

Monocular graphs (RGB input only: nothing to round but 8-bit colour) run bf16 under ``auto`` too,
measured as accurate (:data:`BF16_MEASURED_KINDS`) and about twice as fast. Any other graph without
the pattern (an SDDR refiner, a foreign export) runs fp32 under ``auto``; asked for explicitly it
runs bf16 with a warning. The start-up parity check (noise input,
below) bounds the graph's arithmetic, not a model's accuracy: measure a model in bf16 with
``depth-refine eval-dataset`` before relying on it.

Shapes: the graph has dynamic height/width; each input size the backend meets is compiled as a
static-shape model (measured here ~10-20 % faster than one dynamic-shape model) and kept, the
last :data:`MAX_SHAPES` in memory. The size given as ``opt_hw`` (default 480x640 output) is
compiled at start-up, so a camera of that size never waits on its first frame. With
``background_compile`` (what the live nodes use) a frame of a new size does not wait for its
compile either: while that size is imported (about 0.2 s from the cache) or compiled, frames run on
the smallest compiled size that holds them, edge-padded and cropped back, as the pipeline already
pads to the model's multiple. The per-image statistics then include more padding, so those few
frames differ slightly from the exact size's output (measured in ``test_openvino.py``); a new size
no compiled size holds is compiled in the caller's thread. The background compile runs in a child
process at niceness 19 (``python -m depth_refine_ros.backends.ov_compile``), which writes the blob
into the cache, and the background thread imports it: OpenVINO's CPU compile (about 0.75 s of one
core for ``sr_faster``) took a core from the live frames on 2 cores at normal priority, and a niced
thread in this process is no answer, as the threads OpenVINO starts from it (measured: 2-3 per
compile) inherit the niceness and could later run frames. If the child fails, the background thread
compiles itself, with a warning.
With ``preload`` (what the live nodes use) the start-up also imports the cached sizes live nodes'
frames last ran at (recorded in the cache's :data:`LIVE_USE`, with what ``depth-refine build-engine
--backend openvino --hw`` compiled ahead), the most recently used first, and runs each once, so a
camera met before is ready on its first frame: on 2 cores the padded runs beside a background import
made the first six frames of a 512x384 stream 41-74 ms, against 29-39 ms preloaded.

Cache: each compiled model is exported to ``<model>/ov_cache/<key>.ovblob``. The key hashes the
OpenVINO version, the CPU (name, architecture, capabilities), the ONNX file's sha256, the
precision and the input shapes, like the TensorRT engine cache, so a changed graph, CPU or
OpenVINO never reuses a stale blob. A blob file is one JSON header line (key, sha256 and size of
the blob, versions) and the blob; a blob whose size or sha256 disagrees with its header, or that
OpenVINO cannot import, is rebuilt with a warning naming the file. Graph edits (the bf16
standardisation, ``rgb_u8``) are part of the key too. When the model directory is not
writable (a system install) the cache goes to ``$XDG_CACHE_HOME/depth_refine_ros/openvino`` (default
``~/.cache/...``), logged and shown in :meth:`OvEngine.describe`. ``cache_dir`` overrides both.

RGB as bytes (``rgb_u8``, on for guided SR models built through :func:`OpenVinoBackend`): the
compiled graph takes the camera's ``(1, H, W, 3) uint8`` image and converts it to the ``(1, 3, H, W)
float32 / 255`` the ONNX graph expects itself (OpenVINO's pre-processing, fused into the first
layers), so the pipeline skips its float conversion of the image and feeds a quarter of the bytes.
The values are the same: through the pipeline the shipped ``sr_faster``'s output on a test frame
was bit-equal, the engine alone differs by float rounding (x / 255 computed two ways). In
``depth-refine bench`` (``sr_faster``, 640x480) the ``normalise`` stage went from 0.56-0.60 to
0.18-0.22 ms; the inference changed by less than its run-to-run spread (docs/results.md).

Parity: at start-up the compiled model is run on a fixed input and compared with ONNX Runtime on the
same graph; the largest difference relative to the reference output's range must stay within
:data:`PARITY_TOL` for the precision or the backend refuses to run (a :class:`BackendError` naming
the precision, the output and the measured difference).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.net import Engine, NetBackend, load_for_engine, task_backend
from depth_refine_ros.backends.ov_graph import PATCH_ID, keep_standardisation_f32
from depth_refine_ros.core.foundation import card_input_hw
from depth_refine_ros.core.modeldir import GRAPH, ModelDir
from depth_refine_ros.core.net_input import padded_size

INSTALL = "pip install openvino (pinned in requirements.txt; Intel/AMD x86-64 and ARM64 CPUs)"
LOG = logging.getLogger("depth_refine_ros.openvino")
PRECISIONS = ("fp32", "bf16")
_ALIASES = {"f32": "fp32", "fp32": "fp32", "bf16": "bf16"}
_OV_HINT = {"fp32": "f32", "bf16": "bf16"}
# Start-up parity tolerance: max |OpenVINO - ONNX Runtime| / (range of the ORT output), inputs
# uniform in [0.1, 0.9] at the opt size. Measured on the shipped models (512x640 and 256x320):
#   fp32: <= 3.3e-7 (SR kinds), <= 1.7e-6 (mono_small): op fusion and summation order only.
#   bf16: 2.3e-3 .. 5.9e-3 (SR kinds; mean |diff| 2e-5 .. 1e-3), 1.3e-2 .. 1.4e-2 (mono_small):
#         bf16 keeps 8 significant bits.
# The tolerances sit a few times above the worst measured value: a wrong compile, a broken blob
# or a graph OpenVINO misreads is off by far more (order 1 of the range). Noise input has no
# smooth depth for the rounding to hurt, so this bounds arithmetic, not accuracy (module docstring).
PARITY_TOL = {"fp32": 1e-5, "bf16": 3e-2}
# precision auto picks bf16 on CPUs with native bf16 when this is True and the graph's depth
# standardisation was kept in f32 (module docstring)
AUTO_BF16 = True
# model kinds without a depth input whose bf16 accuracy was measured equal to fp32 (auto may pick bf16)
BF16_MEASURED_KINDS = {"mono": "mono_small, 16 held-out RGB-D-D frames: median-scaled AbsRel 0.1491 fp32, 0.1492 bf16"}
MAX_SHAPES = 4
BLOB_FORMAT = "depth_refine_ros.ovblob/1"
RGB_U8_ID = "+rgb_u8_nhwc/1"  # appended to graph_edits (the cache key) when rgb_u8 is on
# niceness of the background compile's child process (ov_compile): below every frame's work
COMPILE_NICE = 19
COMPILE_TIMEOUT_S = 300.0  # a child compile that takes longer is killed; the thread compiles instead
LIVE_USE = "live_use.json"  # in the cache dir: blob name -> when a live node's frames last ran at its size


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


def cache_key(ov_version: str, cpu: dict, onnx_sha256: str, precision: str, shapes: dict,
              graph_edits: str = "") -> str:
    """The compiled-model cache key (hex): everything that makes a blob invalid when it changes."""
    blob = json.dumps({"openvino": ov_version, "cpu": cpu, "onnx": onnx_sha256, "precision": precision,
                       "shapes": shapes, **({"graph_edits": graph_edits} if graph_edits else {})},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _dir_writable(path: Path) -> bool:
    """Whether files can be created in ``path`` (created if missing); tried, not guessed from modes."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/depth_refine_ros/openvino`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "depth_refine_ros" / "openvino"


def choose_cache_dir(model: ModelDir, cache_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Where compiled blobs of ``model`` go, and a note for logs ('' when beside the model).

    Raises:
        BackendError: an explicit ``cache_dir`` that is not writable.
    """
    if cache_dir:
        d = Path(cache_dir).expanduser()
        if not _dir_writable(d):
            raise BackendError(f"openvino cache_dir {d} is not writable")
        return d, f"cache {d} (cache_dir)"
    beside = model.path / "ov_cache"
    if _dir_writable(beside):
        return beside, ""
    d = user_cache_root() / f"{model.name}-{model.sha256(GRAPH)[:12]}"
    if not _dir_writable(d):
        raise BackendError(f"neither {beside} nor {d} is writable for the OpenVINO compiled-model cache; "
                           "set cache_dir")
    return d, f"model directory {model.path} is read-only: compiled-model cache in {d}"


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
        parity_tol: override :data:`PARITY_TOL` for this precision.
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
        self._onnx_sha = model.sha256(GRAPH)
        self._graph = None  # the read ONNX model (edited for bf16), read once
        self.graph_edits = ""  # ov_graph.PATCH_ID when the graph was edited (part of the cache key)
        if self.precision == "bf16":
            self._prepare_bf16(auto=self.precision_reason.startswith("auto"))
        self.rgb_u8 = bool(rgb_u8) and model.kind == "sr" and "rgb" in model.inputs
        if self.rgb_u8:
            self.graph_edits += RGB_U8_ID
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()  # _compiled and _pending, shared with the compile thread
        self._pending: dict[tuple, threading.Thread] = {}
        self._failed: set[tuple] = set()  # background compiles that failed: compiled in the caller's thread
        self.background_compile = bool(background_compile)
        self.padded_runs: dict[tuple, int] = {}
        self.child_compiles: dict[tuple, dict] = {}  # per shape: the compile process's report
        self._closing = False  # set by close(): no more background compiles
        self._children: set = set()  # running compile processes (subprocess.Popen), stopped by close()
        self._used: set[tuple] = set()  # sizes whose use this engine has recorded (LIVE_USE)
        self.live = int(preload) > 0  # a live node's engine: records the sizes frames run at
        self.events: dict[tuple, str] = {}
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
                self._check_parity(hw, self._parity_tol() if parity_tol is None else parity_tol)
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
        used = read_live_use(self.cache_dir)
        found = []
        for path in self.cache_dir.glob("*.ovblob"):
            if path.name not in used:
                continue
            meta = read_blob_header(path)
            dims = meta.get("shapes") if meta else None
            try:
                shapes = tuple((n, int(dims[n][1]), int(dims[n][2]), int(dims[n][3])) for n in self.model.inputs)
                if self.blob_path(shapes) == path:
                    found.append(((used[path.name], path.name), shapes))
            except (KeyError, TypeError, ValueError, IndexError, OSError):
                continue  # another model's, a foreign or vanished file: not ours to load
        return [shapes for _, shapes in sorted(found, key=lambda f: f[0], reverse=True)]

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
                request = self._import(shapes, self.blob_path(shapes)).create_infer_request()
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

    def _read_graph(self):
        if self._graph is None:
            try:
                self._graph = self.core.read_model(str(self.model.graph_path))
            except RuntimeError as e:
                raise BackendError(f"{self.model.graph_path}: OpenVINO cannot read the graph: {e}") from e
        return self._graph

    def _prepare_bf16(self, auto: bool) -> None:
        """Keep the depth standardisation in f32 (ov_graph), or fall back to fp32 under ``auto``."""
        graph = self._read_graph()
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
        key = cache_key(self.version, self.cpu, self._onnx_sha, self.precision,
                        {n: [1, c, h, w] for n, c, h, w in shapes}, self.graph_edits)
        return self.cache_dir / f"{key}.ovblob"

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
                if not self.blob_path(shapes).is_file() and not self._compile_in_child(shapes):
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
            if shapes in self._pending or self._closing:
                return
            thread = threading.Thread(target=work, name="ov-compile", daemon=True)
            self._pending[shapes] = thread
        LOG.info("openvino: new input size %s: compiling it in the background, frames run padded meanwhile",
                 [list(s[1:]) for s in shapes])
        thread.start()

    def _compile_in_child(self, shapes: tuple) -> bool:
        """Build the blob for ``shapes`` in a child process at niceness :data:`COMPILE_NICE` (module
        docstring); its report goes to :attr:`child_compiles`. Never raises.

        Returns:
            Whether the caller should go on to :meth:`_load` it: True when the blob is there, or after
            a failure (the caller then builds it itself; the warning says why); False while shutting
            down (:meth:`close` stopped the child) or when SIGINT / SIGTERM ended the child (a
            terminal's Ctrl-C reaches the node's whole process group).
        """
        import subprocess
        import sys

        job = {"model": str(self.model.path), "precision": self.precision, "threads": self.threads,
               "cache_dir": str(self.cache_dir), "rgb_u8": self.rgb_u8, "nice": COMPILE_NICE,
               "shapes": [list(s) for s in shapes], "blob": self.blob_path(shapes).name}
        # the child imports what this process imports: its sys.path, not the working directory (-P)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        t0 = time.monotonic()
        report, why = None, ""
        try:
            with self._lock:
                if self._closing:
                    return False
                child = subprocess.Popen([sys.executable, "-P", "-m", "depth_refine_ros.backends.ov_compile",
                                          json.dumps(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, env=env)
                self._children.add(child)
            try:
                out, err = child.communicate(timeout=COMPILE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                out, err = child.communicate()
                err += f"\nno result in {COMPILE_TIMEOUT_S:.0f} s"
            finally:
                with self._lock:
                    self._children.discard(child)
            if self._closing or child.returncode in (-signal.SIGINT, -signal.SIGTERM):
                return False
            lines = out.strip().splitlines()
            if child.returncode == 0 and lines:
                report = json.loads(lines[-1])
            why = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        except (OSError, TypeError, ValueError, subprocess.SubprocessError) as e:
            why = str(e) or type(e).__name__
        if not isinstance(report, dict) or not self.blob_path(shapes).is_file():
            LOG.warning("openvino: the compile process for %s failed (%s): compiling in this process",
                        [list(s[1:]) for s in shapes], why or "no report")
            return True
        report["wall_s"] = time.monotonic() - t0
        self.child_compiles[shapes] = report
        LOG.info("openvino: compiled %s in a child process at niceness %s (%.2f s)",
                 [list(s[1:]) for s in shapes], report.get("nice"), report["wall_s"])
        return True

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
        with self._lock:
            self._closing = True
            children = list(self._children)
        for child in children:
            child.terminate()
        with self._lock:
            threads = list(self._pending.values())
        for t in threads:
            t.join(timeout_s)

    def _import(self, shapes: tuple, path: Path):
        """The compiled model read from its cache file ``path``.

        Raises:
            BackendError, RuntimeError (OpenVINO cannot deserialise it), ValueError, OSError.
        """
        compiled = self.core.import_model(read_blob(path), "CPU", self.config)
        self.events[shapes] = "imported"
        LOG.info("openvino: imported %s", path)
        return compiled

    def _mark_used(self, shapes: tuple) -> None:
        """Record in :data:`LIVE_USE` that frames ran at ``shapes`` now, once per engine, for a live
        node's engine only (:meth:`prepare` records too); imports, parity runs and offline tools do not
        count. The order :meth:`cached_shapes` (and so the preload) goes by."""
        if not self.live or shapes in self._used:
            return
        self._used.add(shapes)
        record_live_use(self.cache_dir, self.blob_path(shapes).name)

    def _load(self, shapes: tuple):
        path = self.blob_path(shapes)
        if path.is_file():
            try:
                return self._import(shapes, path)
            except (BackendError, RuntimeError, ValueError, OSError) as e:
                # RuntimeError: OpenVINO's own error for a blob it cannot deserialise
                LOG.warning("openvino: cached compiled model %s is unusable (%s): rebuilding it", path,
                            str(e).splitlines()[0] if str(e) else type(e).__name__)
                self.events[shapes] = f"rebuilt ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        compiled = self._build(shapes, path)
        self.events.setdefault(shapes, "built")
        return compiled

    def _build(self, shapes: tuple, path: Path):
        t0 = time.monotonic()
        graph = self._read_graph().clone()
        graph.reshape({n: [1, c, h, w] for n, c, h, w in shapes})
        if self.rgb_u8:
            graph = rgb_u8_input(self.ov, graph)
        try:
            compiled = self.core.compile_model(graph, "CPU", self.config)
        except RuntimeError as e:
            raise BackendError(f"{self.model.graph_path}: OpenVINO cannot compile the graph for "
                               f"{shapes} ({self.precision}): {e}") from e
        try:
            write_blob(path, bytes(compiled.export_model().getvalue()),
                       {"model": self.model.name, "onnx_sha256": self._onnx_sha, "openvino": self.version,
                        "cpu": self.cpu, "precision": self.precision, "graph_edits": self.graph_edits,
                        "rgb_input": "u8 NHWC" if self.rgb_u8 else "f32 NCHW",
                        "shapes": {n: [1, c, h, w] for n, c, h, w in shapes}})
        except OSError as e:  # a full disk must not stop inference: run uncached, say so
            LOG.warning("openvino: cannot write the compiled-model cache %s: %s", path, e)
        LOG.info("openvino: compiled %s %s (%s) in %.2f s -> %s", self.model.name,
                 [list(s[1:]) for s in shapes], self.precision, time.monotonic() - t0, path)
        return compiled

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

    def _parity_tol(self) -> float:
        """:data:`PARITY_TOL` for the precision; for an imported foundation graph (a ViT: deeper sums)
        in fp32, the tolerance its import checked OpenVINO against (1e-4; docs/foundation_models.md#parity)."""
        tol = PARITY_TOL[self.precision]
        if self.precision == "fp32" and "imported" in self.model.card.extra:
            checked = self.model.card.extra.get("parity", {}).get("tolerance", {})
            tol = max(tol, float(checked.get("openvino_fp32", tol)))
        return tol

    def _check_parity(self, hw: tuple[int, int], tol: float) -> None:
        from depth_refine_ros.backends.onnxruntime_backend import OrtEngine

        feeds = parity_feeds(self.model, hw, rgb_bytes=self.rgb_u8)
        ref = OrtEngine(self.model, "cpu", self.threads).run(feeds)
        feeds = self._as_fed(feeds)  # the same image as bytes: feeds["rgb"] holds multiples of 1/255
        got = self._infer(self._request(self._feed_shapes(feeds)), feeds)  # not run(): not a frame's use
        for name, r, g in zip(self.model.outputs, ref, got, strict=True):
            err = float(np.max(np.abs(r - g)) / (np.ptp(r) + 1e-6))
            self.parity_err[name] = err
            if not np.isfinite(err) or err > tol:
                raise BackendError(
                    f"OpenVINO {self.precision} output '{name}' of {self.model.name} differs from ONNX Runtime "
                    f"by {err:.3g} of its range at {hw[0]}x{hw[1]} (tolerance for {self.precision}: {tol:g}): "
                    f"refusing to run; try precision fp32, or delete {self.cache_dir} if the cache is suspect")

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


def parity_feeds(model: ModelDir, hw: tuple[int, int], seed: int = 0, rgb_bytes: bool = False
                 ) -> dict[str, np.ndarray]:
    """The fixed start-up parity input: every graph input uniform in [0.1, 0.9], ``(1, C, H, W)
    float32``; with ``rgb_bytes`` the ``rgb`` values are rounded to multiples of 1/255 (exactly what
    a byte image gives, for the ``rgb_u8`` engine)."""
    rng = np.random.default_rng(seed)
    feeds = {n: (0.1 + 0.8 * rng.random((1, 3 if n == "rgb" else 1, *hw))).astype(np.float32)
             for n in model.inputs}
    if rgb_bytes and "rgb" in feeds:
        feeds["rgb"] = (np.rint(feeds["rgb"] * 255) / 255).astype(np.float32)
    return feeds


def rgb_bytes(rgb: np.ndarray) -> np.ndarray:
    """``(1, 3, H, W) float32`` in [0, 1] -> ``(1, H, W, 3) uint8`` (rounded)."""
    return np.ascontiguousarray(np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1))


def rgb_u8_input(ov, graph):
    """``graph`` with its ``rgb`` input taken as ``(1, H, W, 3) uint8`` and converted inside the
    graph to the ``(1, 3, H, W) float32 / 255`` the ONNX graph expects (OpenVINO's
    PrePostProcessor; the graph must already have a static shape)."""
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(graph)
    ppp.input("rgb").tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input("rgb").model().set_layout(ov.Layout("NCHW"))
    ppp.input("rgb").preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    return ppp.build()


def write_blob(path: Path, blob: bytes, meta: dict) -> None:
    """Write a cache file (header line + blob) atomically: a killed write leaves no half file."""
    header = dict(meta, format=BLOB_FORMAT, bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        f.write(blob)
    tmp.replace(path)


def read_live_use(cache_dir: Path) -> dict[str, int]:
    """:data:`LIVE_USE` of ``cache_dir``: blob file name -> last live use (ns since the epoch); {} when
    missing or unreadable."""
    try:
        data = json.loads((cache_dir / LIVE_USE).read_text())
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: no record
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}


def record_live_use(cache_dir: Path, blob_name: str) -> None:
    """Set ``blob_name``'s last live use to now in :data:`LIVE_USE` (atomically; names of blobs no
    longer there are dropped). Best effort: a read-only or full cache only loses the order."""
    try:
        data = {k: v for k, v in read_live_use(cache_dir).items() if (cache_dir / k).is_file()}
        data[blob_name] = time.time_ns()
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{LIVE_USE}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(cache_dir / LIVE_USE)
    except OSError as e:
        LOG.debug("openvino: cannot record the use of %s in %s: %s", blob_name, cache_dir, e)


def read_blob_header(path: Path) -> dict | None:
    """The header of a cache file (its first line) without reading the blob; None when it is not one."""
    try:
        with open(path, "rb") as f:
            meta = json.loads(f.readline(1 << 16))
    except Exception:  # noqa: BLE001 - any foreign or damaged file (json may even recurse too deep)
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == BLOB_FORMAT else None


def read_blob(path: Path) -> bytes:
    """The blob of a cache file, verified against its header.

    Raises:
        BackendError: unreadable header, wrong format, or a size/sha256 mismatch.
    """
    data = path.read_bytes()
    head, sep, blob = data.partition(b"\n")
    try:
        meta = json.loads(head) if sep else None
    except (ValueError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != BLOB_FORMAT:
        raise BackendError("not a depth_refine_ros OpenVINO cache file (bad header)")
    if len(blob) != meta.get("bytes") or hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise BackendError(f"blob is {len(blob)} bytes / sha256 mismatch against its header "
                           f"({meta.get('bytes')} bytes): corrupt or truncated")
    return blob


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
