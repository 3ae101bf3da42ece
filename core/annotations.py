"""Annotation masks: reading mask files and the per-(object, frame) keyframe store."""

from __future__ import annotations

import hashlib
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.corrections import Correction
from core.errors import RotoshotError

# A grey or colour mask is taken as a label map (one object per value) only when it looks like
# one: a few exact values, each covering a real area. An anti-aliased or JPEG-compressed 0/255
# mask has dozens of values, most on a thin edge: that is one object's matte.
MAX_LABELS = 8
MIN_LABEL_SHARE = 0.001  # of the image's pixels


def _looks_like_labels(labels: np.ndarray) -> bool:
    values, counts = np.unique(labels[labels != 0], return_counts=True)
    return 2 <= len(values) <= MAX_LABELS and counts.min() >= MIN_LABEL_SHARE * labels.size


def _rank_colours(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint16: 0 for black, 1, 2, ... per colour in first-seen order."""
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.zeros(len(uniq), dtype=np.uint16)
    order = [u for u in np.argsort(first) if uniq[u] != 0]
    for new_id, u in enumerate(order, start=1):
        rank[u] = new_id
    return rank[inverse].reshape(rgb.shape[:2])


# What PIL raises for a file it cannot read: besides OSError, a damaged PNG chunk raises
# SyntaxError ("broken PNG file") while the pixels load (found by tests/fuzz).
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError)


def read_label_mask(path: str | os.PathLike, *, labels: bool = False) -> np.ndarray:
    """Read a mask image as a label map (H, W) uint16: 0 background, >0 object id.

    - An image with an alpha channel that is not fully opaque: the alpha is the matte (> 127).
    - An indexed (palette) PNG: a label map, its indices are the object ids.
    - Grey levels or colours: a label map when it looks like one (2..MAX_LABELS exact values,
      each covering at least MIN_LABEL_SHARE of the image; colours are numbered 1, 2, ... in
      order of first appearance); otherwise one object, pixels > 127 (an anti-aliased or JPEG
      0/255 mask). `labels=True` (the CLI's --labels) takes every value as an id regardless.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                alpha = np.asarray(image.convert("RGBA"))[..., 3]
                if (alpha < 255).any():
                    return (alpha > 127).astype(np.uint16)
            if image.mode == "P":
                indices = np.asarray(image, dtype=np.uint16)
                values = np.unique(indices)
                if len(values[values != 0]) == 1:
                    return (indices > 0).astype(np.uint16)  # one object, whatever its index
                return indices
            if image.mode in ("RGB", "RGBA"):
                rgb = np.asarray(image.convert("RGB"))
                if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                    grey = rgb[..., 0].astype(np.uint16)
                else:
                    ranked = _rank_colours(rgb)
                    if labels or _looks_like_labels(ranked):
                        return ranked
                    return (rgb.max(axis=-1) > 127).astype(np.uint16)
            else:
                grey = (
                    np.asarray(image.convert("I"), dtype=np.int64).clip(0, 65535).astype(np.uint16)
                )
    except FileNotFoundError:
        raise RotoshotError(f"mask file not found: {path}") from None
    except _UNREADABLE as exc:
        raise RotoshotError(f"cannot read mask {path}: {exc}") from None
    values = np.unique(grey)
    values = values[values != 0]
    if len(values) == 1:
        return (grey > 0).astype(np.uint16)
    if labels or _looks_like_labels(grey):
        return grey
    top = 65535 if grey.max() > 255 else 255
    return (grey > top // 2).astype(np.uint16)


# A strokes image (the CLI's --strokes, the project's *.strokes.png): grey levels, one object.
STROKE_UNPAINTED, STROKE_BACKGROUND, STROKE_FOREGROUND = 0, 128, 255


def strokes_to_image(mask: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Hint strokes -> (H, W) uint8 image: 255 foreground stroke, 128 background stroke, 0
    unpainted. mask, known: (H, W) bool (foreground pixels, painted pixels)."""
    image = np.full(mask.shape, STROKE_UNPAINTED, np.uint8)
    image[known] = STROKE_BACKGROUND
    image[known & mask] = STROKE_FOREGROUND
    return image


def strokes_from_image(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 strokes image -> (mask, known) (H, W) bool each; levels are taken by
    nearest (an anti-aliased or resaved image still reads): < 64 unpainted, > 191 foreground."""
    known = image >= 64
    return known & (image > 191), known


def read_strokes(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a strokes image file (see strokes_to_image) -> (mask, known) (H, W) bool each."""
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"))
    except FileNotFoundError:
        raise RotoshotError(f"strokes file not found: {path}") from None
    except _UNREADABLE as exc:
        raise RotoshotError(f"cannot read strokes {path}: {exc}") from None
    return strokes_from_image(grey)


def implied_background(mask: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Painted pixels of hint strokes with the far surroundings added as background: strokes
    are drawn across the object, so whatever lies outside their bounding box grown by half its
    size each way (at least 16 px) is taken as background. Without it, object-only strokes
    would teach "everything is object", and look-alikes far from the object are never taught
    as background.

    mask, known: (H, W) bool (foreground strokes, painted pixels) -> known (H, W) bool.
    """
    if not mask.any():
        return known
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    grow_y = max(16, (ys.max() - ys.min() + 1) // 2)
    grow_x = max(16, (xs.max() - xs.min() + 1) // 2)
    near = np.zeros_like(known)
    near[
        max(0, ys.min() - grow_y) : min(height, ys.max() + grow_y + 1),
        max(0, xs.min() - grow_x) : min(width, xs.max() + grow_x + 1),
    ] = True
    return known | ~near


class AnnotationStore:
    """Painted keyframes, one per (object_id, frame_idx): a full mask or hint strokes.

    A full mask (`known` None) says what this object covers on this frame (an empty mask is a
    valid answer: the object is absent there). A correction is a full mask made by editing the
    model's result, with a core.corrections.Correction saying what the artist painted (the
    rest, kept from the result, trains at less weight). Hint strokes say it only where the artist painted:
    `known` (H, W) bool marks the painted pixels, `mask` the foreground ones among them;
    unpainted pixels carry no label (training ignores them, the model fills them in). Plain
    Python state; the app wraps it with undo and signals, the project module persists it.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size  # (width, height)
        self.skipped: list[str] = []  # keyframe files that could not be read when loaded
        self._masks: dict[tuple[int, int], np.ndarray] = {}
        self._known: dict[tuple[int, int], np.ndarray] = {}  # hint strokes only
        self._corrections: dict[tuple[int, int], Correction] = {}
        self._digests: dict[tuple[int, int], str] = {}

    def __len__(self) -> int:
        return len(self._masks)

    def get(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        """The mask (H, W) bool (read-only view), or None when not annotated."""
        return self._masks.get((object_id, frame_idx))

    def known(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        """Painted pixels (H, W) bool of a hint annotation; None for a full mask or no entry."""
        return self._known.get((object_id, frame_idx))

    def correction(self, object_id: int, frame_idx: int) -> Correction | None:
        """How a correction keyframe was painted; None for any other keyframe or none."""
        return self._corrections.get((object_id, frame_idx))

    def is_hint(self, object_id: int, frame_idx: int) -> bool:
        return (object_id, frame_idx) in self._known

    def set(
        self,
        object_id: int,
        frame_idx: int,
        mask: np.ndarray | None,
        known: np.ndarray | None = None,
        correction: Correction | None = None,
    ) -> None:
        """Store a copy of `mask` (H, W) bool-like (with `known`, the painted pixels of hint
        strokes: foreground outside `known` is dropped; with `correction`, a full mask made by
        editing a result), or remove the entry when None. A correction painted everywhere is a
        plain full mask."""
        key = (object_id, frame_idx)
        self._known.pop(key, None)
        self._corrections.pop(key, None)
        if mask is None:
            self._masks.pop(key, None)
            self._digests.pop(key, None)
            return
        if known is not None and correction is not None:
            raise ValueError("a keyframe is hint strokes or a correction, not both")
        expected = (self.size[1], self.size[0])
        arrays = (mask, known) if correction is None else (mask, correction.painted)
        for array in arrays:
            if array is not None and array.shape != expected:
                raise RotoshotError(
                    f"mask is {array.shape[1]}x{array.shape[0]}, "
                    f"frames are {self.size[0]}x{self.size[1]}"
                )
        stored = np.array(mask, dtype=bool, copy=True)
        h = hashlib.sha1(np.packbits(stored).tobytes())
        if known is not None:
            labelled = np.array(known, dtype=bool, copy=True)
            stored &= labelled
            labelled.setflags(write=False)
            self._known[key] = labelled
            h = hashlib.sha1(np.packbits(stored).tobytes())
            h.update(b"hint:" + np.packbits(labelled).tobytes())
        elif correction is not None and not correction.painted.all():
            stored_correction = correction.frozen_copy()
            self._corrections[key] = stored_correction
            h.update(b"correction:" + stored_correction.digest_bytes())
        stored.setflags(write=False)
        self._masks[key] = stored
        self._digests[key] = h.hexdigest()

    def keys(self) -> list[tuple[int, int]]:
        """Sorted (object_id, frame_idx) pairs."""
        return sorted(self._masks)

    def frames(self) -> list[int]:
        """Sorted frame indices with at least one annotated object."""
        return sorted({f for _, f in self._masks})

    def object_ids(self) -> list[int]:
        return sorted({o for o, _ in self._masks})

    def remove_object(self, object_id: int) -> None:
        for key in [k for k in self._masks if k[0] == object_id]:
            self.set(*key, None)

    def digest(self, object_id: int, frame_idx: int) -> str:
        return self._digests.get((object_id, frame_idx), "")

    def fingerprint(self, object_ids: list[int] | None = None) -> str:
        """Hash of every entry (of `object_ids` if given): equal fingerprints, equal annotations."""
        h = hashlib.sha1()
        for key in self.keys():
            if object_ids is None or key[0] in object_ids:
                h.update(f"{key}:{self._digests[key]};".encode())
        return h.hexdigest()

    def frame_weights(self, frame_idx: int, object_ids: list[int]) -> np.ndarray | None:
        """Training weight per pixel (K, H, W) float32 for `object_ids` on one frame: 1, or a
        correction's own weights (Correction.weights); None when no object has a correction
        there."""
        corrections = [self._corrections.get((o, frame_idx)) for o in object_ids]
        if all(c is None for c in corrections):
            return None
        weights = np.ones((len(object_ids), self.size[1], self.size[0]), np.float32)
        for k, correction in enumerate(corrections):
            if correction is not None:
                weights[k] = correction.weights()
        return weights

    def has_foreground(self, object_ids: list[int]) -> bool:
        return any(self._masks[k].any() for k in self._masks if k[0] in object_ids)

    def frame_masks(self, frame_idx: int, object_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """masks (K, H, W) bool and valid (K,) bool for `object_ids` on one frame."""
        height, width = self.size[1], self.size[0]
        masks = np.zeros((len(object_ids), height, width), dtype=bool)
        valid = np.zeros(len(object_ids), dtype=bool)
        for k, object_id in enumerate(object_ids):
            mask = self._masks.get((object_id, frame_idx))
            if mask is not None:
                masks[k] = mask
                valid[k] = True
        return masks, valid

    def frame_known(
        self, frame_idx: int, object_ids: list[int], *, for_training: bool = False
    ) -> np.ndarray | None:
        """Painted pixels (K, H, W) bool for `object_ids` on one frame (all True for a full mask
        or no entry), or None when none of them has hint strokes there. `for_training`: with
        the implied background of strokes that have no background stroke (implied_background)."""
        hints = [self._known.get((o, frame_idx)) for o in object_ids]
        if all(h is None for h in hints):
            return None
        height, width = self.size[1], self.size[0]
        known = np.ones((len(object_ids), height, width), dtype=bool)
        for k, painted in enumerate(hints):
            if painted is not None:
                mask = self._masks[(object_ids[k], frame_idx)]
                known[k] = implied_background(mask, painted) if for_training else painted
        return known
