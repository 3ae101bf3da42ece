"""The segmenter interface: how a shot's trained model turns frames into probabilities.

A segmenter says which frames it can do in which order and keeps its own cache; the engine, the
CLI and farm workers drive any implementation the same way. Per-frame OSVOS is one (every frame
on its own, any order); a mode that propagates masks from keyframes would declare SPANS ordering
and implement the same methods, without touching the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.errors import RotoshotError
from core.model.build import ModelInfo
from core.model.network import OSVOSNet
from core.project import load_result
from core.resolution import WorkingResolution
from core.segmentation import (
    FrameAnnotation,
    FrameResult,
    SegmentConfig,
    Segmenter,
    labels_from_probs,
    priority_order,
)
from core.shot.guided import PropagateSegmenter, RefineSegmenter
from core.shot.ordering import Ordering
from core.shot.presets import LARGE_PARENT, STANDARD_PARENT
from core.video import FrameSource


class FrameSegmenter(Protocol):
    """What the pipeline needs of a segmenter. Probabilities are (K, H, W) float32 in [0, 1], one
    map per object in the model's channel order."""

    ordering: Ordering
    source: FrameSource

    def predict(self, frame_idx: int) -> np.ndarray:
        """Final probabilities of one frame (annotations applied)."""

    def segment_frame(self, frame_idx: int) -> FrameResult:
        """Probabilities and labels of one frame."""

    def schedule(self, num_frames: int, focus_idx: int) -> list[int]:
        """Every frame index in the order to compute them, the focus frame's first."""


class OsvosSegmenter(Segmenter):
    """Per-frame OSVOS (core.segmentation.Segmenter): independent frames, an LRU of raw
    probabilities for the temporal gate."""

    ordering = Ordering.INDEPENDENT

    def predict(self, frame_idx: int) -> np.ndarray:
        return self.segment_frame(frame_idx).probs

    def schedule(self, num_frames: int, focus_idx: int) -> list[int]:
        return priority_order(num_frames, focus_idx)


class CachedResults:
    """A FrameSegmenter that answers the frames in `frames` from a results cache on disk
    of project `folder` (uint8 probabilities, core.project.save_result, written by the app as
    results arrived) and
    asks `inner` for every other frame. An export then computes only what is not on screen yet."""

    def __init__(
        self, inner: FrameSegmenter, folder: str, frames: Sequence[int], threshold: float = 0.5
    ) -> None:
        self.inner = inner
        self.ordering = inner.ordering
        self.source = inner.source
        self.folder = folder
        self.frames = set(frames)
        self.threshold = threshold

    def predict(self, frame_idx: int) -> np.ndarray:
        return self.segment_frame(frame_idx).probs

    def schedule(self, num_frames: int, focus_idx: int) -> list[int]:
        return self.inner.schedule(num_frames, focus_idx)

    def segment_frame(self, frame_idx: int) -> FrameResult:
        if frame_idx in self.frames:
            stored = load_result(self.folder, frame_idx, self.source.height)
            if stored is not None:
                # The centre of each uint8 bin: p > 0.5 exactly where the stored value > 127.
                probs = (stored.astype(np.float32) + 0.5) / 255.999
                return FrameResult(frame_idx, probs, labels_from_probs(probs, self.threshold))
        return self.inner.segment_frame(frame_idx)


SEGMENTER_MODES = {
    "osvos": OsvosSegmenter,
    "refine": RefineSegmenter,
    "propagate": PropagateSegmenter,
}
# Modes whose network is the mask-guided one (core.guidance).
GUIDED_MODES = ("refine", "propagate")
MODES = tuple(SEGMENTER_MODES)


def parent_weights_for(mode: str, weights: str) -> str:
    """The parent weights a session in `mode` starts from: the shipped guided parent instead of
    the shipped parent in a guided mode; any other choice stays as it is."""
    return "guided" if mode in GUIDED_MODES and weights == "parent" else weights


def load_parents(mode: str, weights: str) -> tuple[OSVOSNet, ModelInfo, dict[str, OSVOSNet]]:
    """The networks a shot in `mode` starts from, on the CPU: the parent `weights` names
    (`parent_weights_for`), its ModelInfo, and the further parents by name (ShotSession's
    `parents`). With the shipped parent in the plain mode that is the larger shipped parent the
    Balanced and Best recipes name; when it cannot be used those recipes train from the standard
    parent, and the info's warning says why."""
    from core.model.build import build_model

    parent, info = build_model(weights=parent_weights_for(mode, weights))
    if mode in GUIDED_MODES or weights != STANDARD_PARENT or info.source != "parent":
        return parent, info, {}
    large, large_info = build_model(weights=LARGE_PARENT)
    if large_info.warning:
        return parent, dataclasses.replace(info, warning=large_info.warning), {}
    return parent, info, {LARGE_PARENT: large}


def make_segmenter(
    networks: Sequence[OSVOSNet],
    source: FrameSource,
    *,
    annotations: dict[int, FrameAnnotation],
    config: SegmentConfig,
    mode: str = "osvos",
    working: WorkingResolution | None = None,
) -> FrameSegmenter:
    """A segmenter of `mode` over `networks` (averaged) for `source`, the network working at
    `working` (None = the source size)."""
    if mode not in MODES:
        raise RotoshotError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return SEGMENTER_MODES[mode](
        list(networks), source, annotations=annotations, config=config, working=working
    )
