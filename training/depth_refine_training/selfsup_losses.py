"""Losses and geometry of self-supervised monocular depth from video (docs/architecture.md, METHODS 5).

The Monodepth2 setting (Godard et al., "Digging Into Self-Supervised Monocular Depth Estimation",
ICCV 2019): a target frame is re-synthesised from its neighbours through the predicted depth and
the relative camera pose; the photometric error ``alpha/2 (1 - SSIM) + (1 - alpha) L1`` (alpha 0.85)
is taken as a per-pixel minimum over the sources, static pixels are auto-masked by the identity
reprojection loss, and an edge-aware smoothness term acts on mean-normalised inverse depth.

The two frequency-aware changes of Chen et al., "Frequency-Aware Self-Supervised Monocular Depth
Estimation" (WACV 2023):

* :func:`auto_blur` blurs, in areas of high image frequency only, the images that enter the
  photometric loss (never the network input);
* :func:`ambiguity` scores pixels whose left/right (or up/down) differences share a sign, colour
  ramps at anti-aliased boundaries where the photometric loss is ambiguous; the loss is masked
  where the target's or the selected warped source's score is >= 0.3.

Conventions: images ``(B, 3, H, W) float32`` in [0, 1]; depth ``(B, 1, H, W) float32`` in the
network's units (metres where the poses are metric); intrinsics ``K (B, 3, 3)`` in pixels of the
image they go with; poses ``T (B, 4, 4)`` map target-camera coordinates to source-camera
coordinates (``X_s = T X_t``), OpenCV camera frame (x right, y down, z forward).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ALPHA = 0.85
"""Weight of the SSIM term in the photometric error (Monodepth2)."""

HF_PIXEL_THRESH = 0.2
"""Auto-Blur: a pixel is high-frequency when its gradient norm (channel-summed) exceeds this."""

HF_POOL = 9
"""Auto-Blur: side of the average-pooling window over the high-frequency map."""

HF_AREA_THRESH = 0.6
"""Auto-Blur: a pixel lies in a high-frequency area when its pooled value exceeds this."""

BLUR_KSIZE, BLUR_SIGMA = 11, 5.0
"""Auto-Blur's Gaussian (kernel side, sigma in pixels): METHODS 5 does not give it; these are the
values of the authors' public code (freq-aware-depth), chosen for a 192 x 640 KITTI input."""

AMBIGUITY_THRESH = 0.3
"""Ambiguity-Masking: pixels whose ambiguity is >= this are left out of the photometric loss."""


# ---------------------------------------------------------------------------------------- photometric
def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM over 3 x 3 windows (reflection padding), as Monodepth2 computes it.

    Args:
        x, y: ``(B, C, H, W) float32`` images in [0, 1].

    Returns:
        ``(B, C, H, W) float32`` SSIM in [-1, 1] (1 where the windows agree exactly).
    """
    c1, c2 = 0.01**2, 0.03**2
    xp, yp = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x, mu_y = F.avg_pool2d(xp, 3, 1), F.avg_pool2d(yp, 3, 1)
    sx = F.avg_pool2d(xp * xp, 3, 1) - mu_x**2
    sy = F.avg_pool2d(yp * yp, 3, 1) - mu_y**2
    sxy = F.avg_pool2d(xp * yp, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sx + sy + c2)
    return num / den


def photometric(pred: torch.Tensor, target: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """``alpha/2 (1 - SSIM) + (1 - alpha) L1``, averaged over channels.

    Args:
        pred, target: ``(B, 3, H, W) float32`` in [0, 1].

    Returns:
        ``(B, 1, H, W) float32`` error, >= 0.
    """
    l1 = (pred - target).abs().mean(1, keepdim=True)
    d_ssim = ((1 - ssim(pred, target)) / 2).clamp(0, 1).mean(1, keepdim=True)
    return alpha * d_ssim + (1 - alpha) * l1


def smoothness(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of mean-normalised inverse depth (Monodepth2).

    Args:
        disp: ``(B, 1, H, W)`` inverse depth (any positive unit: it is divided by its per-image mean).
        img: ``(B, 3, H, W)`` the target image in [0, 1], same size.

    Returns:
        Scalar ``mean(|d_x D*| exp(-|d_x I|)) + mean(|d_y D*| exp(-|d_y I|))``, ``D* = D / mean(D)``.
    """
    d = disp / (disp.mean((2, 3), keepdim=True) + 1e-7)
    dx, dy = (d[..., :, 1:] - d[..., :, :-1]).abs(), (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (img[..., :, 1:] - img[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (img[..., 1:, :] - img[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


# ------------------------------------------------------------------------------------ frequency-aware
def gradient_norm(img: torch.Tensor) -> torch.Tensor:
    """Per-pixel image frequency: ``sqrt(gu^2 + gv^2)``, ``gu``/``gv`` the absolute forward differences
    summed over channels (0 past the last column / row).

    Args:
        img: ``(B, C, H, W) float32`` in [0, 1].

    Returns:
        ``(B, 1, H, W) float32``.
    """
    gu = F.pad((img[..., :, 1:] - img[..., :, :-1]).abs().sum(1, keepdim=True), (0, 1))
    gv = F.pad((img[..., 1:, :] - img[..., :-1, :]).abs().sum(1, keepdim=True), (0, 0, 0, 1))
    return torch.sqrt(gu**2 + gv**2)


def gaussian_blur(img: torch.Tensor, ksize: int = BLUR_KSIZE, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Separable Gaussian blur with reflection padding. ``(B, C, H, W)`` -> same shape and dtype."""
    r = ksize // 2
    x = torch.arange(ksize, dtype=img.dtype, device=img.device) - r
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    c = img.shape[1]
    out = F.pad(img, (r, r, 0, 0), mode="reflect")
    out = F.conv2d(out, g.view(1, 1, 1, ksize).repeat(c, 1, 1, 1), groups=c)
    out = F.pad(out, (0, 0, r, r), mode="reflect")
    return F.conv2d(out, g.view(1, 1, ksize, 1).repeat(c, 1, 1, 1), groups=c)


def auto_blur_weight(img: torch.Tensor, pixel_thresh: float = HF_PIXEL_THRESH, pool: int = HF_POOL,
                     area_thresh: float = HF_AREA_THRESH) -> torch.Tensor:
    """Auto-Blur's blending weight: the fraction of high-frequency pixels in the ``pool`` x ``pool``
    window, where that fraction exceeds ``area_thresh``, else 0.

    Args:
        img: ``(B, C, H, W) float32`` in [0, 1].

    Returns:
        ``(B, 1, H, W) float32`` in {0} U (area_thresh, 1].
    """
    hf = (gradient_norm(img) > pixel_thresh).to(img.dtype)
    # zero padding counts as "not high frequency": a border pixel needs a busier neighbourhood
    frac = F.avg_pool2d(hf, pool, stride=1, padding=pool // 2, count_include_pad=True)
    return frac * (frac > area_thresh).to(img.dtype)


def auto_blur(img: torch.Tensor, pixel_thresh: float = HF_PIXEL_THRESH, pool: int = HF_POOL,
              area_thresh: float = HF_AREA_THRESH) -> torch.Tensor:
    """Auto-Blur (Chen et al., WACV 2023): ``w * GaussianBlur(I) + (1 - w) * I`` with ``w`` from
    :func:`auto_blur_weight`. Apply it to the images entering the photometric loss only.

    Args:
        img: ``(B, C, H, W) float32`` in [0, 1].

    Returns:
        ``(B, C, H, W) float32``; equal to ``img`` wherever no high-frequency area is near.
    """
    w = auto_blur_weight(img, pixel_thresh, pool, area_thresh)
    return w * gaussian_blur(img) + (1 - w) * img


def ambiguity(img: torch.Tensor) -> torch.Tensor:
    """Ambiguity score (Chen et al., WACV 2023): gradient magnitude where the left/right (or up/down)
    differences of some channel have the same sign (a monotonic ramp through the pixel), else 0.

    Magnitude: ``sqrt(gu^2 + gv^2)`` with ``gu = sum_c (|left| + |right|) / 2`` (likewise ``gv``).
    A linear ramp rising by ``s`` per pixel in all 3 channels scores ``3 s``; a sharp step scores 0
    (one of its two differences is 0).

    Args:
        img: ``(B, C, H, W) float32`` in [0, 1].

    Returns:
        ``(B, 1, H, W) float32`` >= 0.
    """
    du = img[..., :, 1:] - img[..., :, :-1]
    dv = img[..., 1:, :] - img[..., :-1, :]
    left, right = F.pad(du, (1, 0)), F.pad(du, (0, 1))
    up, down = F.pad(dv, (0, 0, 1, 0)), F.pad(dv, (0, 0, 0, 1))
    same = ((left * right) > 0).any(1, keepdim=True) | ((up * down) > 0).any(1, keepdim=True)
    gu = (left.abs() + right.abs()).sum(1, keepdim=True) / 2
    gv = (up.abs() + down.abs()).sum(1, keepdim=True) / 2
    return torch.sqrt(gu**2 + gv**2) * same.to(img.dtype)


# -------------------------------------------------------------------------------------------- geometry
def axis_angle_to_matrix(vec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: ``(B, 3)`` axis-angle (radians) -> ``(B, 3, 3)`` rotation."""
    theta = vec.norm(dim=1, keepdim=True).clamp_min(1e-8)
    k = vec / theta
    kx, ky, kz = k[:, 0], k[:, 1], k[:, 2]
    z = torch.zeros_like(kx)
    kmat = torch.stack([z, -kz, ky, kz, z, -kx, -ky, kx, z], 1).view(-1, 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=vec.dtype, device=vec.device).expand_as(kmat)
    return eye + s * kmat + (1 - c) * kmat @ kmat


def pose_from_params(axisangle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` axis-angle + ``(B, 3)`` translation -> ``(B, 4, 4)`` rigid transform ``[R | t]``."""
    b = axisangle.shape[0]
    t = torch.eye(4, dtype=axisangle.dtype, device=axisangle.device).repeat(b, 1, 1)
    t[:, :3, :3] = axis_angle_to_matrix(axisangle)
    t[:, :3, 3] = translation
    return t


def warp(src: torch.Tensor, depth: torch.Tensor, k_tgt: torch.Tensor, k_src: torch.Tensor,
         t_src_tgt: torch.Tensor, offset: tuple[float, float] | torch.Tensor = (0.0, 0.0)
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthesise the target view from a source image: back-project each target pixel with its
    depth, move it into the source camera, project, and sample the source bilinearly.

    Args:
        src: ``(B, C, Hs, Ws)`` source image (or any per-pixel map of it, e.g. its ambiguity).
        depth: ``(B, 1, H, W)`` target depth, > 0.
        k_tgt: ``(B, 3, 3)`` intrinsics of the target grid (pixel centres at integer coordinates).
        k_src: ``(B, 3, 3)`` intrinsics of ``src``'s grid.
        t_src_tgt: ``(B, 4, 4)`` target camera -> source camera.
        offset: ``(x, y)`` added to the target grid's pixel coordinates before back-projection
            (a crop's origin when ``k_tgt`` is the full image's), scalar pair or ``(B, 2)``.

    Returns:
        ``(warped (B, C, H, W), inside (B, 1, H, W) bool)``: ``inside`` marks points in front of
        the source camera that project inside its image (outside ones take the border value; the
        loss does not drop them, as in Monodepth2, ``inside`` is for diagnostics and tests).
    """
    b, _, h, w = depth.shape
    dev, dt = depth.device, depth.dtype
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=dt), torch.arange(w, device=dev, dtype=dt),
                            indexing="ij")
    off = torch.as_tensor(offset, dtype=dt, device=dev).reshape(-1, 2)
    px = xs.reshape(1, -1) + off[:, :1]
    py = ys.reshape(1, -1) + off[:, 1:]
    pix = torch.stack([px.expand(b, -1), py.expand(b, -1), torch.ones(b, h * w, device=dev, dtype=dt)], 1)
    cam = torch.linalg.inv(k_tgt) @ pix * depth.reshape(b, 1, -1)          # (B, 3, N) target camera
    cam_s = t_src_tgt[:, :3, :3] @ cam + t_src_tgt[:, :3, 3:]              # (B, 3, N) source camera
    z = cam_s[:, 2:3]
    proj = k_src @ (cam_s / z.clamp_min(1e-6))
    hs, ws = src.shape[-2:]
    gx = proj[:, 0] / (ws - 1) * 2 - 1
    gy = proj[:, 1] / (hs - 1) * 2 - 1
    grid = torch.stack([gx, gy], -1).view(b, h, w, 2)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    # inside the source image: within half a pixel of its outer pixel centres
    inside = ((z[:, 0] > 1e-3) & (proj[:, 0] > -0.5) & (proj[:, 0] < ws - 0.5)
              & (proj[:, 1] > -0.5) & (proj[:, 1] < hs - 0.5)).view(b, 1, h, w)
    return out, inside


# ------------------------------------------------------------------------------------------ full loss
def reprojection_loss(target: torch.Tensor, warped: list[torch.Tensor], sources: list[torch.Tensor],
                      *, automask: bool = True, amb_target: torch.Tensor | None = None,
                      amb_warped: list[torch.Tensor] | None = None,
                      amb_thresh: float = AMBIGUITY_THRESH) -> tuple[torch.Tensor, dict[str, float]]:
    """Monodepth2's photometric term: per-pixel minimum over sources, auto-masking, and optionally
    Chen et al.'s Ambiguity-Masking.

    Args:
        target: ``(B, 3, H, W)`` the target as it enters the loss (Auto-Blurred or not).
        warped: per source, ``(B, 3, H, W)`` the source warped into the target view.
        sources: per source, ``(B, 3, H, W)`` the source unwarped (identity reprojection for the
            auto-mask), on the target's grid.
        automask: compete against the identity reprojection loss (static pixels and pixels moving
            with the camera then fall out of the loss).
        amb_target: ``(B, 1, H, W)`` :func:`ambiguity` of the target; with ``amb_warped`` enables
            Ambiguity-Masking.
        amb_warped: per source, ``(B, 1, H, W)`` the source's ambiguity warped into the target view.
        amb_thresh: mask threshold.

    Returns:
        ``(scalar loss, stats)``: stats holds the fractions of pixels auto-masked and ambiguity-masked.
    """
    rep = torch.cat([photometric(w, target) for w in warped], 1)            # (B, S, H, W)
    rep_min, idx = rep.min(1, keepdim=True)
    stats = {"automasked": 0.0, "ambiguous": 0.0}
    keep = torch.ones_like(rep_min)
    if automask:
        ident = torch.cat([photometric(s, target) for s in sources], 1)
        # tiny noise breaks ties where a source equals the target exactly
        ident = ident + 1e-5 * torch.randn_like(ident)
        static = ident.min(1, keepdim=True)[0] < rep_min
        keep = keep * (~static).to(keep.dtype)
        stats["automasked"] = float(static.float().mean())
    if amb_target is not None and amb_warped is not None:
        amb_sel = torch.gather(torch.cat(amb_warped, 1), 1, idx)             # the chosen source's
        amb = torch.maximum(amb_target, amb_sel)
        ambiguous = amb >= amb_thresh
        keep = keep * (~ambiguous).to(keep.dtype)
        stats["ambiguous"] = float(ambiguous.float().mean())
    # mean over all pixels (masked ones count as 0), as Monodepth2 and Chen et al. average
    return (rep_min * keep).mean(), stats
