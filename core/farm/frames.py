"""Frame ranges as an artist writes them, and how a range is cut into farm chunks."""

from __future__ import annotations

import re

from core.errors import RotoshotError

_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$")


def parse_frame_range(text: str, numbers: list[int]) -> list[int]:
    """Frame indices (0-based, ascending, no repeats) of `text` in a clip whose frames are
    known by `numbers` (core.video.FrameSource.numbers: 1001, 1002, ...).

    text: "1001-1100", "1050", or several joined by commas ("1001-1010,1050-1060"). A frame
    number the clip lacks inside a range (a gap) is skipped; a range that reaches outside the
    clip, or names no frame at all, is one clear RotoshotError.
    """
    if not numbers:
        raise RotoshotError("the clip has no frames")
    index_of = {n: i for i, n in enumerate(numbers)}
    first, last = numbers[0], numbers[-1]
    chosen: set[int] = set()
    for part in str(text).split(","):
        match = _PART.match(part)
        if match is None:
            raise RotoshotError(
                f"--frames {text!r}: write a range as FIRST-LAST (e.g. {first}-{last}), "
                "a single frame, or several joined by commas"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise RotoshotError(f"--frames {part.strip()!r}: the range ends before it starts")
        if low < first or high > last:
            raise RotoshotError(
                f"--frames {part.strip()!r} is outside the clip (frames {first}-{last})"
            )
        hits = [index_of[n] for n in range(low, high + 1) if n in index_of]
        if not hits:
            raise RotoshotError(f"--frames {part.strip()!r}: the clip has none of these frames")
        chosen.update(hits)
    return sorted(chosen)


def chunks_of(frames: list[int], size: int) -> list[tuple[int, ...]]:
    """`frames` cut into consecutive chunks of at most `size` (a farm task each), in order."""
    if size < 1:
        raise RotoshotError(f"--chunk must be at least 1, not {size}")
    return [tuple(frames[i : i + size]) for i in range(0, len(frames), size)]


def contiguous_range(frames: list[int]) -> tuple[int, int]:
    """(first, last) of frame indices that must have no hole (an export's range)."""
    if frames != list(range(frames[0], frames[-1] + 1)):
        raise RotoshotError("export writes one unbroken range: give --frames FIRST-LAST")
    return frames[0], frames[-1]
