"""Simulated artists for the quality-per-effort benchmark (bench/simulated_artist.py).

A robot looks at the tool's result on a frame and the ground truth, and returns the full mask
the artist leaves on that frame as a keyframe (the app turns an edited result into a full-mask
keyframe, app/document.py `stroke_base`):

- `frame_robot`: paints the whole ground-truth mask (the OSVOS paper's protocol);
- `stroke_robot`: fixes only the largest missed region (false negative) and the largest wrong
  region (false positive), each as far as a round brush can cover it without leaving the
  region (the region opened with the brush: slivers thinner than the brush stay as they were),
  the rest of the frame keeps the tool's result (like the DAVIS interactive track's scribble
  robot, which also corrects the largest error regions only).

The frame to correct is picked by core.confidence.least_confident (what `N` does in the app)
over the tool's confidence scores, or over the true J for the oracle.
"""

from __future__ import annotations

import cv2
import numpy as np

# Brush diameter of the stroke robot, in pixels of the frame (a mid-size brush at 480p).
STROKE_BRUSH_PX = 9
# Error regions smaller than this share of the frame are left alone (an artist does not see them).
MIN_REGION_SHARE = 0.0005


def largest_region(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the largest 8-connected component of `mask` (empty when there is none)."""
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return components == largest


def brush_cover(region: np.ndarray, brush_px: int = STROKE_BRUSH_PX) -> np.ndarray:
    """(H, W) bool: the pixels of `region` a round brush of `brush_px` can paint while staying
    inside it (a morphological opening); a region thinner than the brush everywhere is painted
    whole (the artist takes a smaller brush)."""
    brush = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush_px, brush_px))
    covered = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, brush) > 0
    return covered if covered.any() else region


def frame_robot(result: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, None]:
    """The whole ground truth (H, W) bool, whatever the result; every pixel painted (None)."""
    del result
    return truth.copy(), None


def stroke_robot(
    result: np.ndarray, truth: np.ndarray, *, brush_px: int = STROKE_BRUSH_PX
) -> tuple[np.ndarray, np.ndarray]:
    """The result (H, W) bool with its largest false-negative region painted in and its largest
    false-positive region painted out (as far as the brush covers them), both only when larger
    than MIN_REGION_SHARE of the frame; and the pixels painted (H, W) bool (the app's
    correction: the rest was kept from the result)."""
    corrected = result.copy()
    painted = np.zeros_like(result)
    least = MIN_REGION_SHARE * result.size
    missed = largest_region(truth & ~result)
    if missed.sum() >= least:
        stroke = brush_cover(missed, brush_px)
        corrected |= stroke
        painted |= stroke
    wrong = largest_region(result & ~truth)
    if wrong.sum() >= least:
        stroke = brush_cover(wrong, brush_px)
        corrected &= ~stroke
        painted |= stroke
    return corrected, painted


ROBOTS = {"frame": frame_robot, "stroke": stroke_robot}
