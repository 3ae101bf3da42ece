"""Working resolution: the network trains and infers on frames no larger than about 1024 px on the
long side, and its mattes come back at the plate's own size through edge-aware upsampling.

Why: the parent network learnt objects at DAVIS's 854x480, so on a 1080p or 4K plate the same
object is several times larger than anything it has seen (and every step costs 4-18x more).
Downscaling to the working size keeps objects near the scale it knows; the guided filter then
puts the matte's edges back where the full-resolution plate has them, so a 4K matte has 4K edges
rather than blocky upscaled ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Long side of the working frame: a little above the parent's 854 px training size (more detail
# on large plates) and still affordable on two CPU cores (docs/BENCHMARKS.md: working resolution).
DEFAULT_WORKING_LONG_SIDE = 1024
# Below this the network's stride-32 features are a few cells wide: too coarse to be useful.
MIN_WORKING_LONG_SIDE = 256

# Guided-filter window radius (px at the working size) and regularisation (guide in [0, 1]):
# a window of ~9 working px spans the upsampling blur of a 4x upscale; eps keeps flat regions
# (plate noise, grain) from carving the matte while edges of contrast >~0.05 steer it.
GUIDED_RADIUS = 4
GUIDED_EPS = 1e-3


def working_size(source_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(W, H) of the working frame for a plate of `source_size` (W, H): the long side at most
    `long_side` px (0 or less = the source size), aspect ratio kept; never larger than the source."""
    width, height = source_size
    if long_side <= 0 or max(width, height) <= long_side:
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# How working-size probabilities return to the plate's size: "plate" follows the plate's edges
# (guided_upsample), "smooth" interpolates them (bilinear_upsample).
EDGE_MODES = ("plate", "smooth")


@dataclass(frozen=True)
class WorkingResolution:
    """The plate's size and the network's working size, both (W, H), how mattes return to the
    plate's size (EDGE_MODES) and an optional region of interest `roi` (x0, y0, x1, y1: source
    px, end exclusive; core.roi): then only that part of the plate is seen, at the working
    size, and results are zero outside it. Identity (no resampling, bit-identical results) when
    the sizes are equal and there is no region."""

    source_size: tuple[int, int]
    size: tuple[int, int]
    edges: str = "plate"
    roi: tuple[int, int, int, int] | None = None

    @classmethod
    def for_source(
        cls,
        source_size: tuple[int, int],
        long_side: int = DEFAULT_WORKING_LONG_SIDE,
        edges: str = "plate",
        roi: tuple[int, int, int, int] | None = None,
    ) -> WorkingResolution:
        if edges not in EDGE_MODES:
            raise ValueError(f"edges must be one of {EDGE_MODES}, not {edges!r}")
        source_size = tuple(source_size)
        if roi is not None and tuple(roi) == (0, 0, *source_size):
            roi = None  # the whole frame is no region
        seen = source_size if roi is None else (roi[2] - roi[0], roi[3] - roi[1])
        return cls(source_size, working_size(seen, long_side), edges, roi and tuple(roi))

    @property
    def is_identity(self) -> bool:
        return self.size == self.source_size and self.roi is None

    @property
    def seen_size(self) -> tuple[int, int]:
        """(W, H) of the part of the plate the network sees (the region, or the whole plate)."""
        if self.roi is None:
            return self.source_size
        x0, y0, x1, y1 = self.roi
        return x1 - x0, y1 - y0

    @property
    def scale(self) -> float:
        """Working px per source px (<= 1)."""
        return self.size[0] / self.seen_size[0]

    def _region(self, array: np.ndarray) -> np.ndarray:
        """The region of interest of an (H, W, ...) array (all of it without one)."""
        if self.roi is None:
            return array
        x0, y0, x1, y1 = self.roi
        return array[y0:y1, x0:x1]

    def image(self, image: np.ndarray) -> np.ndarray:
        """A frame (H, W, C) at the working size (area-averaged, same dtype)."""
        image = self._region(image)
        if image.shape[1::-1] == self.size:
            return np.ascontiguousarray(image)
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """(K, H, W) bool source masks -> (K, h, w) bool working masks: a working pixel is set
        when more than half of the source pixels it covers are (area coverage, no aliasing)."""
        if self.is_identity:
            return masks
        out = np.empty((masks.shape[0], self.size[1], self.size[0]), dtype=bool)
        for k, mask in enumerate(masks):
            mask = self._region(mask)
            if mask.shape[::-1] == self.size:
                out[k] = mask
                continue
            covered = cv2.resize(mask.astype(np.float32), self.size, interpolation=cv2.INTER_AREA)
            out[k] = covered > 0.5
        return out

    def weights(self, weights: np.ndarray) -> np.ndarray:
        """(K, H, W) float32 per-pixel weights at the source size -> (K, h, w) float32 at the
        working size, area-averaged."""
        if self.is_identity:
            return weights
        return np.stack(
            [cv2.resize(self._region(w), self.size, interpolation=cv2.INTER_AREA) for w in weights]
        ).astype(np.float32)

    def upsample(self, probs: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """(K, h, w) float32 working probabilities -> (K, H, W) float32 in [0, 1] at the source
        size: edges following `guide` ((H, W, 3) uint8 source frame; guided_upsample) or
        interpolated (bilinear_upsample), as `edges` says; 0 outside the region of interest."""
        if self.is_identity:
            return probs
        seen = self.seen_size
        if self.size == seen:
            inside = probs
        elif self.edges == "smooth":
            inside = bilinear_upsample(probs, seen)
        else:
            inside = guided_upsample(probs, np.ascontiguousarray(self._region(guide)), self.size)
        if self.roi is None:
            return inside
        width, height = self.source_size
        out = np.zeros((probs.shape[0], height, width), np.float32)
        x0, y0, x1, y1 = self.roi
        out[:, y0:y1, x0:x1] = inside
        return out


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    probs: np.ndarray,
    guide: np.ndarray,
    working: tuple[int, int],
    *,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> np.ndarray:
    """Fast guided filter upsampling (He and Sun, "Fast Guided Filter", 2015): the local linear
    model q = a * I + b is fitted between the grey guide I and each probability map at the
    working size `working` (W, h), its coefficients are smoothed and upsampled bilinearly, and
    applied to the full-resolution guide. Where the matte is flat (all object or all background)
    a = 0 and the result is the bilinear upsample; across an edge it follows the plate's edge.

    probs (K, h, w) float32 in [0, 1]; guide (H, W, 3) uint8 RGB -> (K, H, W) float32 in [0, 1].
    Written here because OpenCV's guidedFilter lives in ximgproc, which the headless wheel we
    depend on does not include, and it filters at one resolution only.
    """
    height, width = guide.shape[:2]
    grey_full = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    grey = cv2.resize(grey_full, working, interpolation=cv2.INTER_AREA)
    mean_i = _box(grey, radius)
    var_i = _box(grey * grey, radius) - mean_i * mean_i
    out = np.empty((probs.shape[0], height, width), dtype=np.float32)
    for k, p in enumerate(probs):
        p = np.ascontiguousarray(p, dtype=np.float32)
        mean_p = _box(p, radius)
        a = (_box(grey * p, radius) - mean_i * mean_p) / (var_i + eps)
        b = mean_p - a * mean_i
        a_full = cv2.resize(_box(a, radius), (width, height), interpolation=cv2.INTER_LINEAR)
        b_full = cv2.resize(_box(b, radius), (width, height), interpolation=cv2.INTER_LINEAR)
        np.clip(cv2.multiply(a_full, grey_full) + b_full, 0.0, 1.0, out=out[k])
    return out


def bilinear_upsample(probs: np.ndarray, source_size: tuple[int, int]) -> np.ndarray:
    """(K, h, w) float32 -> (K, H, W) float32 by plain bilinear interpolation (the baseline the
    guided filter is measured against)."""
    return np.stack([cv2.resize(p, source_size, interpolation=cv2.INTER_LINEAR) for p in probs])
