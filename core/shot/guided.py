"""Mask-guided segmenters (MaskTrack): the network also gets a rough mask of where the object is.

- `RefineSegmenter` ("refine"): two passes of the guided network per frame, the first with an
  empty guidance, the second guided by the first's (dilated) result. Every frame on its own,
  any order, like plain OSVOS, at twice the network cost.
- `PropagateSegmenter` ("propagate"): the guidance of a frame is the previous frame's confident
  result, in a chain that starts at the nearest keyframe's annotation and runs forward or
  backward to the frame. A frame between two keyframes takes the chain of the nearer one (the
  earlier on a tie). Chains are independent of each other, so spans can run in any order or on
  different workers and give the same results; within a chain frames are done in sequence.

Guidance is the union of all objects (one channel); the objects are told apart by the
network's own per-object outputs. Probabilities are (K, h, w) float32 at the working size, as
`core.segmentation.Segmenter.raw_probs`.
"""

from __future__ import annotations

import numpy as np

from core.guidance import dilate
from core.segmentation import Segmenter, priority_order
from core.shot.ordering import Ordering

# How a result becomes the next pass's guidance: (confidence, dilation in px at 480 px short
# side). Refine guides once per frame, as the network was trained: p > 0.5, dilated 5 px like
# MaskTrack's training deformations. Propagate guides each frame by the result the one before
# produced, so an outward bias compounds frame after frame (with p > 0.5 and 5 px the object grew
# on every frame, docs/BENCHMARKS.md "Mask guidance"): only confident pixels, no dilation.
REFINE_GUIDANCE = (0.5, 5)
CHAIN_GUIDANCE = (0.8, 0)


def guidance_radius(shape: tuple[int, int], dilate_px: int) -> int:
    """A dilation of `dilate_px` at 480 px short side, for a frame of `shape` (H, W)."""
    return round(dilate_px * min(shape) / 480)


def guidance_from_probs(probs: np.ndarray, rule: tuple[float, int]) -> np.ndarray:
    """(K, h, w) probabilities -> (h, w) float32 guidance: the union of the objects' pixels above
    the rule's confidence, dilated by its px (REFINE_GUIDANCE, CHAIN_GUIDANCE)."""
    confidence, dilate_px = rule
    union = (probs > confidence).any(axis=0)
    return dilate(union, guidance_radius(union.shape, dilate_px))


class _GuidedSegmenter(Segmenter):
    """What both guided modes share: the two-pass refinement; subclasses compute a frame's
    guided probabilities in `_compute_raw` (Segmenter.raw_probs caches them)."""

    def predict(self, frame_idx: int) -> np.ndarray:
        return self.segment_frame(frame_idx).probs

    def _image(self, frame_idx: int) -> np.ndarray:
        return self.working.image(self.source.read(frame_idx))

    def _refined(self, image: np.ndarray) -> np.ndarray:
        """Two passes: empty guidance, then guided by the first pass's result."""
        first = self.predict_image(image, None)
        return self.predict_image(image, guidance_from_probs(first, REFINE_GUIDANCE))


class RefineSegmenter(_GuidedSegmenter):
    """Order-free guided segmentation: the frame's own first pass guides its second."""

    ordering = Ordering.INDEPENDENT

    def schedule(self, num_frames: int, focus_idx: int) -> list[int]:
        return priority_order(num_frames, focus_idx)

    def _compute_raw(self, frame_idx: int) -> np.ndarray:
        return self._refined(self._image(frame_idx))


def keyframes_of(annotations: dict) -> list[int]:
    """Annotated frames that start chains (any object annotated), ascending."""
    return sorted(f for f, a in annotations.items() if np.asarray(a.valid).any())


def chain_start(frame_idx: int, keyframes: list[int]) -> int | None:
    """The keyframe whose chain `frame_idx` belongs to: the nearest, the earlier on a tie."""
    if not keyframes:
        return None
    return min(keyframes, key=lambda k: (abs(k - frame_idx), k))


def _chains(frames, keyframes: list[int]) -> dict[tuple[int, bool], list[int]]:
    """`frames` by chain, (keyframe, runs forward) -> frames in order outward from the keyframe
    (the keyframe heads its backward chain)."""
    chains: dict[tuple[int, bool], list[int]] = {}
    for f in sorted(frames):
        k = chain_start(f, keyframes)
        chains.setdefault((k, f > k), []).append(f)
    for (k, _), chain in chains.items():
        chain.sort(key=lambda f, k=k: abs(f - k))
    return chains


def span_order(num_frames: int, keyframes: list[int], focus_idx: int) -> list[int]:
    """Every frame, chain by chain: the chain holding `focus_idx` first (from its keyframe
    outward), then the other chains by distance of their keyframe from the focus. Without
    keyframes, outward from the focus."""
    if not keyframes:
        return priority_order(num_frames, focus_idx)
    chains = _chains(range(num_frames), keyframes)
    focus_key = None
    for key, frames in chains.items():
        if focus_idx in frames:
            focus_key = key
    ordered = sorted(chains, key=lambda key: (key != focus_key, abs(key[0] - focus_idx), key))
    return [f for key in ordered for f in chains[key]]


class PropagateSegmenter(_GuidedSegmenter):
    """Guided by the previous frame of the chain from the nearest keyframe (see module doc).

    Each chain frame's thresholded union is kept (bit-packed, ~1/8 byte per pixel) so that a
    frame later in the same chain resumes from its predecessor instead of from the keyframe.
    """

    ordering = Ordering.SPANS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._keyframes = keyframes_of(self.annotations)
        self._chain_masks: dict[int, np.ndarray] = {}

    def schedule(self, num_frames: int, focus_idx: int) -> list[int]:
        return span_order(num_frames, self._keyframes, focus_idx)

    def _store(self, frame_idx: int, union: np.ndarray) -> None:
        self._chain_masks[frame_idx] = np.packbits(union)

    def _stored(self, frame_idx: int, shape: tuple[int, int]) -> np.ndarray | None:
        packed = self._chain_masks.get(frame_idx)
        if packed is None:
            return None
        return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)

    def _final_union(self, frame_idx: int, probs: np.ndarray) -> np.ndarray:
        """The confident object union of a chain frame's result, its annotation imposed."""
        probs = probs.copy()
        annotation = self._working_annotation(frame_idx)
        if annotation is not None:
            annotation.apply(probs)
        return (probs > CHAIN_GUIDANCE[0]).any(axis=0)

    def _compute_raw(self, frame_idx: int) -> np.ndarray:
        start = chain_start(frame_idx, self._keyframes)
        image = self._image(frame_idx)
        if start is None:
            return self._refined(image)
        if frame_idx == start:
            probs = self._refined(image)
            self._store(start, self._final_union(start, probs))
            return probs
        step = 1 if frame_idx > start else -1
        shape = image.shape[:2]
        # Walk back along the chain to the first frame whose predecessor's union is known.
        resume = frame_idx
        while resume != start and resume - step not in self._chain_masks:
            resume -= step
        if resume == start:
            self._store(start, self._final_union(start, self._refined(self._image(start))))
            resume = start + step
        radius = guidance_radius(shape, CHAIN_GUIDANCE[1])
        probs = None
        for f in range(resume, frame_idx + step, step):
            frame_image = image if f == frame_idx else self._image(f)
            probs = self.predict_image(frame_image, dilate(self._stored(f - step, shape), radius))
            self._store(f, self._final_union(f, probs))
            if f != frame_idx:
                self._remember(f, probs)
        return probs


def chain_chunks(frames: list[int], keyframes: list[int]) -> list[tuple[int, ...]]:
    """`frames` grouped for farm tasks in propagate mode: one chunk per chain (a keyframe and
    its frames on one side, `span_order`), each in chain order, so a worker computes every frame
    once from its predecessor. A chain is not cut (a later piece would first walk its chain from
    the keyframe again), so the chains are the units of parallel work. `keyframes` must not be
    empty (without them every frame is independent: cut the frames as for per-frame modes)."""
    return [tuple(chain) for _, chain in sorted(_chains(set(frames), keyframes).items())]
