"""Model directories: the one format training hands to the runtime (no torch needed to read one).

Layout of ``<dir>/``::

    card.yaml           model card: kind, config, graph I/O, normalisation, units, valid scales
                        and sizes, training data and metrics, sha256 + size of every file below
    model.safetensors   weights (the torch backend rebuilds the network from card.config)
    model.onnx          the graph with dynamic height/width (ONNX Runtime, TensorRT)

Loading verifies every file named in the card (present, size, sha256) and refuses the directory
with a message naming the file and the expected vs actual value. Installed models are found by
name on the search path (:func:`search_paths`); every command takes a name or a path.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

FORMAT = "depth_refine_ros.model/1"
CARD = "card.yaml"
WEIGHTS = "model.safetensors"
GRAPH = "model.onnx"
# prompt_depth: RGB + a low-res metric depth "prompt" -> metric depth (an imported Prompt Depth Anything;
# docs/foundation_models.md)
KINDS = ("sr", "depth_sr", "mono", "sddr", "prompt_depth")
# models shipped inside the package (issue: trained models live here)
PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "model_zoo"


class ModelError(RuntimeError):
    """A model directory is missing, incomplete, corrupt or inconsistent; the message says which file."""


class _NoAliasDumper(yaml.SafeDumper):
    """YAML without anchors/aliases: a card repeats a list rather than writing ``&id001`` / ``*id001``."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class FileEntry:
    """A file a card vouches for: its sha256 (hex) and size in bytes."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class ModelCard:
    """The model card (``card.yaml``): everything the runtime needs to run a model, and its record.

    Attributes:
        name: the model's name (what ``model:=`` takes when installed).
        kind: one of :data:`KINDS`.
        config: the network's config dataclass as a dict (rebuilds the ``nn.Module``).
        graph: the ONNX graph's description: ``file``, ``opset``, ``inputs``, ``outputs``,
            ``layout``, ``dynamic``.
        files: file name -> :class:`FileEntry`, for every file loading verifies.
        size_multiple: input height and width must be multiples of this (the pipeline pads).
        preset: preset name, or ``custom``.
        model_class: the ``nn.Module`` class name.
        params: number of parameters.
        weights: the safetensors file name.
        normalisation: how inputs and outputs are normalised (text per tensor).
        units: ``depth_in`` / ``depth_out`` units (``metres`` or ``relative``).
        scales: valid ``(min, max)`` upsampling factors (SR kinds), else None.
        input_hw: ``(H, W)`` network input size (monocular kind), else None.
        training: the training record: ``status``, data, held-out groups, stages, metrics, ...
        format: the card format tag, :data:`FORMAT`.
        extra: any other top-level field (``created``, ``torch``, ...), kept on a round trip.
    """

    name: str
    kind: str
    config: dict[str, Any]
    graph: dict[str, Any]
    files: dict[str, FileEntry]
    size_multiple: int
    preset: str = "custom"
    model_class: str = ""
    params: int = 0
    weights: str = "model.safetensors"
    normalisation: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    scales: tuple[int, int] | None = None
    input_hw: tuple[int, int] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    format: str = "depth_refine_ros.model/1"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = CARD) -> ModelCard:
        """Check and type a parsed card.

        Raises:
            ModelError: wrong format tag, missing fields, unknown kind, malformed entries.
        """
        if not isinstance(d, dict):
            raise ModelError(f"{where}: not a mapping")
        if d.get("format") != FORMAT:
            raise ModelError(f"{where}: format is {d.get('format')!r}, expected {FORMAT!r}")
        missing = [k for k in ("name", "kind", "config", "graph", "files", "size_multiple") if k not in d]
        if missing:
            raise ModelError(f"{where}: missing fields: {', '.join(missing)}")
        if d["kind"] not in KINDS:
            raise ModelError(f"{where}: kind {d['kind']!r} is not one of {', '.join(KINDS)}")
        known = {f.name for f in fields(cls)} - {"extra"}
        try:
            files = {str(k): FileEntry(str(v["sha256"]), int(v["bytes"])) for k, v in d["files"].items()}
            sc = d.get("scales")
            scales = (int(sc["min"]), int(sc["max"])) if sc else None
            hw = d.get("input_hw")
            return cls(
                name=str(d["name"]), kind=str(d["kind"]), config=dict(d["config"]), graph=dict(d["graph"]),
                files=files, size_multiple=int(d["size_multiple"]), preset=str(d.get("preset") or "custom"),
                model_class=str(d.get("model_class", "")), params=int(d.get("params", 0)),
                weights=str(d.get("weights", WEIGHTS)), normalisation=dict(d.get("normalisation") or {}),
                units=dict(d.get("units") or {}), scales=scales,
                input_hw=(int(hw[0]), int(hw[1])) if hw else None, training=dict(d.get("training") or {}),
                format=str(d["format"]), extra={k: v for k, v in d.items() if k not in known})
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise ModelError(f"{where}: malformed field ({type(e).__name__}: {e})") from None

    def to_dict(self) -> dict[str, Any]:
        """The card as plain YAML-able data, in the order a reader expects."""
        d: dict[str, Any] = {
            "format": self.format, "name": self.name, "kind": self.kind, "preset": self.preset,
            "model_class": self.model_class, "config": self.config, "params": self.params,
            "graph": self.graph, "weights": self.weights, "size_multiple": self.size_multiple,
            "normalisation": self.normalisation, "units": self.units, "training": self.training,
        }
        if self.scales is not None:
            d["scales"] = {"min": self.scales[0], "max": self.scales[1]}
        if self.input_hw is not None:
            d["input_hw"] = list(self.input_hw)
        d.update(self.extra)
        d["files"] = {k: {"sha256": v.sha256, "bytes": v.bytes} for k, v in self.files.items()}
        return d

    def to_yaml(self) -> str:
        """``card.yaml`` text: block style, field order kept, no YAML anchors."""
        return yaml.dump(self.to_dict(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)

    @property
    def status(self) -> str:
        """``trained``, ``untrained``, ... (``training.status``)."""
        return str(self.training.get("status", "unknown"))


@dataclass(frozen=True)
class ModelDir:
    """A verified model directory.

    Attributes:
        path: the directory.
        card: the model card.
        verified: the files whose hashes were checked against the card when it was loaded.
    """

    path: Path
    card: ModelCard
    verified: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def kind(self) -> str:
        return self.card.kind

    @property
    def config(self) -> dict[str, Any]:
        return self.card.config

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (the pipeline pads)."""
        return self.card.size_multiple

    @property
    def inputs(self) -> list[str]:
        return list(self.card.graph["inputs"])

    @property
    def outputs(self) -> list[str]:
        return list(self.card.graph["outputs"])

    @property
    def graph_path(self) -> Path:
        return self.path / GRAPH

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    def sha256(self, fname: str) -> str:
        return self.card.files[fname].sha256

    def describe(self) -> str:
        """One line: name, kind, preset, training status."""
        return f"{self.name} ({self.kind}/{self.card.preset}, {self.card.status})"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def search_paths() -> list[Path]:
    """Where installed models are looked up by name, first match wins.

    ``$DEPTH_REFINE_MODEL_PATH`` (os.pathsep-separated), then ``~/.local/share/depth_refine_ros/models``,
    then the models shipped inside the package.
    """
    paths = [Path(p) for p in os.environ.get("DEPTH_REFINE_MODEL_PATH", "").split(os.pathsep) if p]
    paths.append(Path.home() / ".local" / "share" / "depth_refine_ros" / "models")
    paths.append(PACKAGE_MODELS)
    return paths


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The directory of a model given by path (anything containing a card) or by installed name.

    Raises:
        ModelError: nothing found; the message lists where it looked and the installed names.
    """
    p = Path(name_or_path).expanduser()
    if (p / CARD).is_file():
        return p
    if p.exists():
        raise ModelError(f"{p}: not a model directory ({CARD} is missing)")
    for root in search_paths():
        cand = root / str(name_or_path)
        if (cand / CARD).is_file():
            return cand
    names = [m.name for m in installed()]
    raise ModelError(f"no model '{name_or_path}': not a directory with {CARD} and not installed in "
                     f"{', '.join(map(str, search_paths()))} (installed: {', '.join(names) or 'none'})")


def read_card(path: Path) -> ModelCard:
    """Parse and check a directory's card (no file verification).

    Raises:
        ModelError: unreadable YAML, wrong format tag, missing or malformed fields.
    """
    card_path = path / CARD
    try:
        raw = yaml.safe_load(card_path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ModelError(f"{card_path}: cannot read the model card: {e}") from e
    return ModelCard.from_dict(raw, str(card_path))


def write_card(path: Path, card: ModelCard) -> None:
    """Write ``card`` as ``path/card.yaml``."""
    (path / CARD).write_text(card.to_yaml())


def verify_files(path: Path, card: ModelCard, only: tuple[str, ...] | None = None) -> None:
    """Check every file the card lists: present, same size, same sha256.

    Args:
        only: check only these file names (e.g. just the graph for ONNX Runtime).

    Raises:
        ModelError: naming the file and the expected vs actual value.
    """
    for fname, meta in card.files.items():
        if only is not None and fname not in only:
            continue
        f = path / fname
        if not f.is_file():
            raise ModelError(f"{f}: missing (the model card lists it, sha256 {meta.sha256})")
        size = f.stat().st_size
        if size != meta.bytes:
            raise ModelError(f"{f}: size {size} bytes, expected {meta.bytes} (truncated or replaced)")
        actual = sha256_file(f)
        if actual != meta.sha256:
            raise ModelError(f"{f}: sha256 {actual}, expected {meta.sha256} (corrupt or replaced)")


def load_model_dir(name_or_path: str | os.PathLike, need: tuple[str, ...] | None = None) -> ModelDir:
    """Resolve, read and verify a model directory.

    Args:
        name_or_path: installed name or directory path.
        need: files this caller will read (default: all in the card); each must be listed.

    Raises:
        ModelError: see :func:`resolve`, :func:`read_card`, :func:`verify_files`.
    """
    path = resolve(name_or_path)
    card = read_card(path)
    for fname in need or ():
        if fname not in card.files:
            raise ModelError(f"{path / CARD}: lists no {fname} (files: {', '.join(card.files)})")
    verify_files(path, card, need)
    return ModelDir(path, card, frozenset(card.files) if need is None else frozenset(need))


@dataclass(frozen=True)
class Installed:
    """One entry of :func:`installed`: a directory with a card (``error`` set when unreadable)."""

    name: str
    path: Path
    kind: str
    summary: str
    error: str = ""


def installed() -> list[Installed]:
    """Every model directory on the search path (cards read, files not hashed), first name wins."""
    seen: dict[str, Installed] = {}
    for root in search_paths():
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir()):
            if not (d / CARD).is_file() or d.name in seen:
                continue
            try:
                card = read_card(d)
                md = ModelDir(d, card)
                seen[d.name] = Installed(d.name, d, md.kind, md.describe())
            except ModelError as e:
                seen[d.name] = Installed(d.name, d, "?", "unreadable", str(e))
    return list(seen.values())
