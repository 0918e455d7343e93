"""The openvino backend's compiled-model cache: compiling a graph for one set of input shapes, and
keeping the compiled blobs on disk so the next start imports them instead.

Cache: each compiled model is exported to ``<model>/ov_cache/<key>.ovblob``. The key hashes the
OpenVINO version, the CPU (name, architecture, capabilities), the ONNX file's sha256, the
precision, the input shapes and the graph edits (:mod:`~depth_refine_ros.backends.ov_graph`), like
the TensorRT engine cache, so a changed graph, CPU or OpenVINO never reuses a stale blob. A blob
file is one JSON header line (key, sha256 and size of the blob, versions) and the blob; a blob whose
size or sha256 disagrees with its header, or that OpenVINO cannot import, is rebuilt with a warning
naming the file. When the model directory is not writable (a system install) the cache goes to
``$XDG_CACHE_HOME/depth_refine_ros/openvino`` (default ``~/.cache/...``), logged and shown in the
engine's ``describe()``. ``cache_dir`` overrides both. :data:`LIVE_USE` in the cache directory
records when a live node's frames last ran at each cached size (the engine's start-up preload goes
by it, the most recently used first).

Shapes are ``(name, C, H, W)`` per graph input, in the graph's ``(1, C, H, W)`` layout (pixels),
whatever layout the engine is fed.

Background compiles run in a child process at niceness :data:`COMPILE_NICE`
(:mod:`~depth_refine_ros.backends.ov_compile`), which writes the blob, and the engine imports it:
OpenVINO's CPU compile runs in the calling thread and takes a whole core, which on a 2-core machine
is a core taken from the live frames at normal priority; and a niced thread in the node is no answer,
as the threads OpenVINO starts from it inherit the niceness and could later run frames.

Measurements: docs/log/history.md#measurements-moved-from-module-docstrings
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

from depth_refine_ros.backends.base import BackendError
from depth_refine_ros.backends.ov_graph import rgb_u8_input
from depth_refine_ros.data.modeldir import GRAPH, ModelDir

LOG = logging.getLogger("depth_refine_ros.openvino")
BLOB_FORMAT = "depth_refine_ros.ovblob/1"
# niceness of the background compile's child process (ov_compile): below every frame's work
COMPILE_NICE = 19
COMPILE_TIMEOUT_S = 300.0  # a child compile that takes longer is killed; the thread compiles instead
LIVE_USE = "live_use.json"  # in the cache dir: blob name -> when a live node's frames last ran at its size


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


def read_graph(core, model: ModelDir):
    """``model``'s ONNX graph read by OpenVINO (an ``openvino.Model``, dynamic height/width).

    Raises:
        BackendError: OpenVINO cannot read it.
    """
    try:
        return core.read_model(str(model.graph_path))
    except RuntimeError as e:
        raise BackendError(f"{model.graph_path}: OpenVINO cannot read the graph: {e}") from e


class OvCompiler:
    """Compiled models of one graph on this CPU, for given input shapes, through the blob cache.

    Every setting that goes into the cache key is fixed here; the engine resolves them first.

    Args:
        ov: the ``openvino`` module.
        core: the ``openvino.Core`` the models are compiled and imported with.
        model: verified model directory.
        precision: ``fp32`` or ``bf16`` as resolved (cache key, blob header, child job).
        config: OpenVINO's compile configuration (the engine's dict: precision hint, threads, ...).
        threads: inference threads the engine asked for (0 = OpenVINO's default), for the child job.
        cpu: ``{"name", "arch", "caps"}`` of OpenVINO's CPU device (cache key).
        version: OpenVINO's version (cache key).
        cache_dir: where blobs go (:func:`choose_cache_dir`).
        onnx_sha256: the ONNX file's sha256 (cache key).
        graph_edits: the edits made to the graph (:mod:`~depth_refine_ros.backends.ov_graph` IDs; cache key).
        rgb_u8: compile the ``rgb`` input as ``(1, H, W, 3) uint8``
            (:func:`~depth_refine_ros.backends.ov_graph.rgb_u8_input`).
        graph: the graph already read (and edited) by the engine, or None: read at the first build.
        lock: the engine's lock; guards :attr:`closing` and :attr:`children` together with the
            engine's own state, so a background compile is never started after :meth:`stop`.

    Attributes:
        events: per shape loaded, ``'imported'``, ``'built'`` or ``'rebuilt (...)'``.
        child_compiles: per shape compiled in a child process, its report (``nice``, ``seconds`` of
            the compile there, ``wall_s`` including the process start).
        children: running compile processes (``subprocess.Popen``), stopped by :meth:`stop`.
        closing: set by :meth:`stop`: no more child compiles.
    """

    def __init__(self, ov, core, model: ModelDir, *, precision: str, config: dict, threads: int, cpu: dict,
                 version: str, cache_dir: Path, onnx_sha256: str, graph_edits: str, rgb_u8: bool,
                 graph=None, lock: threading.Lock) -> None:
        self.ov, self.core, self.model = ov, core, model
        self.precision, self.config, self.threads = precision, config, threads
        self.cpu, self.version, self.cache_dir = cpu, version, cache_dir
        self.onnx_sha256, self.graph_edits, self.rgb_u8 = onnx_sha256, graph_edits, rgb_u8
        self._graph = graph
        self.lock = lock
        self.events: dict[tuple, str] = {}
        self.child_compiles: dict[tuple, dict] = {}
        self.children: set = set()
        self.closing = False

    def blob_path(self, shapes: tuple) -> Path:
        """The cache file of the model compiled for ``shapes``."""
        key = cache_key(self.version, self.cpu, self.onnx_sha256, self.precision,
                        {n: [1, c, h, w] for n, c, h, w in shapes}, self.graph_edits)
        return self.cache_dir / f"{key}.ovblob"

    def cached_shapes(self) -> list[tuple]:
        """Input shapes whose blob in :attr:`cache_dir` this compiler would load (the same key) and
        that a live node's frames used, the most recently used first (:data:`LIVE_USE`)."""
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

    def import_blob(self, shapes: tuple, path: Path):
        """The compiled model read from its cache file ``path``.

        Raises:
            BackendError, RuntimeError (OpenVINO cannot deserialise it), ValueError, OSError.
        """
        compiled = self.core.import_model(read_blob(path), "CPU", self.config)
        self.events[shapes] = "imported"
        LOG.info("openvino: imported %s", path)
        return compiled

    def load(self, shapes: tuple):
        """The compiled model for ``shapes``: imported from the cache, else compiled (and cached).

        Raises:
            BackendError: OpenVINO cannot read or compile the graph.
        """
        path = self.blob_path(shapes)
        if path.is_file():
            try:
                return self.import_blob(shapes, path)
            except (BackendError, RuntimeError, ValueError, OSError) as e:
                # RuntimeError: OpenVINO's own error for a blob it cannot deserialise
                LOG.warning("openvino: cached compiled model %s is unusable (%s): rebuilding it", path,
                            str(e).splitlines()[0] if str(e) else type(e).__name__)
                self.events[shapes] = f"rebuilt ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        compiled = self._build(shapes, path)
        self.events.setdefault(shapes, "built")
        return compiled

    def _read_graph(self):
        if self._graph is None:
            self._graph = read_graph(self.core, self.model)
        return self._graph

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
                       {"model": self.model.name, "onnx_sha256": self.onnx_sha256, "openvino": self.version,
                        "cpu": self.cpu, "precision": self.precision, "graph_edits": self.graph_edits,
                        "rgb_input": "u8 NHWC" if self.rgb_u8 else "f32 NCHW",
                        "shapes": {n: [1, c, h, w] for n, c, h, w in shapes}})
        except OSError as e:  # a full disk must not stop inference: run uncached, say so
            LOG.warning("openvino: cannot write the compiled-model cache %s: %s", path, e)
        LOG.info("openvino: compiled %s %s (%s) in %.2f s -> %s", self.model.name,
                 [list(s[1:]) for s in shapes], self.precision, time.monotonic() - t0, path)
        return compiled

    def compile_in_child(self, shapes: tuple) -> bool:
        """Build the blob for ``shapes`` in a child process at niceness :data:`COMPILE_NICE` (module
        docstring); its report goes to :attr:`child_compiles`. Never raises.

        Returns:
            Whether the caller should go on to :meth:`load` it: True when the blob is there, or after
            a failure (the caller then builds it itself; the warning says why); False while shutting
            down (:meth:`stop` stopped the child) or when SIGINT / SIGTERM ended the child (a
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
            with self.lock:
                if self.closing:
                    return False
                child = subprocess.Popen([sys.executable, "-P", "-m", "depth_refine_ros.backends.ov_compile",
                                          json.dumps(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, env=env)
                self.children.add(child)
            try:
                out, err = child.communicate(timeout=COMPILE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                out, err = child.communicate()
                err += f"\nno result in {COMPILE_TIMEOUT_S:.0f} s"
            finally:
                with self.lock:
                    self.children.discard(child)
            if self.closing or child.returncode in (-signal.SIGINT, -signal.SIGTERM):
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

    def stop(self) -> None:
        """No more child compiles: set :attr:`closing` and terminate the running ones (SIGTERM)."""
        with self.lock:
            self.closing = True
            children = list(self.children)
        for child in children:
            child.terminate()
