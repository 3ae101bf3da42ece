"""One-shot fine-tuning of the OSVOS network on the artist's annotated frames.

`fine_tune` is a generator: it yields a TrainProgress after every step, checks the cancel token
at every yield, and updates the model in place, so a cancelled run leaves the weights of the last
completed step. Calling it again on the same model continues from the current weights.

What trains (`FineTuneConfig.trainable`; each preset's recipe is in core.shot.presets):
- "head": backbone frozen; features of a few augmented views per annotated frame are computed
  once and cached, then only the OSVOS head's stride-4..32 part trains (tens of ms per step),
  followed by `refine_steps` steps of the stride-2 edge refinement alone (the slider's Fast and
  Balanced settings).
- "deep": stride-2..8 features cached, the stride-16/32 stages and the head train (not on the
  slider: it over-fitted one-frame annotations on the benchmark, docs/BENCHMARKS.md).
- "all": every layer trains on a fresh augmentation each step (BatchNorm statistics frozen; the
  slider's Best setting).

Augmented views are plain transforms of the whole frame or, with chance `FineTuneConfig.dream`,
"dreamed" ones: the objects moved, scaled and turned over the frame with them inpainted away
(core.augment.Dreamer), which teaches one annotated frame other sizes and places.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.augment import AugmentConfig, DreamConfig
from core.errors import RotoshotError
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.model.inference import fold_batchnorm
from core.model.losses import osvos_loss
from core.model.network import OSVOSNet
from core.model.onnx_backbone import OnnxBackbone, use_onnx
from core.optim import Adam
from core.training_views import (
    FeatureCache,
    View,
    ViewMaker,
    ViewOrder,
    view_guidance,
    view_rng,
)

log = logging.getLogger(__name__)

TRAINABLE_MODES = ("head", "deep", "all")
# First backbone stage that trains in each mode (5 = none).
_NO_STAGE = 5
_FIRST_TRAINED_STAGE = {"head": _NO_STAGE, "deep": 3, "all": 0}
# Offset of the view numbers whose random streams draw guided views' guidance, so the guidance
# never shifts the augmentation a plain network's view of the same number gets.
GUIDANCE_STREAM = 1 << 20


@dataclass(frozen=True)
class TrainingSample:
    """One annotated frame. image (H, W, 3) uint8 RGB; masks (K, H, W) bool, one per object;
    valid (K,) bool: True where that object was annotated on this frame (False = unknown, no
    loss), so an object painted on other frames only is not taught as absent here; known
    (K, H, W) bool or None: the labelled pixels when an object has hint strokes (unpainted
    pixels carry no loss), None when every annotation is a full mask; or (K, H, W) float32 in
    [0, 1]: each pixel's weight in the loss (a correction's kept pixels count less than the
    painted ones; 0 = unlabelled). views: cached views of this sample (0 = the config's
    views_per_frame, shared among the samples that ask for it; a correction's neighbours,
    core.correction_neighbours, ask for a few of their own)."""

    image: np.ndarray
    masks: np.ndarray
    valid: np.ndarray
    key: str = ""  # identifies (frame, annotation content) for FeatureCache reuse; "" = no reuse
    known: np.ndarray | None = None
    views: int = 0

    @property
    def auxiliary(self) -> bool:
        """True for a sample derived from a keyframe (a correction's neighbour), not painted."""
        return self.views > 0

    @property
    def weighted(self) -> bool:
        """True when `known` holds per-pixel weights (a correction) rather than labelled pixels."""
        return self.known is not None and self.known.dtype != bool


@dataclass(frozen=True)
class FineTuneConfig:
    """How to fine-tune. steps: optimiser steps; trainable: "head" | "deep" | "all";
    views_per_frame: cached augmented views per annotated frame (the first is the frame itself);
    max_cached_views: cap on all cached views (memory: ~11 MB each at 480p);
    lr / backbone_lr: Adam learning rates of the head and of trained backbone stages;
    max_seconds: wall-clock cap (the slider's time budget); seed: augmentation seed;
    refine_steps: "head" mode only: after `steps`, this many steps train the stride-2 edge
    refinement alone on the frozen stride-4 result (cheap; see `_train_refinement`);
    dream: chance in [0, 1] that an augmented view is a "dreamed" one (core.augment.Dreamer:
    objects moved, scaled and rotated over the inpainted background) instead of a plain
    transform of the whole frame;
    focus_share: share of steps that train on a view of the focused frames (`fine_tune`'s
    `focus`: a correction's new keyframes) rather than on a view of any frame;
    backend: what encodes the views when the backbone is frozen, one of
    core.model.onnx_backbone.BACKENDS ("onnx": ONNX Runtime; otherwise torch's BatchNorm-folded
    inference copy; always fp32)."""

    steps: int = 250
    trainable: str = "head"
    views_per_frame: int = 12
    max_cached_views: int = 48
    lr: float = 1e-3
    backbone_lr: float = 5e-5
    max_seconds: float = math.inf
    side_weight: float = 0.5
    crop: int = 320  # "all" mode trains on crops of this size around the object (0 = full frame)
    refine_steps: int = 0
    dream: float = 0.0
    focus_share: float = 0.0
    seed: int = 0
    backend: str = "torch"
    augment: AugmentConfig = AugmentConfig()
    dream_config: DreamConfig = DreamConfig()

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE_MODES:
            raise ValueError(f"trainable must be one of {TRAINABLE_MODES}")


def _view_encoder(
    model: OSVOSNet, first_trained: int, backend: str, device: torch.device
) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """How a fine-tune encodes its views x (1, C, H, W) normalised -> the features of the frozen
    stages. A backbone that does not train at all runs as ONNX Runtime (`backend` "onnx") or as
    torch's BatchNorm-folded inference copy: the same features up to float rounding, without a
    BatchNorm pass and padding copy per layer; a partly trained backbone runs its own layers."""
    if first_trained != _NO_STAGE:
        return lambda x: model.backbone(x, stop_stage=first_trained)
    onnx = OnnxBackbone(model) if use_onnx(backend, device) else None
    folded: OSVOSNet | None = None  # made on first use: not at all while ONNX Runtime works

    def encode(x: torch.Tensor) -> list[torch.Tensor]:
        nonlocal folded
        feats = onnx.features(x) if onnx is not None else None
        if feats is None:
            if folded is None:
                folded = fold_batchnorm(model)
            out = folded.backbone(x.contiguous(memory_format=torch.channels_last))
            feats = [f.contiguous() for f in out]  # the head trains on NCHW features, as before
        return feats

    return encode


def total_steps(config: FineTuneConfig) -> int:
    """Steps a fine-tune with `config` reports: the main steps plus the refinement stage's."""
    return config.steps + (config.refine_steps if config.trainable == "head" else 0)


def _to_tensor_image(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 255]."""
    return torch.from_numpy(np.array(image, copy=True)).to(device).permute(2, 0, 1)[None].float()


def _to_tensor_masks(masks: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    """(K, H, W) bool -> (1, K, H, W) float32 in {0, 1}; None stays None."""
    if masks is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32)).to(device)[None]


def _to_tensor_guidance(guidance: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    """(H, W) float32 -> (1, 1, H, W); None stays None."""
    if guidance is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(guidance, dtype=np.float32)).to(device)[None, None]


def set_trainable(model: OSVOSNet, trainable: str) -> list[dict]:
    """Freeze what this mode does not train; return optimiser parameter groups."""
    first_stage = _FIRST_TRAINED_STAGE[trainable]
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.head
    if trainable == "head":
        # The main "head" steps keep the stride-2 edge refinement frozen (its own stage follows).
        frozen = {id(p) for p in head.refinement_parameters()}
        head_params = [p for p in head.parameters() if id(p) not in frozen]
    else:
        head_params = list(head.parameters())
    for p in head_params:
        p.requires_grad_(True)
    backbone_params = []
    for stage in model.backbone.stages[first_stage:]:
        for p in stage.parameters():
            p.requires_grad_(True)
            backbone_params.append(p)
    return [
        {"params": head_params, "kind": "head"},
        {"params": backbone_params, "kind": "backbone"},
    ]


def validate_samples(samples: list[TrainingSample]) -> int:
    """Check shapes and content; return K. RotoshotError with a clear message if unusable."""
    if not samples:
        raise RotoshotError("no annotated frames to train on")
    num_objects = samples[0].masks.shape[0]
    height, width = samples[0].image.shape[:2]
    for i, s in enumerate(samples):
        if s.image.ndim != 3 or s.image.shape[2] != 3 or s.image.dtype != np.uint8:
            raise RotoshotError(f"annotated frame {i} is not an (H, W, 3) uint8 image")
        if s.masks.shape != (num_objects, height, width):
            raise RotoshotError(
                f"annotation {i} is {s.masks.shape[-1]}x{s.masks.shape[-2]} with "
                f"{s.masks.shape[0]} objects; expected {width}x{height} with {num_objects}"
            )
        if s.valid.shape != (num_objects,):
            raise RotoshotError(f"annotation {i} has a bad validity vector")
        if s.known is not None and s.known.shape != s.masks.shape:
            raise RotoshotError(f"annotation {i}'s painted-pixel mask has the wrong shape")
    if not any(s.masks[s.valid].any() for s in samples):
        raise RotoshotError(
            "every annotation mask is empty: paint the object on at least one frame"
        )
    return num_objects


def _random_crop(
    rng: np.random.Generator,
    image: np.ndarray,
    masks: np.ndarray,
    known: np.ndarray | None,
    crop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A crop x crop window of image, masks and known (None stays None), centred on a random
    object pixel 80 % of the time (0 = no crop). Training the whole network on crops is ~2.5x
    faster per step than on full 480p frames."""
    height, width = image.shape[:2]
    if crop <= 0 or (height <= crop and width <= crop):
        return image, masks, known
    ch, cw = min(crop, height), min(crop, width)
    ys, xs = np.nonzero(masks.any(axis=0))
    if len(ys) and rng.random() < 0.8:
        k = int(rng.integers(len(ys)))
        cy, cx = int(ys[k]), int(xs[k])
    else:
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top = int(np.clip(cy - ch // 2, 0, height - ch))
    left = int(np.clip(cx - cw // 2, 0, width - cw))
    rows, cols = slice(top, top + ch), slice(left, left + cw)
    return image[rows, cols], masks[:, rows, cols], None if known is None else known[:, rows, cols]


def fine_tune(
    model: OSVOSNet,
    samples: list[TrainingSample],
    config: FineTuneConfig = FineTuneConfig(),
    *,
    cancel: CancelToken = NEVER_CANCELLED,
    feature_cache: FeatureCache | None = None,
    focus: Collection[int] = (),
    prune_cache: bool = True,
) -> Iterator[TrainProgress]:
    """Fine-tune `model` in place on `samples`, yielding TrainProgress after each step.

    focus: indices of `samples` that `config.focus_share` of the cached-view steps train on (a
    correction's new keyframes, so they are learnt without replaying every older view as often).

    The model's object channels are resized to K = samples' object count (new objects start from
    the parent predictors). `feature_cache` keeps encoded views between calls (the app passes one;
    it must be cleared when the frozen layers' weights change); with `prune_cache` the views of
    samples not in `samples` are dropped from it (False when `samples` is part of a shot's). Raises core.jobs.Cancelled at the next step boundary after
    `cancel.cancel()`; the weights are then those of the last completed step.
    """
    num_objects = validate_samples(samples)
    device = next(model.parameters()).device
    model.set_num_objects(num_objects)
    model.to(device)
    groups = set_trainable(model, config.trainable)
    model.train()
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    first_trained = _FIRST_TRAINED_STAGE[config.trainable]
    refine = config.trainable != "head"
    refine_steps = total_steps(config) - config.steps
    # Views kept in a cache keep their stride-2 features: a later run may refine edges on them.
    keep_s2 = refine or refine_steps > 0 or feature_cache is not None
    steps_reported = total_steps(config)
    views: list[View] = []
    view_frames: list[int] = []  # the sample index of each view
    view_maker = ViewMaker(samples, config)
    if first_trained > 0:
        shared = sum(1 for s in samples if not s.views) or 1
        views_per_frame = max(1, min(config.views_per_frame, config.max_cached_views // shared))
        cache = feature_cache if feature_cache is not None else FeatureCache()
        wanted = set()
        encode = _view_encoder(model, first_trained, config.backend, device)
        with torch.no_grad():
            for index, sample in enumerate(samples):
                key = (
                    sample.key,
                    model.backbone_name,
                    first_trained,
                    keep_s2,
                    config.dream,
                    config.seed,
                )
                wanted.add(key)
                sample_views = cache.get(key)
                if sample_views and sample_views[0].target.shape[1] != num_objects:
                    sample_views.clear()
                sample_count = sample.views or views_per_frame
                for v in range(len(sample_views), sample_count):
                    cancel.raise_if_cancelled()
                    image, masks, known = view_maker.make(
                        view_rng(config.seed, sample, index, v), index, identity=(v == 0)
                    )
                    guidance = None
                    if model.guided:
                        guidance = view_guidance(
                            view_rng(config.seed, sample, index, v + GUIDANCE_STREAM),
                            masks,
                            known,
                        )
                    x = model.normalize(
                        _to_tensor_image(image, device), _to_tensor_guidance(guidance, device)
                    )
                    feats = encode(x)
                    if not keep_s2:
                        feats[0] = None  # stride-2 features unused: don't keep ~6 MB per view
                    valid = torch.from_numpy(sample.valid.astype(np.float32))[None].to(device)
                    sample_views.append(
                        View(
                            feats,
                            _to_tensor_masks(masks, device),
                            valid,
                            _to_tensor_masks(known, device),
                        )
                    )
                    elapsed = time.perf_counter() - started
                    yield TrainProgress(
                        0, steps_reported, math.nan, elapsed, math.nan, phase="preparing"
                    )
                views.extend(sample_views[:sample_count])
                view_frames.extend([index] * sample_count)
        if prune_cache:
            cache.retain(wanted)
        log.info("%d augmented views ready in %.1f s", len(views), time.perf_counter() - started)

    param_groups = [
        {"params": groups[0]["params"], "lr": config.lr},
        {"params": groups[1]["params"], "lr": config.backbone_lr},
    ]
    param_groups = [g for g in param_groups if g["params"]]
    optimizer = Adam(param_groups)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    train_started = time.perf_counter()
    order = ViewOrder(rng, view_frames, focus, config.focus_share)
    out_of_time = False
    for step in range(1, config.steps + 1):
        cancel.raise_if_cancelled()
        decay = _cosine_decay(step, config.steps)
        for g, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            g["lr"] = lr * decay
        if views:
            view = views[order.next()]
            feats = view.features
            if first_trained < 5:
                feats = model.backbone(None, start_stage=first_trained, features=feats)
            output = model.head(feats, None, refine=refine)
            target, valid, known = view.target, view.valid, view.known
            resized_targets = view.resized_targets
        else:
            index = int(rng.integers(len(samples)))
            sample = samples[index]
            image, masks, known = view_maker.make(rng, index, identity=rng.random() < 0.2)
            image, masks, known = _random_crop(rng, image, masks, known, config.crop)
            guidance = view_guidance(rng, masks, known) if model.guided else None
            x = model.normalize(
                _to_tensor_image(image, device), _to_tensor_guidance(guidance, device)
            )
            output = model(x, full_resolution=False)
            target = _to_tensor_masks(masks, device)
            known = _to_tensor_masks(known, device)
            valid = torch.from_numpy(sample.valid.astype(np.float32))[None].to(device)
            resized_targets = None
        loss = osvos_loss(
            output,
            target,
            valid,
            side_weight=config.side_weight,
            resized_targets=resized_targets,
            known=known,
        )
        _optimise(optimizer, loss, step)
        now = time.perf_counter()
        per_step = (now - train_started) / step
        out_of_time = now - started >= config.max_seconds
        last = step == steps_reported or out_of_time
        eta = 0.0 if last else per_step * (steps_reported - step)
        yield TrainProgress(step, steps_reported, float(loss.detach()), now - started, eta)
        if out_of_time:
            log.info("time budget of %.1f s reached after %d steps", config.max_seconds, step)
            break
    if refine_steps and views and not out_of_time:
        yield from _train_refinement(
            model, views, config, order, cancel=cancel, started=started, step_offset=config.steps
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)


def _cosine_decay(step: int, total: int) -> float:
    """Learning-rate factor for 1-based `step` of `total`: cosine from 1 down to 0.1, which keeps
    late steps from undoing what early steps learned."""
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(1, total)))


def _optimise(optimizer: Adam, loss: torch.Tensor, step: int) -> None:
    """One optimiser step; a diverged (non-finite) loss is skipped so the model keeps its last
    good weights."""
    optimizer.zero_grad()
    if torch.isfinite(loss):
        loss.backward()
        optimizer.step()
    else:
        log.warning("non-finite loss at step %d skipped", step)


def _train_refinement(
    model: OSVOSNet,
    views: list[View],
    config: FineTuneConfig,
    order: ViewOrder,
    *,
    cancel: CancelToken,
    started: float,
    step_offset: int,
) -> Iterator[TrainProgress]:
    """Train the stride-2 edge refinement (side conv/predictor 0 + refine convs) alone.

    The rest of the head is frozen here, so each view's stride-4 fused logits are computed once;
    a step then costs only the stride-2 branch. This lets the fast end adapt the object's edges
    (boundary F is where the stride-4 result loses most) for a fraction of training the whole
    head jointly with the refinement, and trains the refinement at all when the model has no
    parent (ImageNet-only: it starts as the identity).
    """
    head = model.head
    for p in model.parameters():
        p.requires_grad_(False)
    params = head.refinement_parameters()
    for p in params:
        p.requires_grad_(True)
    with torch.no_grad():
        fused = [head(v.features, None, refine=False).logits for v in views]
    optimizer = Adam([{"params": params, "lr": config.lr}])
    base_lr = config.lr
    total = step_offset + config.refine_steps
    stage_started = time.perf_counter()
    for step in range(1, config.refine_steps + 1):
        cancel.raise_if_cancelled()
        optimizer.param_groups[0]["lr"] = base_lr * _cosine_decay(step, config.refine_steps)
        i = order.next()
        output = head.refine_only(views[i].features[0], fused[i])
        loss = osvos_loss(
            output,
            views[i].target,
            views[i].valid,
            side_weight=config.side_weight,
            resized_targets=views[i].resized_targets,
            known=views[i].known,
        )
        _optimise(optimizer, loss, step_offset + step)
        now = time.perf_counter()
        per_step = (now - stage_started) / step
        out_of_time = now - started >= config.max_seconds
        last = step == config.refine_steps or out_of_time
        eta = 0.0 if last else per_step * (config.refine_steps - step)
        yield TrainProgress(
            step_offset + step, total, float(loss.detach()), now - started, eta, stage="edges"
        )
        if out_of_time:
            break


def run_to_end(progress: Iterator[TrainProgress]) -> list[TrainProgress]:
    """Drain a training generator; returns the per-step progress (without "preparing" ticks)."""
    return [p for p in progress if p.phase == "training"]
