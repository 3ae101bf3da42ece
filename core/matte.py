"""Matte finishing, applied at export and previewed in the GUI: threshold, grow/shrink, feather,
fill holes, remove specks, temporal smoothing of the soft matte."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FinishSettings:
    """Per-object finishing. threshold in [0, 1] on the network probability; grow_px > 0 dilates,
    < 0 erodes; feather_px: Gaussian soft edge width (0 = hard); fill_holes_px / remove_specks_px:
    holes / islands smaller than this area (px) are filled / removed (0 = off);
    temporal_radius: average the soft matte over +-this many frames (0 = off);
    edge_matting_px: alpha matting from the frame's colours within this many px of the edge
    (core.edge_matting: hair, motion blur; soft mattes only; 0 = off)."""

    threshold: float = 0.5
    grow_px: int = 0
    feather_px: float = 0.0
    fill_holes_px: int = 0
    remove_specks_px: int = 0
    temporal_radius: int = 0
    edge_matting_px: int = 0


# A soft matte keeps the network's probability in a band this wide (px, each side) around the
# finished edge, mapped linearly from [threshold - SOFT_RAMP, threshold + SOFT_RAMP] onto [0, 1].
SOFT_EDGE_PX = 2
SOFT_RAMP = 0.25


def disk_kernel(radius: int) -> np.ndarray:
    """A filled disc of `radius` px as a structuring element ((2r+1, 2r+1) uint8)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected islands of `mask` (H, W) bool smaller than `min_area` pixels."""
    if min_area <= 0 or not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill background regions enclosed by `mask` smaller than `max_area` pixels (4-connected
    background, so diagonal gaps in the object do not count as openings)."""
    if max_area <= 0:
        return mask
    background = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    height, width = mask.shape
    touches_border = np.zeros(count, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        touches_border[np.unique(edge)] = True
    small = (stats[:, cv2.CC_STAT_AREA] < max_area) & ~touches_border
    small[0] = False  # label 0 is the object itself here
    return mask | small[labels]


def finish_matte(
    prob: np.ndarray,
    settings: FinishSettings,
    *,
    soft: bool = False,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Apply threshold, holes/specks, grow/shrink, edge matting and feather to one object's
    probability map.

    prob (H, W) float32 in [0, 1] -> alpha (H, W) float32 in [0, 1]. Binary unless feathered, or
    `soft`: then the pixels within SOFT_EDGE_PX of the finished edge take the network's
    probability (ramped around the threshold), so 16-bit and float mattes carry the network's
    own edge. A grown or shrunk edge is not the network's: it stays hard (feather softens it).
    With `soft`, `image` ((H, W, 3) uint8 RGB, the frame) and settings.edge_matting_px, the edge
    band is matted from the frame's colours instead (core.edge_matting).
    """
    mask = prob > settings.threshold
    mask = remove_small_components(mask, settings.remove_specks_px)
    mask = fill_small_holes(mask, settings.fill_holes_px)
    if settings.grow_px > 0:
        mask = cv2.dilate(mask.astype(np.uint8), disk_kernel(settings.grow_px)) > 0
    elif settings.grow_px < 0:
        mask = cv2.erode(mask.astype(np.uint8), disk_kernel(-settings.grow_px)) > 0
    alpha = mask.astype(np.float32)
    if soft and settings.grow_px == 0 and mask.any():
        kernel = disk_kernel(SOFT_EDGE_PX)
        band = (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~(
            cv2.erode(mask.astype(np.uint8), kernel) > 0
        )
        ramp = np.clip((prob - settings.threshold) / (2 * SOFT_RAMP) + 0.5, 0.0, 1.0)
        alpha[band] = ramp[band]
    if soft and image is not None and settings.edge_matting_px > 0 and mask.any():
        from core.edge_matting import matte_edges

        alpha = matte_edges(alpha, image, settings.edge_matting_px)
    if settings.feather_px > 0:
        sigma = settings.feather_px / 2.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return np.clip(alpha, 0.0, 1.0)


def temporal_smooth(probs: list[np.ndarray], index: int, radius: int) -> np.ndarray:
    """Mean of the soft mattes within +-radius frames of `index` (clamped at the clip ends).

    Independent per-frame results chatter at the edges; averaging neighbours calms that at the
    cost of lag on fast motion, so it is off by default. probs: list of (H, W) float32.
    """
    if radius <= 0:
        return probs[index]
    lo, hi = max(0, index - radius), min(len(probs), index + radius + 1)
    return np.mean(np.stack(probs[lo:hi]), axis=0).astype(np.float32)
