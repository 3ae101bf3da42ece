"""Box prompts (MaskTrack_Box): a rectangle dragged around the object becomes a first mask.

The mask-guided network (core.guidance) was trained with box-shaped guidance in part of its
samples, so a box on its guidance channel asks "the object inside this box". The result is a
first mask the artist accepts as a keyframe, edits or corrects; nothing is trained from it
until then. OpenCV's GrabCut initialised from the same box is the baseline it is measured
against (docs/BENCHMARKS.md) and the fallback when the network finds nothing in the box.

Boxes are (x0, y0, x1, y1) in pixels of the frame, x1/y1 exclusive; masks (H, W) bool.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.errors import RotoshotError
from core.guidance import box_mask
from core.model.network import OSVOSNet
from core.resolution import WorkingResolution
from core.roi import checked_rect
from core.segmentation import SegmentConfig, Segmenter
from core.video import FrameSource

Box = tuple[int, int, int, int]

# A box smaller than this on either side is a slip of the mouse, not a box.
MIN_BOX_PX = 4
# The network's mask is kept inside the box grown by this share of its size (an artist's box
# may clip the object a little, but nothing far outside it is what the box meant).
_BOX_MARGIN = 0.1
_GRABCUT_ITERATIONS = 5
# A box is answered once, so the first mask averages the frame and its mirror image: the
# network's errors on the two differ, and the second pass costs one more inference.
_BOX_MIRROR = True


def check_box(box: Sequence[float], size: tuple[int, int]) -> Box:
    """A box (x0, y0, x1, y1) clipped to a frame of `size` (W, H) as ints. RotoshotError when it
    is empty, inverted, smaller than MIN_BOX_PX or entirely outside the frame."""
    return checked_rect(box, size, MIN_BOX_PX, "box")


def parse_box_spec(spec: str, size: tuple[int, int]) -> tuple[int, int, Box]:
    """CLI `IDX:x0,y0,x1,y1[@ID]` -> (frame index, object id (1 without @ID), box).
    RotoshotError (one line) for anything else."""
    body, _, id_text = spec.partition("@")
    frame_text, colon, coords = body.partition(":")
    try:
        if not colon:
            raise ValueError
        frame_idx = int(frame_text)
        values = [float(v) for v in coords.split(",")]
        object_id = int(id_text) if id_text else 1
    except ValueError:
        raise RotoshotError(f"--box {spec!r}: expected IDX:x0,y0,x1,y1[@ID]") from None
    if frame_idx < 0:
        raise RotoshotError(f"--box {spec!r}: frame index must be >= 0")
    if not 1 <= object_id <= 255:
        raise RotoshotError(f"--box {spec!r}: object ids are 1..255")
    try:
        return frame_idx, object_id, check_box(values, size)
    except RotoshotError as exc:
        raise RotoshotError(f"--box {spec!r}: {exc}") from None


def _keep_near_box(mask: np.ndarray, box: Box) -> np.ndarray:
    """The mask's connected parts that touch the box grown by _BOX_MARGIN."""
    x0, y0, x1, y1 = box
    mx, my = int((x1 - x0) * _BOX_MARGIN), int((y1 - y0) * _BOX_MARGIN)
    height, width = mask.shape
    near = np.zeros_like(mask)
    near[max(0, y0 - my) : min(height, y1 + my), max(0, x0 - mx) : min(width, x1 + mx)] = True
    count, components = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(components[near & mask])] = True
    keep[0] = False
    return keep[components] & near


def grabcut_mask(image: np.ndarray, box: Box) -> np.ndarray:
    """OpenCV GrabCut initialised from the box: image (H, W, 3) uint8 RGB -> (H, W) bool."""
    x0, y0, x1, y1 = box
    labels = np.zeros(image.shape[:2], np.uint8)
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(image[..., ::-1])
    cv2.grabCut(
        bgr,
        labels,
        (x0, y0, x1 - x0, y1 - y0),
        background,
        foreground,
        _GRABCUT_ITERATIONS,
        cv2.GC_INIT_WITH_RECT,
    )
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def box_network(parent: OSVOSNet) -> tuple[OSVOSNet, str]:
    """The network that turns boxes into masks for a session with `parent`: the parent itself
    when it is guided, else the shipped guided parent on the parent's device. Also returns the
    loading warning ("" when none)."""
    if parent.guided:
        return parent, ""
    from core.model.build import build_model

    network, info = build_model(weights="guided")
    return network.to(next(parent.parameters()).device), info.warning


def box_to_mask(
    model: OSVOSNet,
    source: FrameSource,
    frame_idx: int,
    box: Box,
    *,
    working: WorkingResolution | None = None,
    threshold: float = 0.5,
) -> tuple[np.ndarray, str]:
    """The first mask of the object in `box` on frame `frame_idx`: (H, W) bool at the source
    size, and how it was made ("network", or "grabcut" when the network found nothing in the
    box or is not a guided one). `model` is the guided parent (or a guided shot model). The box
    is looked for in the whole frame even when `working` has a region of interest: a box is
    where the artist says the object is."""
    image = source.read(frame_idx)
    if working is not None and working.roi is not None:
        working = WorkingResolution.for_source(source.size, edges=working.edges)
    if not model.guided:
        return grabcut_mask(image, box), "grabcut"
    config = SegmentConfig(temporal_gate_px=0, flip=_BOX_MIRROR)
    segmenter = Segmenter(model, source, config=config, working=working)
    work = segmenter.working
    guidance = box_mask(box, image.shape[:2])
    if not work.is_identity:
        guidance = work.masks(guidance[None] > 0.5)[0].astype(np.float32)
    probs = segmenter.predict_image(work.image(image), guidance)
    if not work.is_identity:
        probs = work.upsample(probs, image)
    mask = _keep_near_box(probs[0] > threshold, box)
    if not mask.any():
        return grabcut_mask(image, box), "grabcut"
    return mask, "network"
