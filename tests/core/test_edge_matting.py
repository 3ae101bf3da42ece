"""Edge matting: the finished matte's edge band re-estimated from the frame's colours recovers a
soft edge that the hard matte lacks, and leaves everything else alone."""

import cv2
import numpy as np

from core.edge_matting import matte_edges
from core.matte import FinishSettings, finish_matte


def _soft_disc(size=96):
    """A red disc with a soft (motion-blur-like) edge over a green-blue background:
    (image (H, W, 3) uint8, true alpha (H, W) float32)."""
    yy, xx = np.mgrid[:size, :size]
    hard = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3.5) ** 2).astype(np.float32)
    alpha = cv2.GaussianBlur(hard, (0, 0), sigmaX=2.5)
    rng = np.random.default_rng(1)
    background = np.stack([np.full((size, size), 30.0), 160 + 20 * rng.random((size, size)),
                           np.full((size, size), 90.0)], axis=-1)  # fmt: skip
    foreground = np.array([220.0, 40.0, 30.0])
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return np.clip(image, 0, 255).astype(np.uint8), alpha


def test_matting_recovers_the_soft_edge():
    image, truth = _soft_disc()
    hard = (truth > 0.5).astype(np.float32)
    matted = matte_edges(hard, image, band_px=5)
    band = (truth > 0.02) & (truth < 0.98)
    before = np.abs(hard - truth)[band].mean()
    after = np.abs(matted - truth)[band].mean()
    assert after < 0.5 * before
    far = cv2.dilate(band.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    assert np.array_equal(matted[far], hard[far])  # outside the band nothing moves
    assert matted.dtype == np.float32 and 0 <= matted.min() and matted.max() <= 1


def test_finish_matte_mattes_only_soft_mattes_with_a_frame():
    image, truth = _soft_disc()
    prob = truth.copy()
    settings = FinishSettings(edge_matting_px=5)
    binary = finish_matte(prob, settings)  # an 8-bit PNG matte stays binary
    assert set(np.unique(binary)) <= {0.0, 1.0}
    assert np.array_equal(
        finish_matte(prob, settings, soft=True), finish_matte(prob, FinishSettings(), soft=True)
    )
    matted = finish_matte(prob, settings, soft=True, image=image)
    assert np.abs(matted - truth).mean() < np.abs(binary - truth).mean()


def test_nothing_to_anchor_leaves_the_matte_alone():
    image, _ = _soft_disc()
    empty = np.zeros(image.shape[:2], np.float32)
    assert np.array_equal(matte_edges(empty, image, 4), empty)
    speck = empty.copy()
    speck[40:42, 40:42] = 1.0  # thinner than the band: no sure object pixel to learn from
    assert np.array_equal(matte_edges(speck, image, 4), speck)
