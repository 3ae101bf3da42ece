"""A simulated artist's first annotation: a few brush strokes along the skeleton of the object
and of the background, the way the DAVIS interactive track's robot turns a mask into scribbles
(skeletonise the region, keep its longest branches, draw them with a round brush).

The strokes stay `margin_px` away from the object's boundary, as a careful artist's do, so every
painted pixel is labelled correctly and the boundary itself is left to the network.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import skeletonize


def _skeleton_strokes(region: np.ndarray, max_strokes: int, min_length: int) -> np.ndarray:
    """(H, W) bool skeleton pixels of the `max_strokes` largest skeleton pieces of `region`;
    a round region (its skeleton is a dot) gets one line along its long axis instead."""
    skeleton = skeletonize(region).astype(np.uint8)
    _, pieces, stats, _ = cv2.connectedComponentsWithStats(skeleton, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(sizes)[::-1][:max_strokes]
    keep = [i + 1 for i in order if sizes[i] >= min_length]
    if keep:
        return np.isin(pieces, keep)
    return _long_axis(region)


def _long_axis(region: np.ndarray) -> np.ndarray:
    """(H, W) bool: the line through the region's centroid along its principal axis, inside it."""
    ys, xs = np.nonzero(region)
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    reach = float(np.hypot(*region.shape))
    a, b = centre - reach * axes[0], centre + reach * axes[0]
    line = np.zeros(region.shape, np.uint8)
    cv2.line(line, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, thickness=1)
    return (line > 0) & region


def robot_strokes(
    mask: np.ndarray,
    *,
    brush_px: int = 9,
    margin_px: int = 6,
    max_strokes: int = 3,
    min_length: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Strokes for a ground-truth mask (H, W) bool -> (foreground, painted) (H, W) bool each
    (the AnnotationStore's hint form: foreground pixels, painted pixels).

    Object strokes follow the skeleton of the object shrunk by `margin_px` (the whole object when
    that leaves nothing); background strokes follow the skeleton of the background kept
    `margin_px` plus 2x the brush away from the object. Both are drawn `brush_px` wide and
    clipped to their own side.
    """
    mask = np.asarray(mask, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin_px + 1,) * 2)
    inner = cv2.erode(mask.astype(np.uint8), kernel) > 0
    if not inner.any():
        inner = mask
    away = 2 * margin_px + 2 * brush_px
    far_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * away + 1,) * 2)
    outer = ~(cv2.dilate(mask.astype(np.uint8), far_kernel) > 0)
    brush = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush_px, brush_px))

    def draw(region: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if not region.any():
            return np.zeros_like(mask)
        lines = _skeleton_strokes(region, max_strokes, min_length)
        return (cv2.dilate(lines.astype(np.uint8), brush) > 0) & allowed

    background_side = ~(cv2.dilate(mask.astype(np.uint8), kernel) > 0)
    foreground = draw(inner, mask)
    background = draw(outer, background_side)
    return foreground, foreground | background
