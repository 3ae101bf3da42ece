"""Training samples from the artist's annotations: the samples a shot's model learns, the
annotation overrides its results keep, and the fingerprint of what a model learnt. Used by the
shot session (core.shot.session), the app's controllers and the CLI."""

from __future__ import annotations

import hashlib

import numpy as np

from core.annotations import AnnotationStore
from core.correction_neighbours import NeighbourSamples
from core.errors import RotoshotError
from core.resolution import WorkingResolution
from core.segmentation import FrameAnnotation
from core.training import TrainingSample
from core.video import FrameSource


def annotation_overrides(
    store: AnnotationStore,
    object_ids: list[int] | tuple[int, ...],
    frames: list[int] | None = None,
) -> dict[int, FrameAnnotation]:
    """frame_idx -> FrameAnnotation (masks in `object_ids` order) for every annotated frame (or
    those of them in `frames`)."""
    ids = list(object_ids)
    keep = store.frames() if frames is None else [f for f in store.frames() if f in set(frames)]
    return {f: FrameAnnotation(*store.frame_masks(f, ids), store.frame_known(f, ids)) for f in keep}


def training_fingerprint(
    store: AnnotationStore,
    frames: list[int] | None = None,
    working: WorkingResolution | None = None,
    mode: str = "osvos",
) -> str:
    """What a model trained on the keyframes of `frames` (all when None) at the `working` size
    in `mode` answers: the store's fingerprint when every keyframe is used at the source size in
    the plain mode, else that, the frames used, the working size and region and the mode (a
    model of another working size, region or mode does not match: a guided mode's network
    differs)."""
    scaled = working is not None and not working.is_identity
    if (frames is None or list(frames) == store.frames()) and not scaled and mode == "osvos":
        return store.fingerprint()
    used = store.frames() if frames is None else sorted(frames)
    size = f":{working.size}" if scaled else ""
    if scaled and working.roi is not None:
        size += f":roi{working.roi}"
    guided = f":{mode}" if mode != "osvos" else ""
    return hashlib.sha1(f"{store.fingerprint()}:{used}{size}{guided}".encode()).hexdigest()


def build_samples(
    store: AnnotationStore,
    source: FrameSource,
    object_ids: list[int] | tuple[int, ...],
    frames: list[int] | None = None,
    working: WorkingResolution | None = None,
    neighbours: NeighbourSamples | None = None,
) -> tuple[tuple[TrainingSample, ...], dict[int, FrameAnnotation]]:
    """Training samples and annotation overrides from every annotated frame (or those of them
    in `frames`: the artist's work range), masks in `object_ids` order. Samples are at the
    `working` size (None = the source size), overrides at the source size. Each sample's key
    identifies its frame, content and size (for FeatureCache reuse). With `neighbours` (what
    they keep between runs), the frames around each correction learn from it too
    (core.correction_neighbours). RotoshotError when a frame's size differs from the
    annotations', or when all that is painted lies outside the working region."""
    ids = list(object_ids)
    working = working or WorkingResolution(source.size, source.size)
    samples, annotations = [], {}
    keep = store.frames() if frames is None else [f for f in store.frames() if f in set(frames)]
    for frame_idx in keep:
        masks, valid = store.frame_masks(frame_idx, ids)
        image = np.array(source.read(frame_idx))
        if image.shape[:2] != masks.shape[1:]:
            raise RotoshotError(
                f"frame {frame_idx + 1} is {image.shape[1]}x{image.shape[0]}, but the clip's "
                f"annotations are {masks.shape[2]}x{masks.shape[1]}"
            )
        width, height = working.size
        digests = ",".join(store.digest(o, frame_idx) for o in ids)
        key = f"{frame_idx}:{width}x{height}:{digests}"
        labelled = store.frame_known(frame_idx, ids, for_training=True)
        known = None if labelled is None else working.masks(labelled)
        weights = store.frame_weights(frame_idx, ids)
        if weights is not None:  # a correction: its kept pixels weigh less
            known = working.weights(weights) * (1.0 if known is None else known)
        samples.append(
            TrainingSample(working.image(image), working.masks(masks), valid, key=key, known=known)
        )
        annotations[frame_idx] = FrameAnnotation(masks, valid, store.frame_known(frame_idx, ids))
    if working.roi is not None and not any(s.masks[s.valid].any() for s in samples):
        if any(a.masks[a.valid].any() for a in annotations.values()):
            raise RotoshotError(
                "everything painted lies outside the region of interest: draw the region "
                "around the object (Clip ▸ Region of Interest, --roi) or use the whole frame"
            )
    if neighbours is not None:
        samples.extend(neighbours.for_store(store, source, ids, working, keep))
    return tuple(samples), annotations
