"""RGB-D folders on disk -> frames, for every layout of ``../shared/data`` and a generic one.

Layouts (:func:`detect_layout` picks one from the folder's contents):
    ``rgbdd``           ``rgb/<ts>_RGB.jpg`` + ``depth/<ts>_HR_gt.png`` (uint16 mm); group = capture day
    ``rgbdd_real_lr``   ``RGB/``, ``Depth/`` and ``DepthLR/`` (the phone ToF's own low-res depth)
    ``depth_enh``       ``middlebury/``, ``lu/``, ``nyu_v2_test/``, each ``RGB/`` + ``Depth/`` (uint8
                        disparity levels, or ``.npy`` metres); one of these sub-folders on its own
                        is the ``depth_enh_set`` layout
    ``middlebury2005``  ``<scene>/color.png``, ``disparity.png``, ``lr_noisy_x{2,4,8,16}.png``
    ``sevenscenes``     ``frame-NNNNNN.color.jpg`` + ``frame-NNNNNN.depth.png`` (+ camera-intrinsics.txt)
    ``generic``         ``rgb/<id>.(png|jpg)`` + ``depth/<id>.(png: uint16 mm | npy: float32 m)``, optional
                        ``depth_lr/<id>.*`` (a real low-res input) and ``intrinsics.txt`` (``fx fy cx cy``
                        of the RGB image); ids pair by name, else by their digits (``rgb00012`` ~
                        ``depth00012``, as realsense_seq names them); group = id before the first ``_``
Depth is kept in the dataset's own unit (:attr:`Frame.unit`): ``m``, or ``level`` for the 8-bit
disparity sets, which go through the pipeline as ``level * 0.01`` pseudo-metres
(:attr:`Frame.to_metres`: the networks normalise per frame, the classical upsamplers are linear,
and the pipeline's metric range checks then pass); errors on them are reported in levels, the
unit those benchmarks are quoted in.
"""
from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

import numpy as np

from depth_refine_ros.core.intrinsics import Intrinsics

LEVEL_TO_M = 0.01


@dataclass
class Frame:
    """One RGB-D frame.

    Attributes:
        dataset: layout-level name, e.g. ``rgbdd`` or ``depth_enh/lu``.
        name: frame id. group: capture day / scene (splits never cut a group).
        rgb: ``(H, W, 3) uint8``. depth: ``(H, W) float32`` ground truth in ``unit``, NaN invalid.
        unit: ``m`` or ``level`` (8-bit disparity). to_metres: factor into pipeline metres.
        lr: supplied low-res inputs (same unit): ``native`` (a real sensor's), or ``x<s>`` (a
            benchmark's own degraded input at factor ``s``).
        intrinsics: of ``rgb``, when the dataset has them.
    """

    dataset: str
    name: str
    group: str
    rgb: np.ndarray
    depth: np.ndarray
    unit: str = "m"
    to_metres: float = 1.0
    lr: dict[str, np.ndarray] = field(default_factory=dict)
    intrinsics: Intrinsics | None = None


class DatasetError(ValueError):
    """The folder is not a dataset we can read; the message says what was expected."""


def _imread_rgb(path: pathlib.Path) -> np.ndarray:
    import cv2

    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if im is None:
        raise DatasetError(f"{path}: not a readable image")
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


def read_depth(path: pathlib.Path, unit: str = "m") -> np.ndarray:
    """A depth file -> ``(H, W) float32`` in ``unit``, NaN invalid.

    ``.npy`` holds float metres; 16-bit PNG is millimetres (0 and 65535 = no data); 8-bit PNG is
    disparity levels (``unit='level'``).
    """
    import cv2

    if path.suffix == ".npy":
        d = np.load(path).astype(np.float32)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise DatasetError(f"{path}: not a readable depth image")
        if raw.ndim == 3:
            raw = raw[..., 0]
        d = raw.astype(np.float32)
        if raw.dtype == np.uint16:
            d[raw == 65535] = 0
            d /= 1000.0
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    return d


def _digits(name: str) -> str:
    m = re.findall(r"\d+", name)
    return m[-1] if m else name


def _pair(a_dir: pathlib.Path, b_dir: pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """Files of ``a_dir`` with their partner in ``b_dir``: same stem, else the same digits."""
    bs = [p for p in sorted(b_dir.iterdir()) if p.is_file()]
    by_stem = {p.stem: p for p in bs}
    by_digits = {_digits(p.stem): p for p in bs}
    out = []
    for a in sorted(p for p in a_dir.iterdir() if p.is_file()):
        b = by_stem.get(a.stem) or by_digits.get(_digits(a.stem))
        if b is not None:
            out.append((a, b))
    return out


def detect_layout(root: pathlib.Path) -> str:
    """Name the layout of ``root`` (see the module docstring).

    Raises:
        DatasetError: none matches; the message lists what each layout needs.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if (root / "rgb").is_dir() and any((root / "depth").glob("*_HR_gt.png")):
        return "rgbdd"
    if (root / "RGB").is_dir() and (root / "DepthLR").is_dir():
        return "rgbdd_real_lr"
    if any((root / s / "RGB").is_dir() for s in ("middlebury", "lu", "nyu_v2_test")):
        return "depth_enh"
    if (root / "RGB").is_dir() and (root / "Depth").is_dir():
        return "depth_enh_set"
    if any(p.is_dir() and (p / "disparity.png").exists() for p in root.iterdir()):
        return "middlebury2005"
    if any(root.glob("frame-*.color.*")):
        return "sevenscenes"
    if (root / "rgb").is_dir() and (root / "depth").is_dir():
        return "generic"
    raise DatasetError(
        f"{root}: no known dataset layout. Expected rgb/ + depth/ (generic or RGB-D-D), RGB/ + Depth/ "
        "[+ DepthLR/], middlebury/ lu/ nyu_v2_test/ sub-folders, <scene>/disparity.png, or frame-*.color.jpg")


def _read_intrinsics_txt(path: pathlib.Path, hw: tuple[int, int]) -> Intrinsics | None:
    if not path.exists():
        return None
    vals = np.loadtxt(path).ravel()
    h, w = hw
    if vals.size >= 9:  # a 3x3 K matrix
        return Intrinsics(float(vals[0]), float(vals[4]), float(vals[2]), float(vals[5]), w, h)
    if vals.size == 4:
        return Intrinsics(*map(float, vals), w, h)
    raise DatasetError(f"{path}: expected 'fx fy cx cy' or a 3x3 matrix, got {vals.size} numbers")


def _rgbdd(root, name) -> list[Frame]:
    out = []
    for rgb in sorted((root / "rgb").glob("*_RGB.*")):
        ts = rgb.name.split("_")[0]
        d = root / "depth" / f"{ts}_HR_gt.png"
        if d.exists():
            out.append(Frame(name, ts, ts[:8], _imread_rgb(rgb), read_depth(d)))
    return out


def _rgbdd_real_lr(root, name) -> list[Frame]:
    out = []
    for rgb in sorted((root / "RGB").glob("*_RGB.*")):
        ts = rgb.name.split("_")[0]
        gt, lr = root / "Depth" / f"{ts}_HR_gt.png", root / "DepthLR" / f"{ts}_LR_fill_depth.png"
        if gt.exists() and lr.exists():
            out.append(Frame(name, ts, ts[:8], _imread_rgb(rgb), read_depth(gt), lr={"native": read_depth(lr)}))
    return out


def _depth_enh_set(root, name) -> list[Frame]:
    out = []
    for rgb, d in _pair(root / "RGB", root / "Depth"):
        unit = "m" if d.suffix == ".npy" else "level"
        out.append(Frame(name, _digits(rgb.stem), _digits(rgb.stem), _imread_rgb(rgb), read_depth(d, unit),
                         unit=unit, to_metres=1.0 if unit == "m" else LEVEL_TO_M))
    return out


def _middlebury2005(root, name) -> list[Frame]:
    out = []
    for scene in sorted(p for p in root.iterdir() if (p / "disparity.png").exists()):
        lr = {f"x{s}": read_depth(scene / f"lr_noisy_x{s}.png", "level")
              for s in (2, 4, 8, 16) if (scene / f"lr_noisy_x{s}.png").exists()}
        out.append(Frame(name, scene.name, scene.name, _imread_rgb(scene / "color.png"),
                         read_depth(scene / "disparity.png", "level"), "level", LEVEL_TO_M, lr))
    return out


def _sevenscenes(root, name) -> list[Frame]:
    out = []
    for rgb in sorted(root.glob("frame-*.color.*")):
        stem = rgb.name.split(".")[0]
        d = root / f"{stem}.depth.png"
        if d.exists():
            f = Frame(name, stem, name, _imread_rgb(rgb), read_depth(d))
            f.intrinsics = _read_intrinsics_txt(root / "camera-intrinsics.txt", f.depth.shape)
            out.append(f)
    return out


def _generic(root, name) -> list[Frame]:
    lr_dir = root / "depth_lr"
    lrs = dict(_pair(root / "rgb", lr_dir)) if lr_dir.is_dir() else {}
    out = []
    for rgb, d in _pair(root / "rgb", root / "depth"):
        f = Frame(name, rgb.stem, rgb.stem.split("_")[0], _imread_rgb(rgb), read_depth(d))
        if rgb in lrs:
            f.lr["native"] = read_depth(lrs[rgb])
        f.intrinsics = _read_intrinsics_txt(root / "intrinsics.txt", f.rgb.shape[:2])
        out.append(f)
    return out


_READERS = {"rgbdd": _rgbdd, "rgbdd_real_lr": _rgbdd_real_lr, "depth_enh_set": _depth_enh_set,
            "middlebury2005": _middlebury2005, "sevenscenes": _sevenscenes, "generic": _generic}


def load_dataset(root: str | pathlib.Path, groups: set[str] | None = None, exclude: set[str] | None = None,
                 limit: int | None = None) -> list[Frame]:
    """Read every frame of a dataset folder (any layout), optionally only/without some groups.

    Args:
        root: the folder. groups: keep only these groups. exclude: drop these groups.
        limit: at most this many frames (per sub-set for ``depth_enh``), in name order.

    Raises:
        DatasetError: unknown layout, or no frame left.
    """
    root = pathlib.Path(root)
    layout = detect_layout(root)
    if layout == "depth_enh":
        parts = [(root / s, f"{root.name}/{s}") for s in ("middlebury", "lu", "nyu_v2_test") if (root / s).is_dir()]
        readers = [(p, n, _depth_enh_set) for p, n in parts]
    else:
        readers = [(root, root.name, _READERS[layout])]
    frames: list[Frame] = []
    for path, name, reader in readers:
        got = [f for f in reader(path, name)
               if (groups is None or f.group in groups) and not (exclude and f.group in exclude)]
        frames += got[:limit] if limit else got
    if not frames:
        raise DatasetError(f"{root}: layout '{layout}' but no frames (groups={groups}, exclude={exclude})")
    return frames


# Middlebury 2014 "motorcycle" as scikit-image ships it (quarter size; calibration from its docstring).
MOTORCYCLE_F_PX, MOTORCYCLE_DOFFS_PX, MOTORCYCLE_BASELINE_MM = 994.978, 31.086, 193.001
MOTORCYCLE_CX, MOTORCYCLE_CY = 311.193, 254.877


def skimage_motorcycle() -> Frame:
    """The Middlebury 2014 motorcycle scene from scikit-image (installed from PyPI, no download).

    Depth ``Z = f * B / (d + doffs)`` (f = 994.978 px, B = 193.001 mm, doffs = 31.086 px); the
    disparity's ``inf`` (no ground truth) becomes NaN. About 2.1 .. 5.0 m, 741 x 500.

    Raises:
        DatasetError: scikit-image is not installed (the message names the pip command).
    """
    try:
        from skimage import data as skdata
    except ImportError:
        raise DatasetError("the demo scene comes with scikit-image: pip install scikit-image") from None
    left, _, disp = skdata.stereo_motorcycle()
    disp = np.asarray(disp, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = MOTORCYCLE_F_PX * MOTORCYCLE_BASELINE_MM / (disp + MOTORCYCLE_DOFFS_PX) / 1000.0
    depth[~np.isfinite(disp) | ~np.isfinite(depth) | (depth <= 0)] = np.nan
    h, w = depth.shape
    intr = Intrinsics(MOTORCYCLE_F_PX, MOTORCYCLE_F_PX, MOTORCYCLE_CX, MOTORCYCLE_CY, w, h)
    return Frame("middlebury2014_motorcycle", "motorcycle", "motorcycle", np.ascontiguousarray(left[..., :3]),
                 depth.astype(np.float32), intrinsics=intr)
