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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FORMAT = "depth_refine_ros.model/1"
CARD = "card.yaml"
WEIGHTS = "model.safetensors"
GRAPH = "model.onnx"
KINDS = ("sr", "depth_sr", "mono", "sddr")
# models shipped inside the package (issue: trained models live here)
PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "model_zoo"


class ModelError(RuntimeError):
    """A model directory is missing, incomplete, corrupt or inconsistent; the message says which file."""


@dataclass(frozen=True)
class ModelDir:
    """A verified model directory.

    Attributes:
        path: the directory.
        card: the parsed model card.
    """

    path: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def kind(self) -> str:
        return str(self.card["kind"])

    @property
    def config(self) -> dict[str, Any]:
        return self.card["config"]

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (the pipeline pads)."""
        return int(self.card["size_multiple"])

    @property
    def inputs(self) -> list[str]:
        return list(self.card["graph"]["inputs"])

    @property
    def outputs(self) -> list[str]:
        return list(self.card["graph"]["outputs"])

    @property
    def graph_path(self) -> Path:
        return self.path / GRAPH

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    def sha256(self, fname: str) -> str:
        return str(self.card["files"][fname]["sha256"])

    def describe(self) -> str:
        """One line: name, kind, preset, training status."""
        status = self.card.get("training", {}).get("status", "unknown")
        return f"{self.name} ({self.kind}/{self.card.get('preset', 'custom')}, {status})"


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


def read_card(path: Path) -> dict[str, Any]:
    """Parse and check a card's required fields (no file verification).

    Raises:
        ModelError: unreadable YAML, wrong format tag, or missing fields.
    """
    card_path = path / CARD
    try:
        card = yaml.safe_load(card_path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ModelError(f"{card_path}: cannot read the model card: {e}") from e
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: not a mapping")
    if card.get("format") != FORMAT:
        raise ModelError(f"{card_path}: format is {card.get('format')!r}, expected {FORMAT!r}")
    missing = [k for k in ("name", "kind", "config", "graph", "files", "size_multiple") if k not in card]
    if missing:
        raise ModelError(f"{card_path}: missing fields: {', '.join(missing)}")
    if card["kind"] not in KINDS:
        raise ModelError(f"{card_path}: kind {card['kind']!r} is not one of {', '.join(KINDS)}")
    return card


def verify_files(path: Path, card: dict[str, Any], only: tuple[str, ...] | None = None) -> None:
    """Check every file the card lists: present, same size, same sha256.

    Args:
        only: check only these file names (e.g. just the graph for ONNX Runtime).

    Raises:
        ModelError: naming the file and the expected vs actual value.
    """
    for fname, meta in card["files"].items():
        if only is not None and fname not in only:
            continue
        f = path / fname
        if not f.is_file():
            raise ModelError(f"{f}: missing (the model card lists it, sha256 {meta['sha256']})")
        size = f.stat().st_size
        if size != int(meta["bytes"]):
            raise ModelError(f"{f}: size {size} bytes, expected {meta['bytes']} (truncated or replaced)")
        actual = sha256_file(f)
        if actual != meta["sha256"]:
            raise ModelError(f"{f}: sha256 {actual}, expected {meta['sha256']} (corrupt or replaced)")


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
        if fname not in card["files"]:
            raise ModelError(f"{path / CARD}: lists no {fname} (files: {', '.join(card['files'])})")
    verify_files(path, card, need)
    return ModelDir(path, card)


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
