"""Guidance masks: the rough "where the object is" channel of the mask-guided network (MaskTrack).

The guided network learns to turn a rough mask into an accurate one. At inference the rough mask
is the previous frame's result (propagate), the frame's own plain result (refine) or a box the
artist drew. In training it is made from the true mask by the deformations MaskTrack used
(Perazzi et al. 2017): an affine jitter (scale +-5 %, shift +-10 % of the object's box), a
thin-plate-spline warp through 5 control points moved by up to +-10 % of the box, then a
dilation (5 px), so the network never sees the exact answer and learns to correct the kind of
error a previous frame's mask makes. Some samples get an empty or a box-shaped guidance instead,
so the same network also segments with no prior or from a box.

Masks are (H, W) bool; guidance is (H, W) float32 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.transform import ThinPlateSplineTransform

from core.matte import disk_kernel


@dataclass(frozen=True)
class DeformConfig:
    """scale: affine scale jitter (fraction); shift: affine shift (fraction of the object's box
    side); tps_points: thin-plate-spline control points; tps_shift: their shift (fraction of the
    box side); dilate_px: dilation radius at 480p; empty_share / box_share: chance of an empty or
    a box-shaped guidance instead of a deformed mask; box_jitter: box edge jitter (fraction of
    the box side)."""

    scale: float = 0.05
    shift: float = 0.10
    tps_points: int = 5
    tps_shift: float = 0.10
    dilate_px: int = 5
    empty_share: float = 0.1
    box_share: float = 0.2
    box_jitter: float = 0.05


# The coarse grid the thin-plate-spline map is evaluated on before it is resized to the frame:
# the spline is smooth, and evaluating it at every pixel of a 480p frame costs ~20x more.
_TPS_GRID_STEP = 8


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a (H, W) bool mask, exclusive ends; None when empty."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def box_mask(box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 guidance that is 1 inside box (x0, y0, x1, y1), clipped to the frame."""
    height, width = shape
    x0, y0, x1, y1 = box
    out = np.zeros((height, width), np.float32)
    out[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)] = 1.0
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool/float mask dilated by a disc of `radius` px -> (H, W) float32 in {0, 1}."""
    mask = (np.asarray(mask) > 0.5).astype(np.uint8)
    if radius <= 0:
        return mask.astype(np.float32)
    return cv2.dilate(mask, disk_kernel(radius)).astype(np.float32)


def _affine(mask: np.ndarray, box, rng: np.random.Generator, cfg: DeformConfig) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    dx = rng.uniform(-cfg.shift, cfg.shift) * (x1 - x0)
    dy = rng.uniform(-cfg.shift, cfg.shift) * (y1 - y0)
    matrix = np.array([[scale, 0, (1 - scale) * cx + dx], [0, scale, (1 - scale) * cy + dy]])
    height, width = mask.shape
    return cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_NEAREST)


def _thin_plate(mask: np.ndarray, box, rng: np.random.Generator, cfg: DeformConfig) -> np.ndarray:
    """Move `tps_points` control points inside the box; the frame corners stay fixed."""
    x0, y0, x1, y1 = box
    height, width = mask.shape
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    points = np.column_stack(
        [rng.uniform(x0, x1, cfg.tps_points), rng.uniform(y0, y1, cfg.tps_points)]
    )
    moved = points + rng.uniform(-cfg.tps_shift, cfg.tps_shift, points.shape) * [bw, bh]
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], float)
    # Backward map: for every output pixel, where to read the input (moved -> original).
    transform = ThinPlateSplineTransform.from_estimate(
        np.vstack([moved, corners]), np.vstack([points, corners])
    )
    if not transform:
        return mask
    gy, gx = np.mgrid[0:height:_TPS_GRID_STEP, 0:width:_TPS_GRID_STEP]
    coarse = transform(np.column_stack([gx.ravel(), gy.ravel()]).astype(float))
    map_x = coarse[:, 0].reshape(gx.shape).astype(np.float32)
    map_y = coarse[:, 1].reshape(gy.shape).astype(np.float32)
    map_x = cv2.resize(map_x, (width, height), interpolation=cv2.INTER_LINEAR)
    map_y = cv2.resize(map_y, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderValue=0)


def deform_mask(
    mask: np.ndarray, rng: np.random.Generator, cfg: DeformConfig = DeformConfig()
) -> np.ndarray:
    """A MaskTrack-style rough copy of a (H, W) bool mask: affine jitter, thin-plate-spline warp,
    dilation (scaled with the frame: `dilate_px` at 480 px short side). -> (H, W) float32 in
    {0, 1}; an empty mask stays empty."""
    box = bounding_box(mask)
    if box is None:
        return np.zeros(mask.shape, np.float32)
    out = _affine(mask.astype(np.uint8), box, rng, cfg)
    out = _thin_plate(out, box, rng, cfg)
    radius = max(1, round(cfg.dilate_px * min(mask.shape) / 480))
    return dilate(out, radius)


def jittered_box(
    mask: np.ndarray, rng: np.random.Generator, cfg: DeformConfig = DeformConfig()
) -> tuple[int, int, int, int] | None:
    """The mask's bounding box with each edge moved by up to `box_jitter` of the box side (an
    artist's box is never tight); None for an empty mask."""
    box = bounding_box(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    jx, jy = cfg.box_jitter * (x1 - x0), cfg.box_jitter * (y1 - y0)
    return (
        int(round(x0 + rng.uniform(-jx, jx))),
        int(round(y0 + rng.uniform(-jy, jy))),
        int(round(x1 + rng.uniform(-jx, jx))),
        int(round(y1 + rng.uniform(-jy, jy))),
    )


def training_guidance(
    mask: np.ndarray,
    rng: np.random.Generator,
    cfg: DeformConfig = DeformConfig(),
    *,
    allow_empty: bool = True,
) -> np.ndarray:
    """The guidance a training sample of `mask` (H, W) bool gets: a deformed mask, or with
    chance `box_share` a jittered box, or with chance `empty_share` nothing (unless
    `allow_empty` is False: for images whose target is one instance among several, an empty
    guidance would not say which). -> (H, W) float32 in [0, 1]."""
    draw = rng.random()
    if allow_empty and draw < cfg.empty_share:
        return np.zeros(mask.shape, np.float32)
    if draw < cfg.empty_share + cfg.box_share:
        box = jittered_box(mask, rng, cfg)
        if box is None:
            return np.zeros(mask.shape, np.float32)
        return box_mask(box, mask.shape)
    return deform_mask(mask, rng, cfg)
