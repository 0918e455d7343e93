"""Degradation models: how low-resolution input depth is made from ground truth (numpy only).

Training and evaluation use the same seeded functions, so a number measured on "x8 ais" means
the same input everywhere. Every function takes ``(H, W) float32`` metres (NaN invalid) and an
integer factor, and returns ``(H // factor, W // factor) float32`` metres with NaN where the
simulated sensor has no value. ``rgb`` (``(H, W, 3) uint8``) is used by models that depend on
the surface's appearance (dark surfaces return no ToF signal).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from depth_refine_ros.core.sampling import recentre_decimated
from depth_refine_ros.core.upsample import fill_invalid, resize2d


@functools.lru_cache(maxsize=64)
def aa_cubic_matrix(n_in: int, n_out: int, a: float = -0.5) -> np.ndarray:
    """``(n_out, n_in)`` antialiased bicubic downsampling matrix (MATLAB ``imresize`` / PIL style).

    The Keys kernel (a = -0.5, MATLAB's) is stretched by the factor ``n_in / n_out`` so every
    input pixel in the footprint contributes; half-pixel aligned, border replicated, rows sum to 1.
    """
    scale = n_in / n_out
    x = (np.arange(n_out) + 0.5) * scale - 0.5
    m = np.zeros((n_out, n_in))
    support = 2 * scale
    for j in range(n_out):
        lo, hi = int(np.floor(x[j] - support)), int(np.ceil(x[j] + support))
        for i in range(lo, hi + 1):
            d = abs(i - x[j]) / scale
            if d >= 2:
                continue
            wgt = (a + 2) * d**3 - (a + 3) * d**2 + 1 if d <= 1 else a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
            m[j, min(max(i, 0), n_in - 1)] += wgt
    out = (m / m.sum(axis=1, keepdims=True)).astype(np.float32)
    out.flags.writeable = False  # cached: shared by every caller
    return out


def _crop(depth: np.ndarray, factor: int) -> np.ndarray:
    h, w = depth.shape[:2]
    return depth[: h - h % factor, : w - w % factor]


def bicubic(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """The literature's protocol: bicubic downsampling of the (hole-filled) ground truth.

    Antialiased (:func:`aa_cubic_matrix`, as MATLAB ``imresize`` and PIL do). Holes stay holes
    (the centre sample of each block decides).
    """
    d = _crop(depth, factor)
    filled, valid = fill_invalid(d)
    h, w = d.shape[0] // factor, d.shape[1] // factor
    out = (aa_cubic_matrix(d.shape[0], h) @ filled @ aa_cubic_matrix(d.shape[1], w).T).astype(np.float32)
    out[~valid[factor // 2::factor, factor // 2::factor][:h, :w]] = np.nan
    return out


def block_noise(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None,
                sigma_rel: float = 0.02) -> np.ndarray:
    """Middlebury benchmark kind: block mean of ``factor x factor`` + Gaussian noise.

    The benchmark adds sigma = 5 on 0..255 disparity (about 2 % of the range): here the noise
    sigma is ``sigma_rel`` x the frame's depth range.
    """
    rng = np.random.default_rng(seed)
    d = _crop(depth, factor)
    h, w = d.shape[0] // factor, d.shape[1] // factor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        blocks = np.nanmean(d.reshape(h, factor, w, factor), axis=(1, 3))
    span = float(np.nanmax(blocks) - np.nanmin(blocks)) if np.isfinite(blocks).any() else 1.0
    return (blocks + rng.normal(0.0, sigma_rel * span, blocks.shape)).astype(np.float32)


def ais(depth: np.ndarray, factor: int = 8, seed: int = 0, rgb: np.ndarray | None = None,
        drop: tuple[float, float] = (0.09, 0.50), attenuation: tuple[float, float] = (0.9, 1.0)) -> np.ndarray:
    """AIS 2024 challenge kind (docs/architecture.md, METHODS 1): bicubic x``factor``, 9..50 % of the pixels dropped
    (NaN: the challenge's zeros), in clusters as well as single pixels, and values attenuated by a
    random per-frame factor in ``attenuation`` plus a smooth per-pixel gain field."""
    rng = np.random.default_rng(seed)
    lr = bicubic(depth, factor)
    h, w = lr.shape
    frac = rng.uniform(*drop)
    # half the dropped pixels are single ones, half come in blobs (thresholded smooth noise)
    blob = resize2d(rng.random((max(h // 6, 2), max(w // 6, 2))).astype(np.float32), (h, w))
    mask = (blob > np.quantile(blob, 1 - frac / 2)) | (rng.random((h, w)) < frac / 2)
    gain = rng.uniform(*attenuation) * (1 + 0.03 * (resize2d(rng.random((4, 4)).astype(np.float32), (h, w)) - 0.5))
    out = (lr * gain).astype(np.float32)
    out[mask] = np.nan
    return out


def tof(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None,
        noise_k: float = 0.0025, edge_hole_m: float = 0.08, dark: float = 25.0, flying: float = 0.3) -> np.ndarray:
    """A ToF / Kinect-class sensor.

    * depth-dependent noise: sigma = ``noise_k`` x z^2 (metres; Kinect-like quadratic growth);
    * holes at depth edges (neighbour jump > ``edge_hole_m``) and on dark surfaces
      (RGB luminance < ``dark`` when ``rgb`` is given: no returned signal);
    * flying pixels: a fraction ``flying`` of the remaining edge pixels take a value between
      the foreground and background depth;
    * 1 mm quantisation. Sampling is point sampling (a ToF pixel sees its own footprint).
    """
    rng = np.random.default_rng(seed)
    d = _crop(depth, factor)
    h, w = d.shape[0] // factor, d.shape[1] // factor
    c = factor // 2
    z = d[c::factor, c::factor][:h, :w].astype(np.float32).copy()
    zf, _ = fill_invalid(z)
    jump = np.zeros_like(zf)
    jump[:, 1:] = np.maximum(jump[:, 1:], np.abs(np.diff(zf, axis=1)))
    jump[1:, :] = np.maximum(jump[1:, :], np.abs(np.diff(zf, axis=0)))
    edge = jump > edge_hole_m
    fly = edge & (rng.random((h, w)) < flying)
    far = np.maximum(zf, np.roll(zf, 1, axis=1))
    near = np.minimum(zf, np.roll(zf, 1, axis=1))
    out = zf + rng.normal(0.0, 1.0, (h, w)) * noise_k * zf**2
    out[fly] = near[fly] + rng.random(int(fly.sum())) * (far[fly] - near[fly])
    holes = edge & ~fly
    if rgb is not None:
        lum = _crop(rgb, factor).mean(axis=2)[c::factor, c::factor][:h, :w]
        holes |= lum < dark
    out = np.round(out * 1000) / 1000
    out[holes | ~np.isfinite(z)] = np.nan
    return out.astype(np.float32)


def tof_fill(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None,
             max_shift_px: int = 6, max_fatten_px: int = 4, blur: tuple[float, float] = (0.0, 1.0),
             noise_k: float = 0.002) -> np.ndarray:
    """A phone / ToF module's hole-filled depth stream registered to the RGB camera.

    The kind RGB-D-D's real low-res frames are (``*_LR_fill_depth.png``): no holes, but soft and
    off the RGB edges. Real rigs register depth to colour only approximately (extrinsic and
    time-sync error; the 7-Scenes data is off by 10..15 px of 640), so the depth edges cannot be
    trusted to sit where the RGB edges are; a net trained only on the literature's bicubic protocol
    copies them where they are.

    * misregistration: the whole depth map is translated by a random integer ``(dx, dy)``, each in
      ``[-max_shift_px, max_shift_px]`` full-resolution pixels (borders replicated);
    * foreground fattening: near surfaces grow by a random ``0..max_fatten_px`` full-resolution
      pixels (a min filter: mixed returns and the hole fill favour the nearer surface);
    * footprint: antialiased bicubic area sampling, then a random extra 3x3 binomial blur of
      strength ``blur`` (each ToF pixel integrates its footprint; mixed pixels at edges);
    * depth-dependent noise sigma = ``noise_k`` x z^2, 1 mm quantisation;
    * holes filled from their neighbours, as the sensor pipeline's fill does.

    ``rgb`` is unused (kept for the common signature).
    """
    rng = np.random.default_rng(seed)
    d = _crop(depth, factor)
    filled, _ = fill_invalid(d)
    dy, dx = (int(v) for v in rng.integers(-max_shift_px, max_shift_px + 1, size=2))
    r = int(rng.integers(0, max_fatten_px + 1))
    if r:
        grown = np.pad(filled, r, mode="edge")
        h, w = filled.shape
        filled = np.min([grown[i:i + h, j:j + w] for i in range(2 * r + 1) for j in range(2 * r + 1)], axis=0)
    p = max_shift_px
    padded = np.pad(filled, p, mode="edge")
    shifted = padded[p - dy:p - dy + d.shape[0], p - dx:p - dx + d.shape[1]]
    lr = bicubic(shifted, factor)
    a = rng.uniform(*blur)
    k = np.array([a / 4, 1 - a / 2, a / 4], np.float32)  # a=0: identity, a=1: [1/4, 1/2, 1/4]
    for axis in (0, 1):  # separable: rows, then columns
        lr_p = np.pad(lr, [(1, 1) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = lr.shape[axis]
        lr = sum(k[i] * np.take(lr_p, np.arange(i, i + n), axis=axis) for i in range(3))
    out = lr + rng.normal(0.0, 1.0, lr.shape) * noise_k * lr**2
    return (np.round(out * 1000) / 1000).astype(np.float32)


def _fill_nearest(depth: np.ndarray, rng: np.random.Generator, max_iter: int = 64) -> np.ndarray:
    """Fill NaN from a valid neighbour, growing inwards one pixel per step, directions in random order.

    A sensor pipeline's nearest-style hole fill: no blending, so filled edges come out jagged and
    the surface that happens to be nearer in the chosen direction wins (not a smooth mean, as
    :func:`~depth_refine_ros.core.upsample.fill_invalid` gives).
    """
    out = depth.copy()
    offsets = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    h, w = out.shape
    for _ in range(max_iter):
        holes = ~np.isfinite(out)
        if not holes.any() or holes.all():
            break
        for k in rng.permutation(len(offsets)):
            dy, dx = offsets[k]
            p = np.pad(out, 1, mode="constant", constant_values=np.nan)
            nb = p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            take = ~np.isfinite(out) & np.isfinite(nb)
            out[take] = nb[take]
    out[~np.isfinite(out)] = np.nanmedian(depth) if np.isfinite(depth).any() else 0.0
    return out


def tof_reg(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None,
            max_shift_px: int = 3, noise_k: float = 0.002) -> np.ndarray:
    """A phone / ToF module's hole-filled stream *after* registration has undone its fixed offset.

    What reaches the network when sr_node runs with ``registration.mode: auto`` or ``fixed``:
    one global shift cannot undo depth-dependent parallax, so a few pixels of local offset remain
    (RGB-D-D's real frames: 1..4 px between near and far surfaces once their median offset is
    undone), and the sensor's own edge handling leaves jagged, reshaped boundaries rather than the
    soft ones of area sampling (thin parts vanish, blobs grow into the background).

    * residual misregistration: an integer ``(dy, dx)`` in ``[-max_shift_px, max_shift_px]``;
    * :func:`tof` sampling: point samples, holes at depth edges and flying pixels (``rgb`` dark
      surfaces too), noise ~ z^2, 1 mm quantisation;
    * holes filled nearest-style (:func:`_fill_nearest`): no holes left, jagged edges.
    """
    rng = np.random.default_rng(seed)
    d = _crop(depth, factor)
    filled, _ = fill_invalid(d)
    dy, dx = (int(v) for v in rng.integers(-max_shift_px, max_shift_px + 1, size=2))
    p = max_shift_px
    shifted = np.pad(filled, p, mode="edge")[p - dy:p - dy + d.shape[0], p - dx:p - dx + d.shape[1]]
    rgb_c = None if rgb is None else _crop(rgb, factor)
    lr = tof(shifted, factor, seed=int(rng.integers(1 << 31)), rgb=rgb_c, noise_k=noise_k)
    return _fill_nearest(lr, rng).astype(np.float32)


def nearest(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """Every ``factor``-th pixel, from the top-left one: a driver's decimation or ``cv2.resize``
    with ``INTER_NEAREST`` (a lower-resolution sensor grid samples points, not areas).

    No smoothing at all: thin structures alias and edges are jagged. Holes stay holes.
    """
    d = _crop(depth, factor)
    return np.ascontiguousarray(d[::factor, ::factor]).astype(np.float32)


def cubic_noaa(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """Bicubic resize without antialiasing, as ``cv2.resize(..., INTER_CUBIC)`` makes it.

    The kernel is not stretched by the factor, so only the 4x4 pixels around each sample point
    contribute: aliased, unlike the literature's protocol (:func:`bicubic`). Holes stay holes (the
    sample point's nearest pixel decides).
    """
    import cv2

    d = _crop(depth, factor)
    filled, valid = fill_invalid(d)
    h, w = d.shape[0] // factor, d.shape[1] // factor
    out = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    holes = cv2.resize((~valid).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    out[holes] = np.nan
    return out


ROBUST_KINDS = ("bicubic", "nearest", "cubic_noaa", "block_noise", "tof", "ais")
"""What the ``robust`` mix draws from, uniformly: every kind of low-res input the shipped model should handle."""


def robust(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None,
           max_shift_px: int = 2, ais_attenuation: tuple[float, float] = (0.9, 1.0),
           recentre_nearest: bool = False) -> np.ndarray:
    """The training mix for one set of weights that serves every kind of low-res input.

    Per sample, at random:

    * a kind from :data:`ROBUST_KINDS`, at a random strength where it has one (``block_noise``
      sigma 0.5..3 % of the depth range, ``tof`` noise and flying-pixel rates x0.5..2, ``ais``
      drop rate 5..50 %);
    * a misregistration: the ground truth moved by an integer ``(dy, dx)`` in
      ``[-max_shift_px, max_shift_px]`` full-resolution pixels before sampling (real rigs register
      depth to colour only approximately);
    * quantisation to 1 mm (a 16UC1 driver) on half of the samples.

    ``ais_attenuation`` is the range of the ``ais`` kind's per-frame gain (:func:`robust_unscaled`:
    none, so the mix never asks a network to guess a sensor's scale from one frame).
    ``recentre_nearest``: the ``nearest`` kind re-sampled at its block centres, as ``sr_node`` feeds
    decimated input with ``depth.sampling: decimated`` (:func:`robust_recentred`).
    """
    rng = np.random.default_rng(seed)
    kind = ROBUST_KINDS[int(rng.integers(len(ROBUST_KINDS)))]
    sub = int(rng.integers(1 << 31))
    d = _crop(depth, factor)
    dy, dx = (int(v) for v in rng.integers(-max_shift_px, max_shift_px + 1, size=2))
    if dy or dx:
        p = max_shift_px
        d = np.pad(d, p, mode="edge")[p - dy:p - dy + d.shape[0], p - dx:p - dx + d.shape[1]]
    if kind == "block_noise":
        lr = block_noise(d, factor, sub, sigma_rel=float(rng.uniform(0.005, 0.03)))
    elif kind == "tof":
        k = float(rng.uniform(0.5, 2.0))
        lr = tof(d, factor, sub, rgb=None if rgb is None else _crop(rgb, factor),
                 noise_k=0.0025 * k, flying=min(0.3 * k, 0.9))
    elif kind == "ais":
        lr = ais(d, factor, sub, drop=(0.05, float(rng.uniform(0.1, 0.5))), attenuation=ais_attenuation)
    else:
        lr = DEGRADATIONS[kind](d, factor, sub)
        if kind == "nearest" and recentre_nearest:
            lr = recentre_decimated(lr, d.shape)
    if rng.random() < 0.5:
        lr = np.round(lr * 1000) / 1000
    return lr.astype(np.float32)


def robust_unscaled(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """:func:`robust` with the ``ais`` kind's per-frame attenuation off (its holes and the smooth
    +-1.5 % gain field stay): the same draws for the same seed, so it differs from ``robust`` on the
    ``ais`` samples only. A uniform gain error cannot be seen in one frame (docs/results.md#ais-gain)."""
    return robust(depth, factor, seed, rgb, ais_attenuation=(1.0, 1.0))


def robust_recentred(depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """:func:`robust_unscaled` with its decimated (``nearest``) samples re-sampled at the block
    centres, as ``sr_node`` feeds a decimating driver's depth with ``depth.sampling: decimated``
    (:mod:`depth_refine_ros.core.sampling`): the network is then never asked to learn the decimated
    sampling position. The same draws for the same seed as ``robust_unscaled``."""
    return robust(depth, factor, seed, rgb, ais_attenuation=(1.0, 1.0), recentre_nearest=True)


DEGRADATIONS = {"bicubic": bicubic, "nearest": nearest, "cubic_noaa": cubic_noaa, "block_noise": block_noise,
                "ais": ais, "tof": tof, "tof_fill": tof_fill, "tof_reg": tof_reg, "robust": robust,
                "robust_unscaled": robust_unscaled, "robust_recentred": robust_recentred}


def degrade(kind: str, depth: np.ndarray, factor: int, seed: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """Apply the named degradation (see :data:`DEGRADATIONS`)."""
    if kind not in DEGRADATIONS:
        raise KeyError(f"unknown degradation '{kind}' (known: {', '.join(DEGRADATIONS)})")
    return DEGRADATIONS[kind](depth, factor, seed=seed, rgb=rgb)
