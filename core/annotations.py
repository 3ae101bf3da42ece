"""Annotation masks: reading mask files and the per-(object, frame) keyframe store."""

from __future__ import annotations

import hashlib
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

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
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise RotoshotError(f"cannot read mask {path}: {exc}") from None
    values = np.unique(grey)
    values = values[values != 0]
    if len(values) == 1:
        return (grey > 0).astype(np.uint16)
    if labels or _looks_like_labels(grey):
        return grey
    top = 65535 if grey.max() > 255 else 255
    return (grey > top // 2).astype(np.uint16)


class AnnotationStore:
    """Painted keyframes: one (H, W) bool mask per (object_id, frame_idx).

    An entry means "the artist said what this object covers on this frame" (an empty mask is a
    valid answer: the object is absent there). Plain Python state; the app wraps it with undo and
    signals, the project module persists it.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size  # (width, height)
        self.skipped: list[str] = []  # keyframe files that could not be read when loaded
        self._masks: dict[tuple[int, int], np.ndarray] = {}
        self._digests: dict[tuple[int, int], str] = {}

    def __len__(self) -> int:
        return len(self._masks)

    def get(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        """The mask (H, W) bool (read-only view), or None when not annotated."""
        return self._masks.get((object_id, frame_idx))

    def set(self, object_id: int, frame_idx: int, mask: np.ndarray | None) -> None:
        """Store a copy of `mask` (H, W) bool-like, or remove the entry when None."""
        key = (object_id, frame_idx)
        if mask is None:
            self._masks.pop(key, None)
            self._digests.pop(key, None)
            return
        if mask.shape != (self.size[1], self.size[0]):
            raise RotoshotError(
                f"mask is {mask.shape[1]}x{mask.shape[0]}, frames are {self.size[0]}x{self.size[1]}"
            )
        stored = np.array(mask, dtype=bool, copy=True)
        stored.setflags(write=False)
        self._masks[key] = stored
        self._digests[key] = hashlib.sha1(np.packbits(stored).tobytes()).hexdigest()

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
