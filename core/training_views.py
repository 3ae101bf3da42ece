"""The augmented views a fine-tune trains on: how they are made, cached and ordered.

A view is one augmented copy of an annotated frame (the frame itself first, then plain
transforms or "dreamed" ones, core.augment.Dreamer) pushed through the frozen backbone once.
`FeatureCache` keeps them between runs; `ViewOrder` says which one each training step uses.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.augment import Dreamer, augment_pair
from core.guidance import DeformConfig, training_guidance

if TYPE_CHECKING:
    from core.training import FineTuneConfig, TrainingSample


@dataclass
class View:
    """One augmented view: the frozen stages' features (stride 2 first; None where not kept),
    its target masks, validity and labelled pixels, and the target resized per output size."""

    features: list[torch.Tensor]
    target: torch.Tensor  # (1, K, H, W) float
    valid: torch.Tensor  # (1, K) float
    known: torch.Tensor | None = None  # (1, K, H, W) float labelled pixels; None = all
    resized_targets: dict = dataclasses.field(default_factory=dict)  # size -> target, memoised


CacheKey = tuple[str, str, int, bool, float, int]


class FeatureCache:
    """Frozen-backbone features of augmented views, kept between fine-tune runs.

    Entries are keyed by (TrainingSample.key, backbone name, first trained stage, stride-2 kept,
    dream chance, seed) and hold a frame's views in order; each view is made from its own seed
    (frame key, view number), so a run that wants fewer views takes the first ones and a run
    that wants more encodes only the missing ones. After a correction only the new or changed frame is
    encoded. Samples with an empty key are never reused.
    """

    def __init__(self) -> None:
        self._entries: dict[CacheKey, list[View]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())

    def get(self, key: CacheKey) -> list[View]:
        """The views kept for `key` (a new, empty list to fill when there are none)."""
        if not key[0]:
            return []
        return self._entries.setdefault(key, [])

    def retain(self, keys: set[CacheKey]) -> None:
        """Drop entries not in `keys` (frames whose annotation changed or went away)."""
        for key in [k for k in self._entries if k not in keys]:
            del self._entries[key]


def view_rng(seed: int, sample: TrainingSample, index: int, view: int) -> np.random.Generator:
    """The random stream of one augmented view: fixed by the seed, the frame (its key, else its
    position) and the view's number, whatever else the run trains on."""
    frame = zlib.crc32(sample.key.encode()) if sample.key else index
    return np.random.default_rng([seed, frame, view])


# Label of an unpainted pixel while hint strokes go through augment_pair (0/1 are the classes).
_UNLABELLED = 2
# Weight levels a weighted sample's warp keeps (core.corrections.KEPT_WEIGHT is one of them).
_WEIGHT_LEVELS = 100


class ViewMaker:
    """Augmented views of the annotated frames; each frame's Dreamer (an inpainting) is made
    the first time that frame is dreamed from. Frames with hint strokes are never dreamed: the
    Dreamer cuts out the object by its mask, and strokes are not the object's whole area; nor
    are frames with per-pixel weights (corrections), whose weights it would not carry."""

    def __init__(self, samples: list[TrainingSample], cfg: FineTuneConfig) -> None:
        self.samples = samples
        self.cfg = cfg
        self._dreamers: dict[int, Dreamer] = {}

    def make(
        self, rng: np.random.Generator, index: int, identity: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(image (H, W, 3) uint8, masks (K, H, W) bool, known (K, H, W) bool or None) for
        sample `index`."""
        sample = self.samples[index]
        if identity:
            return sample.image, sample.masks, sample.known
        if sample.weighted:
            return self._weighted_view(rng, sample)
        if sample.known is not None:
            # One warp for labels and painted pixels alike: unpainted pixels ride along as a
            # third label value through the nearest-neighbour resampling.
            labels = sample.masks.astype(np.uint8)
            labels[~sample.known] = _UNLABELLED
            image, labels = augment_pair(rng, sample.image, labels, self.cfg.augment)
            return image, labels == 1, labels != _UNLABELLED
        if self.cfg.dream > 0 and rng.random() < self.cfg.dream:
            dreamer = self._dreamers.get(index)
            if dreamer is None:
                dreamer = Dreamer(sample.image, sample.masks, sample.valid, self.cfg.dream_config)
                self._dreamers[index] = dreamer
            if dreamer.ok:
                return (*dreamer.view(rng), None)
        return (*augment_pair(rng, sample.image, sample.masks, self.cfg.augment), None)

    def _weighted_view(
        self, rng: np.random.Generator, sample: TrainingSample
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A view of a sample with per-pixel weights (a correction): the weights ride through
        the same warp as extra label channels, quantised to hundredths (nearest resampling
        keeps every level)."""
        count = sample.masks.shape[0]
        codes = np.round(np.clip(sample.known, 0, 1) * _WEIGHT_LEVELS).astype(np.uint8)
        stacked = np.concatenate([sample.masks.astype(np.uint8), codes])
        image, warped = augment_pair(rng, sample.image, stacked, self.cfg.augment)
        weights = warped[count:].astype(np.float32) / _WEIGHT_LEVELS
        return image, warped[:count] > 0, weights


# Fine-tune guidance: the parent's deformations, fewer boxes (a shot's guidance is a previous
# or plain result far more often than a box).
_FINE_TUNE_DEFORM = DeformConfig(box_share=0.1)


def view_guidance(
    rng: np.random.Generator, masks: np.ndarray, known: np.ndarray | None
) -> np.ndarray:
    """The guidance a guided network trains with on one view: the union of the objects' masks
    (K, H, W) bool deformed as in parent training (core.guidance.training_guidance) ->
    (H, W) float32 in [0, 1]. Hint strokes (`known` bool) are not the object's area, so those
    views get an empty guidance; a correction's weights (`known` float) do not change it."""
    if known is not None and known.dtype == bool:
        return np.zeros(masks.shape[1:], np.float32)
    return training_guidance(masks.any(axis=0), rng, _FINE_TUNE_DEFORM)


class ViewOrder:
    """Which cached view each step trains on: every view once per shuffled round, except that a
    `focus_share` of steps take the next view of the focused frames' own shuffled round."""

    def __init__(
        self,
        rng: np.random.Generator,
        view_frames: list[int],
        focus: Collection[int],
        focus_share: float,
    ) -> None:
        self.rng = rng
        self.count = len(view_frames)
        focused = set(focus)
        self.focused = [i for i, frame in enumerate(view_frames) if frame in focused]
        self.focus_share = focus_share if self.focused else 0.0
        self._all: list[int] = []
        self._focus: list[int] = []

    def next(self) -> int:
        if self.focus_share > 0 and self.rng.random() < self.focus_share:
            if not self._focus:
                self._focus = [self.focused[i] for i in self.rng.permutation(len(self.focused))]
            return self._focus.pop()
        if not self._all:
            self._all = list(self.rng.permutation(self.count))
        return self._all.pop()
