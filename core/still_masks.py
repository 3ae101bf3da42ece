"""Still images with object masks (`../shared/data/static-masks`) as parent-training clips.

Layout: `<root>/<set>/images/<id>.jpg` and `<root>/<set>/masks/<id>.png` (0 background,
255 object; the `grabcut` set also has 128 = unknown band). How each set may be used (the
dataset's README): `coco-mval` images label one instance among other objects, so they only
train the guided network and never with an empty guidance (it would not say which instance);
`grabcut`'s unknown band carries no loss; `portraits` are down-weighted so people do not
dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import RotoshotError
from core.video import read_image_rgb


@dataclass(frozen=True)
class StillSetRule:
    """weight: sampling weight of each image relative to others; guided_only: usable only with
    a non-empty guidance (instance masks among other unlabelled objects)."""

    weight: float = 1.0
    guided_only: bool = False


STILL_SET_RULES = {
    "coco-mval": StillSetRule(guided_only=True),
    "grabcut": StillSetRule(),
    "sod": StillSetRule(),
    "duts": StillSetRule(),
    "horses": StillSetRule(),
    "portraits": StillSetRule(weight=0.5),
}

# Mask value of the grabcut set's unknown band.
_UNKNOWN = 128


@dataclass
class StillImage:
    """image (H, W, 3) uint8; mask (H, W) bool; known (H, W) bool or None (None = every pixel
    labelled); set_name: the subset it came from."""

    set_name: str
    image: np.ndarray
    mask: np.ndarray
    known: np.ndarray | None
    rule: StillSetRule


def load_still_folder(root: str | Path, *, guided: bool) -> list[StillImage]:
    """Every image of the known sets under `root`; sets marked guided-only are skipped unless
    `guided`. RotoshotError when nothing usable is found."""
    root = Path(root)
    stills = []
    for set_name, rule in STILL_SET_RULES.items():
        if rule.guided_only and not guided:
            continue
        image_dir, mask_dir = root / set_name / "images", root / set_name / "masks"
        if not image_dir.is_dir():
            continue
        for image_path in sorted(image_dir.glob("*.jpg")):
            raw = cv2.imread(str(mask_dir / (image_path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
            if raw is None:
                continue
            image = read_image_rgb(image_path)
            if raw.shape != image.shape[:2]:
                raise RotoshotError(f"mask of {image_path} does not match its image size")
            unknown = raw == _UNKNOWN
            known = ~unknown if unknown.any() else None
            stills.append(StillImage(set_name, image, raw > _UNKNOWN, known, rule))
    if not stills:
        raise RotoshotError(f"no still images with masks under {root} (expected <set>/images)")
    return stills
