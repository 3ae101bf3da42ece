"""Annotation masks: reading mask files and the per-(object, frame) keyframe store."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import RotoshotError


def read_label_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as a label map (H, W) uint16: 0 background, >0 object id.

    A mask with a single non-zero value (the usual 0/255 PNG) becomes object 1; a label map with
    several values (indexed/palette PNG or grey levels) keeps its values as object ids. RGB colour
    masks map each distinct colour to an id 1, 2, ... in order of first appearance.
    """
    try:
        with Image.open(path) as image:
            if image.mode == "P":
                labels = np.asarray(image, dtype=np.uint16)
            elif image.mode in ("RGB", "RGBA"):
                rgb = np.asarray(image.convert("RGB"))
                if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                    labels = rgb[..., 0].astype(np.uint16)
                else:
                    flat = rgb.reshape(-1, 3).astype(np.uint32)
                    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
                    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
                    rank = np.empty(len(uniq), dtype=np.uint16)
                    order = [u for u in np.argsort(first) if uniq[u] != 0]
                    rank[:] = 0
                    for new_id, u in enumerate(order, start=1):
                        rank[u] = new_id
                    labels = rank[inverse].reshape(rgb.shape[:2])
            else:
                labels = (
                    np.asarray(image.convert("I"), dtype=np.int64).clip(0, 65535).astype(np.uint16)
                )
    except FileNotFoundError:
        raise RotoshotError(f"mask file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise RotoshotError(f"cannot read mask {path}: {exc}") from None
    values = np.unique(labels)
    values = values[values != 0]
    if len(values) == 1:
        labels = (labels > 0).astype(np.uint16)
    return labels
