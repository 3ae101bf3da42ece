"""How sure the network is of a frame's result: what tells the artist where to look.

The score is computed from the probabilities segmentation produces anyway (no extra pass, no
neighbouring frame needed, so frames can be scored in any order). Per object:

    (1 - share of the object's pixels whose probability is in the uncertain band)
        x (smaller of area / keyframe area and its inverse) ** AREA_EXPONENT

The first factor is how blurred the object's edge and body are; the second flags an object
that vanished, split into look-alikes or swallowed its surroundings, which a crisp but wrong
mask would hide from the first. The keyframe area is what the object's full-mask keyframes say
its area is at that frame: interpolated in time between the keyframes before and after it, the
nearest one's beyond them (without one, only the first factor counts). Not their mean over the
shot: an object that shrinks, once keyframed large and small, would make every frame that
matches either keyframe look wrong. A frame scores as its least confident object. Chosen on
the DAVIS-2016 dev split at Fast against five other candidates (docs/BENCHMARKS.md
"Confidence").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# A pixel is uncertain when the network's probability is inside this band.
UNCERTAIN_BAND = (0.2, 0.8)
# How strongly an area far from the keyframes' lowers the score (0: not at all).
AREA_EXPONENT = 0.25


def object_confidences(
    probs: np.ndarray, reference_areas: Sequence[float | None] | None = None
) -> list[tuple[float, float]]:
    """(confidence in [0, 1], area share in [0, 1]) per object of probabilities (K, H, W):
    float in [0, 1], or uint8 in 0..255 (the app's results). reference_areas: per object the
    area share its keyframes expect at this frame (KeyframeAreas.at), or None where unknown."""
    scale = 255.0 if probs.dtype == np.uint8 else 1.0
    low, high = UNCERTAIN_BAND[0] * scale, UNCERTAIN_BAND[1] * scale
    scores = []
    for k, p in enumerate(probs):
        extent = p > low
        uncertain = extent & (p < high)
        share = float(np.count_nonzero(uncertain)) / max(1, int(np.count_nonzero(extent)))
        area = float(np.count_nonzero(p > 0.5 * scale)) / p.size
        score = 1.0 - share
        reference = reference_areas[k] if reference_areas is not None else None
        if reference:
            ratio = min(area / reference, reference / area) if area > 0 else 0.0
            score *= ratio**AREA_EXPONENT
        scores.append((score, area))
    return scores


def frame_confidence(
    probs: np.ndarray, reference_areas: Sequence[float | None] | None = None
) -> float:
    """The frame's score: its least confident object's (1.0 with no object)."""
    return min((s for s, _ in object_confidences(probs, reference_areas)), default=1.0)


@dataclass(frozen=True)
class KeyframeAreas:
    """Per object, the area shares of its full-mask keyframes by frame: ((frame_idx, share in
    [0, 1]), ...) sorted by frame, empty for an object without one."""

    per_object: tuple[tuple[tuple[int, float], ...], ...] = ()

    @classmethod
    def of(cls, keyframes: Sequence[Iterable[tuple[int, np.ndarray]]]) -> KeyframeAreas:
        """From per object its keyframes' (frame_idx, full mask (H, W) bool)."""
        return cls(
            tuple(
                tuple(sorted((f, float(np.count_nonzero(m)) / m.size) for f, m in frames))
                for frames in keyframes
            )
        )

    def at(self, frame_idx: int) -> list[float | None]:
        """Per object the area share its keyframes expect at `frame_idx` (None without one):
        linear in time between the keyframes around the frame, the nearest one's outside."""
        expected: list[float | None] = []
        for keys in self.per_object:
            if not keys:
                expected.append(None)
                continue
            frames, areas = zip(*keys, strict=True)
            expected.append(float(np.interp(frame_idx, frames, areas)))
        return expected


def least_confident(scores: dict[int, float], skip: Iterable[int] = ()) -> int | None:
    """The frame to look at next: the lowest score of `scores` (frame_idx -> score) among
    frames not in `skip` (keyframes, approved frames); ties go to the earliest frame; None when
    every frame is skipped."""
    skipped = set(skip)
    candidates = [
        (score, frame_idx) for frame_idx, score in scores.items() if frame_idx not in skipped
    ]
    return min(candidates)[1] if candidates else None
