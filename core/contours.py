"""Contour snapping (OSVOS's boundary refinement) and mask <-> polygon conversion.

Snapping: the frame is cut into superpixels (scikit-image SLIC); a superpixel joins the mask when
more than half of it is inside (majority vote), so the outline follows image edges instead of the
network's smooth stride-2 boundary. Thin parts that fall below half of their superpixel are then
recovered: connected components of the raw mask that the vote dropped are kept where their
outline lies on detected image edges (Canny).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.segmentation import slic


@dataclass(frozen=True)
class SnapSettings:
    """superpixel_area: SLIC superpixel size in px (~2,700 per 480p frame); compactness: SLIC shape regularity; vote: fraction
    of a superpixel that must be inside; recover_edge_fraction: share of a dropped component's
    outline that must lie within 2 px of an image edge for it to be recovered."""

    superpixel_area: int = 150
    compactness: float = 10.0
    vote: float = 0.5
    recover_edge_fraction: float = 0.5


def superpixels(image: np.ndarray, settings: SnapSettings = SnapSettings()) -> np.ndarray:
    """SLIC labels (H, W) int of an (H, W, 3) uint8 RGB frame."""
    return slic(
        image,
        n_segments=max(16, image.shape[0] * image.shape[1] // settings.superpixel_area),
        compactness=settings.compactness,
        start_label=0,
        enforce_connectivity=True,
        slic_zero=True,  # SLICO: adaptive compactness, regular segments on textured frames
    )


def majority_vote(mask: np.ndarray, labels: np.ndarray, vote: float = 0.5) -> np.ndarray:
    """(H, W) bool: superpixels whose inside fraction exceeds `vote`."""
    counts = np.bincount(labels.ravel(), minlength=labels.max() + 1)
    inside = np.bincount(
        labels.ravel(), weights=mask.ravel().astype(np.float64), minlength=len(counts)
    )
    return (inside / np.maximum(counts, 1) > vote)[labels]


def recover_thin_parts(
    raw: np.ndarray, snapped: np.ndarray, image: np.ndarray, edge_fraction: float = 0.5
) -> np.ndarray:
    """Add back components of `raw & ~snapped` that are protrusions (lines, poles, fingers)
    whose outline follows image edges. A component that mostly hugs the snapped mask is the
    network's bloated edge the vote just removed, not a thin part, and stays out."""
    lost = raw & ~snapped
    if not lost.any():
        return snapped
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = cv2.dilate(cv2.Canny(grey, 50, 150), np.ones((3, 3), np.uint8)) > 0
    near_snapped = cv2.dilate(snapped.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    count, components = cv2.connectedComponents(lost.astype(np.uint8), connectivity=8)
    out = snapped.copy()
    for c in range(1, count):
        part = components == c
        outline = part & ~(cv2.erode(part.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        n = outline.sum()
        if not n:
            continue
        hugs_mask = (outline & near_snapped).sum() / n
        on_edges = (outline & edges).sum() / n
        if hugs_mask <= 0.3 and on_edges >= edge_fraction:
            out |= part
    return out


def snap_to_contours(
    mask: np.ndarray, image: np.ndarray, settings: SnapSettings = SnapSettings(), labels=None
) -> np.ndarray:
    """Snap a (H, W) bool mask to the frame's superpixels and recover thin parts.

    image (H, W, 3) uint8 RGB; `labels` (precomputed superpixels) may be passed when several
    objects of one frame are snapped.
    """
    if not mask.any():
        return mask
    if labels is None:
        labels = superpixels(image, settings)
    snapped = majority_vote(mask, labels, settings.vote)
    return recover_thin_parts(mask, snapped, image, settings.recover_edge_fraction)


def mask_to_polygons(mask: np.ndarray, tolerance_px: float = 1.0) -> list[np.ndarray]:
    """Outlines of a (H, W) bool mask as polygons [(N, 2) int32 x, y], simplified with
    Douglas-Peucker; holes come back as separate polygons (filled with the even-odd rule)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        simplified = cv2.approxPolyDP(contour, tolerance_px, closed=True)
        if len(simplified) >= 3:
            polygons.append(simplified.reshape(-1, 2).astype(np.int32))
    return polygons


def polygons_to_mask(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterise polygons (even-odd: a polygon inside another is a hole) to (H, W) bool."""
    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        layer = np.zeros_like(mask)
        cv2.fillPoly(layer, [polygon.reshape(-1, 1, 2)], 1)
        cv2.polylines(layer, [polygon.reshape(-1, 1, 2)], True, 1)
        mask ^= layer
    return mask > 0
