"""Corrections: a model's result the artist edited into a keyframe.

What the artist painted is a label; the rest of the frame was kept as the model had it, so it is
the model's own guess, which the artist let stand but did not draw. Training therefore weighs the
painted pixels fully, the kept ones less (KEPT_WEIGHT), and the kept pixels the model was unsure
of when the artist started (core.confidence.UNCERTAIN_BAND) not at all: that is where the errors
the artist did not fix are likely to be (docs/BENCHMARKS.md, "Corrections").

On disk a correction is the keyframe's ordinary mask PNG with six grey levels instead of two;
anything above 127 is object, so the file still reads as the mask in any other tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.confidence import UNCERTAIN_BAND

# Training weight of a correction's kept pixels against its painted ones (1).
KEPT_WEIGHT = 0.25

# Grey levels of a correction's mask PNG, background then object: painted, unsure (kept, the
# model was unsure there), kept. A plain full mask uses only 0 and 255.
_BACKGROUND_LEVELS = {"painted": 0, "unsure": 51, "kept": 102}
_OBJECT_LEVELS = {"kept": 153, "unsure": 204, "painted": 255}
_LEVEL_STEP = 51


@dataclass(frozen=True)
class Correction:
    """How a correction keyframe was made: painted (H, W) bool, the pixels the artist painted;
    unsure (H, W) bool, the pixels where the model's result was uncertain when the artist began
    (only those not painted count as unsure)."""

    painted: np.ndarray
    unsure: np.ndarray

    @classmethod
    def start(cls, probs: np.ndarray) -> Correction:
        """A correction of a result not painted on yet: probs (H, W) float in [0, 1] (or uint8
        0..255, scaled) of the object being corrected."""
        scale = 255.0 if probs.dtype == np.uint8 else 1.0
        low, high = UNCERTAIN_BAND
        unsure = (probs > low * scale) & (probs < high * scale)
        return cls(np.zeros(probs.shape, bool), unsure)

    def painted_over(self, region: np.ndarray) -> Correction:
        """The same correction with `region` (H, W) bool painted too."""
        return Correction(self.painted | region, self.unsure)

    def copy(self) -> Correction:
        return Correction(self.painted.copy(), self.unsure.copy())

    def frozen_copy(self) -> Correction:
        """A read-only copy (what the annotation store keeps)."""
        painted = np.array(self.painted, dtype=bool, copy=True)
        unsure = np.array(self.unsure, dtype=bool, copy=True) & ~painted
        painted.setflags(write=False)
        unsure.setflags(write=False)
        return Correction(painted, unsure)

    def digest_bytes(self) -> bytes:
        return np.packbits(self.painted).tobytes() + np.packbits(self.unsure).tobytes()

    def weights(self) -> np.ndarray:
        """Per-pixel training weight (H, W) float32: 1 painted, KEPT_WEIGHT kept, 0 unsure."""
        weights = np.full(self.painted.shape, KEPT_WEIGHT, np.float32)
        weights[self.unsure] = 0.0
        weights[self.painted] = 1.0
        return weights

    def same_as(self, other: Correction | None) -> bool:
        return (
            other is not None
            and np.array_equal(self.painted, other.painted)
            and np.array_equal(self.unsure & ~self.painted, other.unsure & ~other.painted)
        )


def mask_to_image(mask: np.ndarray, correction: Correction | None = None) -> np.ndarray:
    """A full mask (H, W) bool, with its correction if it is one -> (H, W) uint8 image: 0/255
    for a plain mask, the six levels above for a correction."""
    image = np.where(mask, _OBJECT_LEVELS["painted"], _BACKGROUND_LEVELS["painted"])
    image = image.astype(np.uint8)
    if correction is not None:
        for kind, pixels in (
            ("kept", ~correction.painted),
            ("unsure", correction.unsure & ~correction.painted),
        ):
            image[pixels & mask] = _OBJECT_LEVELS[kind]
            image[pixels & ~mask] = _BACKGROUND_LEVELS[kind]
    return image


def mask_from_image(image: np.ndarray) -> tuple[np.ndarray, Correction | None]:
    """(H, W) uint8 mask image -> (mask (H, W) bool: > 127, its correction or None). Levels are
    read by nearest, so any 0/255 mask made elsewhere reads as a plain full mask."""
    level = np.rint(image.astype(np.float32) / _LEVEL_STEP).astype(np.uint8)  # 0..5
    painted = (level == 0) | (level == 5)
    if painted.all():
        return image > 127, None
    unsure = (level == 1) | (level == 4)
    return image > 127, Correction(painted, unsure)
