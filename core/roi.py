"""Region of interest: the part of the plate the network works on (core.resolution).

A small object in a large plate becomes a few working pixels when the whole frame is brought
down to the working size (a 200 px bird in a 4K plate is ~50 px at 1024). With a region drawn
around where the object moves, only that part is brought to the working size, so the object
keeps the scale the network learnt objects at and its edges keep more of the plate's detail.
Mattes are zero outside the region, and keyframes keep their painted pixels everywhere.

A region is (x0, y0, x1, y1) in source pixels, end exclusive, inside the frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from core.errors import RotoshotError

Roi = tuple[int, int, int, int]

# Narrower than this the network's stride-32 features are two cells across.
MIN_ROI_PX = 64
# fit_roi's margin around the object's extent: a share of the extent's long side, and at least
# this many px (room for motion the results missed and for the edge's context).
FIT_MARGIN = 0.1
FIT_MARGIN_MIN_PX = 16


def checked_rect(rect: Sequence[float], size: tuple[int, int], min_px: int, name: str) -> Roi:
    """A rectangle (x0, y0, x1, y1) clipped to a frame of `size` (W, H), as ints. RotoshotError
    (one line, calling it `name`) when it is not four numbers, empty, entirely outside the frame
    or under `min_px` on a side once clipped."""
    if len(rect) != 4:
        raise RotoshotError(f"a {name} is four numbers: x0,y0,x1,y1")
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in rect)
    except (TypeError, ValueError, OverflowError):
        raise RotoshotError(f"{name} {list(rect)} is not four numbers") from None
    width, height = size
    if x1 <= x0 or y1 <= y0:
        raise RotoshotError(f"{name} {x0},{y0},{x1},{y1} is empty: x1 must exceed x0, y1 y0")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise RotoshotError(f"{name} {x0},{y0},{x1},{y1} is outside the {width}x{height} frame")
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 - x0 < min_px or y1 - y0 < min_px:
        raise RotoshotError(f"{name} {x0},{y0},{x1},{y1} is smaller than {min_px} px on a side")
    return x0, y0, x1, y1


def check_roi(roi: Sequence[float], size: tuple[int, int]) -> Roi:
    """A region (x0, y0, x1, y1) clipped to a frame of `size` (W, H), as ints. RotoshotError
    (one line) when it is not four numbers, empty, outside the frame or under MIN_ROI_PX."""
    return checked_rect(roi, size, MIN_ROI_PX, "region")


def parse_roi(text: str, size: tuple[int, int]) -> Roi | None:
    """CLI `--roi x0,y0,x1,y1` (or "" for the whole frame; a queue file may give a list) -> a
    checked region or None."""
    if not isinstance(text, str):
        return None if not text else check_roi(text, size)
    if not text.strip():
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise RotoshotError(f"--roi {text!r}: expected x0,y0,x1,y1 in plate pixels") from None
    try:
        return check_roi(values, size)
    except RotoshotError as exc:
        raise RotoshotError(f"--roi {text!r}: {exc}") from None


def mask_extent(mask: np.ndarray) -> Roi | None:
    """Bounding box (x0, y0, x1, y1), end exclusive, of mask (H, W) bool; None when empty."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


def fit_roi(
    boxes: Iterable[Roi | None], size: tuple[int, int], margin: float = FIT_MARGIN
) -> Roi | None:
    """The region around all `boxes` ((x0, y0, x1, y1) each, as mask_extent gives: the object
    on every frame, from keyframes and results; None for an empty one), grown by `margin` of its
    long side (at least FIT_MARGIN_MIN_PX) and by as much as MIN_ROI_PX needs, inside a frame
    of `size` (W, H). None when there is no box."""
    extents = [e for e in boxes if e is not None]
    if not extents:
        return None
    x0, y0 = min(e[0] for e in extents), min(e[1] for e in extents)
    x1, y1 = max(e[2] for e in extents), max(e[3] for e in extents)
    grow = max(FIT_MARGIN_MIN_PX, round(margin * max(x1 - x0, y1 - y0)))
    width, height = size
    x0, y0, x1, y1 = (
        max(0, x0 - grow),
        max(0, y0 - grow),
        min(width, x1 + grow),
        min(height, y1 + grow),
    )
    x0, x1 = _at_least(x0, x1, min(MIN_ROI_PX, width), width)
    y0, y1 = _at_least(y0, y1, min(MIN_ROI_PX, height), height)
    return x0, y0, x1, y1


def _at_least(lo: int, hi: int, span: int, limit: int) -> tuple[int, int]:
    """Widen [lo, hi) about its centre to `span`, kept inside [0, limit)."""
    if hi - lo >= span:
        return lo, hi
    lo = max(0, min((lo + hi - span) // 2, limit - span))
    return lo, lo + span
