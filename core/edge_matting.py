"""Soft edges by alpha matting: hair, fur and motion blur that a per-pixel probability cannot
carry. The finished matte's edge band becomes the trimap's unknown region and pymatting's
closed-form matting (Levin et al. 2008: alpha locally linear in the colours) solves it from the
frame's own colours; everything else keeps the finished value.

Written around pymatting rather than by hand: its sparse matting Laplacian and preconditioned
solver are the library's job. It compiles its kernels with numba the first time it is imported in
an environment (cached afterwards), so it is imported only when matting is asked for.
"""

from __future__ import annotations

import contextlib
import io

import cv2
import numpy as np

from core.matte import disk_kernel


def matte_edges(alpha: np.ndarray, image: np.ndarray, band_px: int) -> np.ndarray:
    """Re-estimate `alpha` within `band_px` of its edge from the frame's colours.

    alpha (H, W) float32 in [0, 1] (a finished matte; > 0.5 is the object); image (H, W, 3)
    uint8 RGB, the frame at the matte's size; band_px >= 1. Returns (H, W) float32 in [0, 1]:
    unchanged outside the band, the closed-form matting solution inside it. Only the box around
    the band is solved (the Laplacian grows with the pixels it covers).
    """
    inside = (alpha > 0.5).astype(np.uint8)
    kernel = disk_kernel(band_px)
    sure_object = cv2.erode(inside, kernel) > 0
    unknown = (cv2.dilate(inside, kernel) > 0) & ~sure_object
    if not unknown.any() or not sure_object.any():
        return alpha  # nothing inside to anchor the object's colours: leave the edge as it is
    from pymatting import estimate_alpha_cf

    ys, xs = np.nonzero(unknown)
    height, width = alpha.shape
    y0, y1 = max(0, ys.min() - band_px), min(height, ys.max() + band_px + 1)
    x0, x1 = max(0, xs.min() - band_px), min(width, xs.max() + band_px + 1)
    trimap = np.where(sure_object[y0:y1, x0:x1], 1.0, 0.0)
    trimap[unknown[y0:y1, x0:x1]] = 0.5
    crop = image[y0:y1, x0:x1].astype(np.float64) / 255.0
    # pymatting prints a performance note when its preconditioner needs a retry; core never
    # prints, so its output is kept out of the app's and the CLI's.
    with contextlib.redirect_stdout(io.StringIO()):
        solved = estimate_alpha_cf(crop, trimap)
    out = alpha.copy()
    region = out[y0:y1, x0:x1]
    band = unknown[y0:y1, x0:x1]
    region[band] = np.clip(solved[band], 0.0, 1.0)
    return out.astype(np.float32)
