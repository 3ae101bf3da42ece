"""How a segmenter's frames may be ordered (core.shot.segmenters)."""

from __future__ import annotations

import enum


class Ordering(enum.Enum):
    """INDEPENDENT: any frame, any order, same result; SPANS: frames between keyframes are done
    in sequence outward from a keyframe (spans independent of each other)."""

    INDEPENDENT = "independent"
    SPANS = "spans"
