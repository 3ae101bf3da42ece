"""A correction teaches the frames around it (issue #13).

An error the artist fixes on one frame is usually on its neighbours too: the same look-alike
beside the object, the same missed limb, moved a little. The pixels the artist painted on a
correction are carried to the frames around it along the optical flow (OpenCV's DIS), kept only
where the flow agrees both ways (occlusions and flow errors drop out) and a little inside their
edges, and become sparse training targets there: painted object stays object, painted
background stays background, every other pixel carries no loss. Their weight halves with each
frame of distance, so the corrected frame itself counts most.

Not on in the app (ShotSession.correction_neighbours is None): at the same training steps it
did not beat corrections alone on the dev split (docs/BENCHMARKS.md); the simulated-artist
bench measures it with `--neighbours on`.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.annotations import AnnotationStore
from core.matte import disk_kernel
from core.resolution import WorkingResolution
from core.training import TrainingSample
from core.video import FrameSource

# Frames each side of a correction that learn from it, and their weight at distance 1 (halved
# per further frame); each gets this many cached views (the frame itself and one augmented).
NEIGHBOUR_RADIUS = 2
NEIGHBOUR_WEIGHT = 0.5
NEIGHBOUR_VIEWS = 2
# Forward-backward flow disagreement (working px) above which a carried pixel is dropped, and
# how far (working px) carried regions are shrunk from their edges.
CONSISTENCY_PX = 1.0
SHRINK_PX = 2


def _flow(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow (h, w, 2) float32 from grey `a` to grey `b`: a(x) ~ b(x + flow(x))."""
    return dis.calc(a, b, None)


def carried(
    regions: np.ndarray, grey_from: np.ndarray, grey_to: np.ndarray, dis: cv2.DISOpticalFlow
) -> np.ndarray:
    """regions (R, h, w) bool on frame `grey_from` ((h, w) uint8) -> (R, h, w) bool on frame
    `grey_to`: each pixel of the target frame takes the region of where the flow says it came
    from, where forward and backward flow agree within CONSISTENCY_PX, shrunk by SHRINK_PX."""
    height, width = grey_to.shape
    back = _flow(dis, grey_to, grey_from)  # target pixel -> source position
    forth = _flow(dis, grey_from, grey_to)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = xs + back[..., 0], ys + back[..., 1]
    round_trip = cv2.remap(forth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    error = np.linalg.norm(back + round_trip, axis=-1)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    agree = inside & (error < CONSISTENCY_PX)
    kernel = disk_kernel(SHRINK_PX)
    out = np.zeros((regions.shape[0], height, width), bool)
    for r, region in enumerate(regions):
        moved = cv2.remap(region.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST)
        out[r] = (cv2.erode(moved, kernel) > 0) & agree
    return out


class NeighbourSamples:
    """The neighbour samples of a shot's corrections, kept between training runs: each
    correction's are computed once (two flows per neighbour) and reused until it, the keyframes
    or the working size change. Plain Python; used from the thread that builds training jobs."""

    def __init__(self) -> None:
        self._kept: dict[tuple, list[TrainingSample]] = {}

    def for_store(
        self,
        store: AnnotationStore,
        source: FrameSource,
        object_ids: list[int] | tuple[int, ...],
        working: WorkingResolution,
        frames: list[int],
    ) -> list[TrainingSample]:
        """neighbour_samples of `store`, from what was kept where nothing changed."""
        ids = list(object_ids)
        keyframes = tuple(store.frames())
        kept, samples = {}, []
        for frame_idx in frames:
            if all(store.correction(o, frame_idx) is None for o in ids):
                continue
            digests = tuple(store.digest(o, frame_idx) for o in ids)
            key = (frame_idx, tuple(ids), digests, keyframes, working)
            found = self._kept.get(key)
            if found is None:
                found = neighbour_samples(store, source, ids, working, [frame_idx])
            kept[key] = found
            samples.extend(found)
        self._kept = kept
        return samples


def neighbour_samples(
    store: AnnotationStore,
    source: FrameSource,
    object_ids: list[int] | tuple[int, ...],
    working: WorkingResolution,
    frames: list[int],
) -> list[TrainingSample]:
    """Training samples on the frames within NEIGHBOUR_RADIUS of each correction among
    `frames` (keyframes themselves excepted), at the `working` size: masks (K, h, w) the
    carried painted object, known (K, h, w) float32 the weight of each carried painted pixel
    (0 elsewhere), valid only for the objects corrected there; `views` NEIGHBOUR_VIEWS."""
    ids = list(object_ids)
    keyframes = set(store.frames())
    corrected = [f for f in frames if any(store.correction(o, f) is not None for o in ids)]
    if not corrected:
        return []
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    width, height = working.size
    samples = []
    for frame_idx in corrected:
        image = working.image(np.asarray(source.read(frame_idx)))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        regions = np.zeros((2 * len(ids), height, width), bool)  # per object: object, background
        valid = np.zeros(len(ids), bool)
        for k, object_id in enumerate(ids):
            correction = store.correction(object_id, frame_idx)
            if correction is None:
                continue
            mask = store.get(object_id, frame_idx)
            painted = np.stack([correction.painted & mask, correction.painted & ~mask])
            regions[2 * k : 2 * k + 2] = working.masks(painted)
            valid[k] = True
        digests = ",".join(store.digest(o, frame_idx) for o in ids)
        for offset in range(-NEIGHBOUR_RADIUS, NEIGHBOUR_RADIUS + 1):
            target = frame_idx + offset
            if offset == 0 or not 0 <= target < len(source) or target in keyframes:
                continue
            target_image = working.image(np.asarray(source.read(target)))
            moved = carried(regions, grey, cv2.cvtColor(target_image, cv2.COLOR_RGB2GRAY), dis)
            weight = NEIGHBOUR_WEIGHT / 2 ** (abs(offset) - 1)
            masks = moved[0::2]
            known = ((moved[0::2] | moved[1::2]) * weight).astype(np.float32)
            if not known.any():
                continue
            samples.append(
                TrainingSample(
                    target_image,
                    masks,
                    valid.copy(),
                    key=f"near:{target}:{frame_idx}:{width}x{height}:{digests}",
                    known=known,
                    views=NEIGHBOUR_VIEWS,
                )
            )
    return samples
