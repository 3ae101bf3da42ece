"""Segment frames independently, in any order, with a fine-tuned OSVOS network.

`segment` takes a priority list of frame indices and yields one FrameResult per frame. Each frame
is segmented on its own, so the order never changes a result: the optional temporal gate compares
a frame with the *raw* prediction of its neighbour towards the nearest annotated frame (computed
on demand and cached), never with whatever happened to be computed before.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.device import cpu_has_bf16
from core.jobs import NEVER_CANCELLED, CancelToken
from core.model.inference import InferenceCopy, parameters_fingerprint, same_weights
from core.model.network import OSVOSNet
from core.model.onnx_backbone import OnnxBackbone, use_onnx
from core.resolution import WorkingResolution
from core.video import FrameSource

log = logging.getLogger(__name__)


# Temporal gate radius used by the CLI and the app (px at the working resolution); chosen with the
# dev-split benchmark (docs/BENCHMARKS.md: gate on vs off).
DEFAULT_GATE_PX = 40


@dataclass(frozen=True)
class SegmentConfig:
    """threshold: probability above which a pixel is object; temporal_gate_px: keep only the
    connected components within this many pixels of the neighbouring frame's object (0 = off);
    bf16: bfloat16 autocast on CPU (None = when the CPU has native bf16); fold_batchnorm: run a
    BatchNorm-folded NHWC copy of the model (core.model.inference; same results, faster);
    scales / flip: test-time augmentation, the probabilities of every (scale, mirror) pass
    averaged ((1.0,), False = one pass; each extra pass costs about one more inference);
    backend: what runs the backbone, one of core.model.onnx_backbone.BACKENDS."""

    threshold: float = 0.5
    temporal_gate_px: int = 0
    bf16: bool | None = None
    fold_batchnorm: bool = True
    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    backend: str = "torch"


@dataclass(frozen=True)
class FrameAnnotation:
    """An annotated frame: masks (K, H, W) bool; valid (K,) bool, objects annotated there;
    known (K, H, W) bool or None: the painted pixels where an object has hint strokes (all True
    for a full mask; None when every object's annotation is a full mask)."""

    masks: np.ndarray
    valid: np.ndarray
    known: np.ndarray | None = None

    def is_full(self, obj: int) -> bool:
        """True when object `obj` has a full mask here (not hint strokes, not unannotated)."""
        return bool(self.valid[obj]) and (self.known is None or bool(self.known[obj].all()))

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """probs (K, H, W) float32 with the annotation imposed in place: a full mask replaces
        its object's map, hint strokes set only the painted pixels (the model fills the rest)."""
        for obj in np.flatnonzero(self.valid):
            if self.known is None:
                probs[obj] = self.masks[obj]
            else:
                painted = self.known[obj]
                probs[obj][painted] = self.masks[obj][painted]
        return probs


@dataclass(frozen=True)
class FrameResult:
    """Result for one frame. probs (K, H, W) float32 in [0, 1], one map per object;
    labels (H, W) uint8: 0 background, k+1 where object k wins (argmax over objects above the
    threshold); annotated: True when every object's result came from an annotation."""

    frame_idx: int
    probs: np.ndarray
    labels: np.ndarray
    annotated: bool = False


# float16 <-> float32 through torch: numpy's conversion is scalar and an order of magnitude slower
# (same IEEE round-to-nearest-even result).
def _to_float16(array: np.ndarray) -> np.ndarray:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).half().numpy()


def _to_float32(array: np.ndarray) -> np.ndarray:
    return torch.from_numpy(array).float().numpy()


def labels_from_probs(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """probs (K, H, W) float in [0, 1] -> labels (H, W) uint8 (0 = background, k+1 = object k)."""
    best = probs.argmax(axis=0)
    labels = (best + 1).astype(np.uint8)
    labels[probs.max(axis=0) <= threshold] = 0
    return labels


def as_model_list(model: OSVOSNet | Sequence[OSVOSNet]) -> list[OSVOSNet]:
    """One model or several (fine-tuned for the same objects) -> a non-empty list."""
    models = [model] if isinstance(model, OSVOSNet) else list(model)
    if not models:
        raise ValueError("at least one model is needed")
    return models


class Segmenter:
    """Per-frame inference with an LRU cache of raw probabilities (for the temporal gate).

    `model` is one network or a list of networks fine-tuned for the same objects (the slider's
    Best setting keeps two); a frame's probabilities are then the mean of theirs.
    `working` sets the size the network sees (core.resolution; None = the source size): raw
    probabilities and the temporal gate are at the working size, results at the source size.
    Owns no thread: call it from the one engine thread that owns the models.
    """

    def __init__(
        self,
        model: OSVOSNet | Sequence[OSVOSNet],
        source: FrameSource,
        *,
        annotations: dict[int, FrameAnnotation] | None = None,
        config: SegmentConfig = SegmentConfig(),
        raw_cache_frames: int = 8,
        working: WorkingResolution | None = None,
    ) -> None:
        self.models = [m.eval() for m in as_model_list(model)]
        self.model = self.models[0]
        self.source = source
        self.annotations = dict(annotations or {})
        self.config = config
        self.working = working or WorkingResolution(source.size, source.size)
        self._working_annotations: dict[int, FrameAnnotation] = {}
        self.device = next(self.model.parameters()).device
        native_bf16 = self.device.type == "cpu" and cpu_has_bf16()
        self.use_bf16 = (
            config.bf16
            if config.bf16 is not None
            else native_bf16 and config.backend != "torch-fp32"
        )
        self._inference = [InferenceCopy(m) for m in self.models] if config.fold_batchnorm else None
        self._onnx = None
        if use_onnx(config.backend, self.device):
            self._onnx = [OnnxBackbone(m) for m in self.models]
        self._raw_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._raw_cache_frames = raw_cache_frames
        self._backbone_key: tuple | None = None
        self._backbone_leaders: list[int] = []

    @torch.inference_mode()
    def predict_image(self, image: np.ndarray, guidance: np.ndarray | None = None) -> np.ndarray:
        """Network probabilities for one frame: image (H, W, 3) uint8 -> (K, H, W) float32 in
        [0, 1], averaged over the models and the configured test-time scales and mirror.
        guidance: (H, W) float in [0, 1], a mask-guided network's rough mask (None = empty).
        Models whose backbones hold the same weights (head-only fine-tunes of one parent: an
        online round's model and the one before it) share one backbone pass per input."""
        x = torch.from_numpy(np.array(image, copy=True)).to(self.device)  # frames are read-only
        g = None
        if guidance is not None:
            g = torch.from_numpy(np.asarray(guidance, np.float32)).to(self.device)[None, None]
        x = self.model.normalize(x.permute(2, 0, 1)[None], g)
        members = [
            self._inference[i].get() if self._inference is not None else m.eval()
            for i, m in enumerate(self.models)  # the folded copy is rebuilt if the model trained
        ]
        leaders = self._shared_backbones()
        size = tuple(x.shape[-2:])
        total = None
        passes = 0
        for inp, mirrored in self._test_time_inputs(x):
            features: dict[int, list[torch.Tensor]] = {}
            for index, member in enumerate(members):
                leader = leaders[index]
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                    if leader not in features:
                        features[leader] = self._features(members[leader], leader, inp)
                    logits = member.head(features[leader], size).logits.float()
                probs = torch.sigmoid(logits.flip(-1) if mirrored else logits)
                total = probs if total is None else total + probs
                passes += 1
        return (total / passes)[0].cpu().numpy()

    def _test_time_inputs(self, x: torch.Tensor) -> Iterator[tuple[torch.Tensor, bool]]:
        """Each test-time pass's input for normalised x (1, C, H, W): every configured scale,
        and its mirror image when `config.flip` (True with it, to flip the result back)."""
        size = tuple(x.shape[-2:])
        for scale in self.config.scales:
            scaled = x
            if scale != 1.0:
                scaled_size = [max(32, round(d * scale)) for d in size]
                scaled = F.interpolate(x, size=scaled_size, mode="bilinear", antialias=scale < 1)
            for mirrored in (False, True) if self.config.flip else (False,):
                yield (scaled.flip(-1) if mirrored else scaled), mirrored

    def _features(self, member: OSVOSNet, index: int, inp: torch.Tensor) -> list[torch.Tensor]:
        """Backbone features of model `index` (`member`: the network to run, its folded copy
        when folding is on) for one test-time input; ONNX Runtime when configured (torch if it
        fails)."""
        feats = self._onnx[index].features(inp) if self._onnx is not None else None
        if feats is not None:
            return feats
        if self._inference is not None:
            inp = inp.contiguous(memory_format=torch.channels_last)
        return member.backbone(inp)

    def _shared_backbones(self) -> list[int]:
        """For each model, the index of the first model whose backbone holds the same weights
        (itself when none does). Rechecked whenever any backbone's weights change."""
        key = tuple(parameters_fingerprint(m.backbone) for m in self.models)
        if key != self._backbone_key:
            leaders: list[int] = []
            for index, model in enumerate(self.models):
                same = (
                    j
                    for j in range(index)
                    if leaders[j] == j and same_weights(self.models[j].backbone, model.backbone)
                )
                leaders.append(next(same, index))
            self._backbone_key, self._backbone_leaders = key, leaders
        return self._backbone_leaders

    def raw_probs(self, frame_idx: int) -> np.ndarray:
        """Network probabilities for a frame at the working size, (K, h, w) float32 (float16
        precision), cached (LRU)."""
        cached = self._raw_cache.get(frame_idx)
        if cached is not None:
            self._raw_cache.move_to_end(frame_idx)
            return _to_float32(cached)
        return _to_float32(self._remember(frame_idx, self._compute_raw(frame_idx)))

    def _compute_raw(self, frame_idx: int) -> np.ndarray:
        """One frame's network probabilities at the working size, (K, h, w) float32 (what
        `raw_probs` caches; the guided segmenters compute it their own way)."""
        return self.predict_image(self.working.image(self.source.read(frame_idx)))

    def _remember(self, frame_idx: int, probs: np.ndarray) -> np.ndarray:
        """Keep a frame's raw probabilities in the LRU. Stored as float16 and always returned
        from that copy, so a result never depends on whether the frame was cached (which would
        make order matter)."""
        stored = _to_float16(probs)
        self._raw_cache[frame_idx] = stored
        self._raw_cache.move_to_end(frame_idx)
        while len(self._raw_cache) > self._raw_cache_frames:
            self._raw_cache.popitem(last=False)
        return stored

    def _working_annotation(self, frame_idx: int) -> FrameAnnotation | None:
        """The annotation of `frame_idx` at the working size (None when the frame has none)."""
        annotation = self.annotations.get(frame_idx)
        if annotation is None or self.working.is_identity:
            return annotation
        if frame_idx not in self._working_annotations:
            known = None if annotation.known is None else self.working.masks(annotation.known)
            self._working_annotations[frame_idx] = FrameAnnotation(
                self.working.masks(annotation.masks), annotation.valid, known
            )
        return self._working_annotations[frame_idx]

    def _reference_mask(self, frame_idx: int, obj: int) -> np.ndarray | None:
        """Mask of object `obj` (working size) on the neighbour of `frame_idx` towards its
        nearest annotation."""
        annotated = [f for f, a in self.annotations.items() if a.valid[obj] and f != frame_idx]
        if not annotated:
            return None
        nearest = min(annotated, key=lambda f: (abs(f - frame_idx), f))
        neighbour = frame_idx + (1 if nearest > frame_idx else -1)
        annotation = self._working_annotation(neighbour)
        if annotation is not None and annotation.is_full(obj):
            return annotation.masks[obj]
        probs = self.raw_probs(neighbour)
        if annotation is not None:
            probs = annotation.apply(probs)
        return probs[obj] > self.config.threshold

    def _gate(self, frame_idx: int, probs: np.ndarray) -> np.ndarray:
        """Drop connected components far from the neighbouring frame's object (distractors)."""
        radius = self.config.temporal_gate_px
        for obj in range(probs.shape[0]):
            mask = (probs[obj] > self.config.threshold).astype(np.uint8)
            if not mask.any():
                continue
            reference = self._reference_mask(frame_idx, obj)
            if reference is None or not reference.any():
                continue
            # Euclidean distance to the reference object: one linear-time pass, where a dilation
            # with an 81 px disk kernel cost ~3x more per frame.
            outside = (~reference).astype(np.uint8)
            near = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius
            count, components = cv2.connectedComponents(mask, connectivity=8)
            keep = np.zeros(count, dtype=bool)
            keep[np.unique(components[near & (mask > 0)])] = True
            keep[0] = True
            probs[obj][~keep[components]] = 0.0
        return probs

    def segment_frame(self, frame_idx: int) -> FrameResult:
        """Result for one frame (annotations override the network where they are valid)."""
        probs = self.raw_probs(frame_idx).copy()
        if self.config.temporal_gate_px > 0:
            probs = self._gate(frame_idx, probs)
        if not self.working.is_identity:
            probs = self.working.upsample(probs, self.source.read(frame_idx))
        annotation = self.annotations.get(frame_idx)
        fully_annotated = False
        if annotation is not None:
            annotation.apply(probs)
            fully_annotated = all(annotation.is_full(k) for k in range(len(annotation.valid)))
        return FrameResult(
            frame_idx, probs, labels_from_probs(probs, self.config.threshold), fully_annotated
        )


def segment(
    model: OSVOSNet | Sequence[OSVOSNet],
    source: FrameSource,
    frame_indices: Iterable[int],
    *,
    annotations: dict[int, FrameAnnotation] | None = None,
    config: SegmentConfig = SegmentConfig(),
    cancel: CancelToken = NEVER_CANCELLED,
    working: WorkingResolution | None = None,
) -> Iterator[FrameResult]:
    """Yield a FrameResult for each frame index, in the order given (any order).

    Raises core.jobs.Cancelled before the next frame once `cancel` is set.
    """
    segmenter = Segmenter(model, source, annotations=annotations, config=config, working=working)
    for frame_idx in frame_indices:
        cancel.raise_if_cancelled()
        yield segmenter.segment_frame(int(frame_idx))


def priority_order(num_frames: int, focus_idx: int) -> list[int]:
    """Frame indices spreading outward from `focus_idx`: f, f+1, f-1, f+2, f-2, ..."""
    focus_idx = int(np.clip(focus_idx, 0, max(0, num_frames - 1)))
    order = [focus_idx]
    for d in range(1, num_frames):
        for idx in (focus_idx + d, focus_idx - d):
            if 0 <= idx < num_frames:
                order.append(idx)
    return order
