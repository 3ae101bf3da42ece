"""Iterative online fine-tuning (the seed's "iterative OSVOS", after Lin et al.): after the model
learnt the keyframes, it segments the next frames outward from them, the confident part of those
results becomes extra training targets, the model is updated briefly, and again.

What keeps it from learning its own mistakes (a naive version here lost 1.7 J&F):
- only confident pixels teach: p >= `fg_above` is the object, p <= `bg_below` is background,
  and everything in between carries no loss (the loss's per-pixel `known` mask);
- the object's confident pixels are filtered to the object: only connected parts that overlap
  the previous frame's result (towards the keyframe), grown by `reach_px`, count as object; a
  confident blob elsewhere (a look-alike) teaches nothing either way;
- keyframes win: frames the artist painted are never replaced, and a frame's online target is
  dropped as soon as the artist paints it (the session's job is rebuilt from the store);
- the result averages the model before the rounds with the one after them: ignoring the
  uncertain band leaves an online frame's edge untaught, so the rounds' model grows the object
  (it finds parts the first model lost, and takes in some surroundings), and the two models'
  errors partly cancel (docs/BENCHMARKS.md, "Online rounds").

Probabilities and masks are at the session's working size: (K, h, w).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from core.guidance import dilate
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.shot.jobs import TrainJob
from core.shot.plan import CostModel, plan
from core.shot.presets import Recipe
from core.training import TrainingSample


@dataclass(frozen=True)
class OnlineConfig:
    """rounds: segment-and-learn rounds; frames_per_round: new frames per keyframe side and
    round (outward from the keyframes); fg_above / bg_below: confidence thresholds (pixels
    between them are ignored); reach_px: how far (at 480 px) an object part may be from the
    previous frame's result to count; stride: use every stride-th frame outward (neighbouring
    frames teach almost the same thing)."""

    rounds: int = 2
    frames_per_round: int = 4
    fg_above: float = 0.9
    bg_below: float = 0.1
    reach_px: int = 10
    stride: int = 3


def confident_target(
    probs: np.ndarray, previous: np.ndarray | None, cfg: OnlineConfig = OnlineConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Training target from one frame's probabilities (K, h, w) float in [0, 1] and the previous
    frame's masks (K, h, w) bool (None: no filter) -> (masks, known), both (K, h, w) bool."""
    masks = probs >= cfg.fg_above
    known = masks | (probs <= cfg.bg_below)
    if previous is None:
        return masks, known
    radius = max(1, round(cfg.reach_px * min(probs.shape[1:]) / 480))
    for k in range(probs.shape[0]):
        count, parts = cv2.connectedComponents(masks[k].astype(np.uint8), connectivity=8)
        if count <= 1:
            continue
        near = dilate(previous[k], radius) > 0
        keep = np.zeros(count, bool)
        keep[np.unique(parts[near & masks[k]])] = True
        keep[0] = False
        dropped = masks[k] & ~keep[parts]
        masks[k] &= ~dropped
        known[k] &= ~dropped  # neither object nor background: it teaches nothing
    return masks, known


def outward_frames(
    num_frames: int, keyframes: list[int], round_idx: int, cfg: OnlineConfig
) -> list[int]:
    """The frames round `round_idx` adds: the next `frames_per_round` frames (every `stride`-th)
    on each side of each keyframe, never a keyframe, and never one an earlier round added."""
    used = set(keyframes)
    picked: list[int] = []
    for r in range(round_idx + 1):
        picked = []
        for k in keyframes:
            for side in (1, -1):
                for i in range(cfg.frames_per_round):
                    step = r * cfg.frames_per_round + i + 1
                    f = k + side * step * cfg.stride
                    if 0 <= f < num_frames and f not in used:
                        picked.append(f)
                        used.add(f)
    return picked


def estimate_online(
    costs: CostModel,
    recipe: Recipe,
    keyframes: list[int],
    num_frames: int,
    cfg: OnlineConfig = OnlineConfig(),
) -> float:
    """Estimated seconds of `cfg.rounds` online rounds after a run at `recipe` on a clip of
    `num_frames` frames annotated on `keyframes`: each round segments its new frames and runs
    the online update (core.shot.plan), then every frame is segmented again with the averaged
    models. 0 when no round has frames to add."""
    keys = sorted(set(keyframes)) or [0]
    per_frame = costs.frame_seconds(recipe.segment, recipe.parents)
    seconds, learnt = 0.0, len(keys)
    for round_idx in range(cfg.rounds):
        frames = outward_frames(num_frames, keys, round_idx, cfg)
        if not frames:
            break
        learnt += len(frames)
        steps = plan(
            recipe,
            models_trained=len(recipe.members),
            correction=True,
            preview=False,
            num_keyframes=learnt,
            num_new=len(frames),
            online=True,
        )
        seconds += len(frames) * per_frame
        seconds += sum(costs.step_seconds(s, learnt, encoded_frames=len(frames)) for s in steps)
    if seconds:
        seconds += num_frames * per_frame  # every result again, from the averaged models
    return seconds


def online_rounds(
    session,
    job: TrainJob,
    cfg: OnlineConfig = OnlineConfig(),
    *,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[TrainProgress | object]:
    """Run `cfg.rounds` rounds on a ShotSession whose model learnt `job`: each segments the
    round's frames with the current model, adds their confident targets to the samples and
    updates the model (a correction-sized run from its weights, no quick preview); after the
    last round the session's model averages the rounds' networks with those before them.
    Yields what `ShotSession.train` yields, each TrainProgress with its `round`, and the
    averaged ShotModel last. Cancelled, the session keeps the last complete round's model."""
    keyframes = sorted(job.annotations)
    first_model = session.model.networks
    extra: list[TrainingSample] = []
    previous: dict[int, np.ndarray] = {}
    threshold = session.recipe(job.preset).segment.threshold
    for f, annotation in job.annotations.items():
        previous[f] = session.working.masks(annotation.masks)
    for round_idx in range(cfg.rounds):
        frames = outward_frames(len(session.source), keyframes, round_idx, cfg)
        if not frames:
            break
        segmenter = session.segmenter()
        # Nearest first, so each frame's filter can lean on the one before it.
        for f in sorted(frames, key=lambda f: min(abs(f - k) for k in keyframes)):
            cancel.raise_if_cancelled()
            probs = segmenter.raw_probs(f)
            k = min(keyframes, key=lambda k: (abs(k - f), k))
            towards = f - cfg.stride if f > k else f + cfg.stride
            masks, known = confident_target(probs, previous.get(towards), cfg)
            previous[f] = probs > threshold
            image = session.working.image(np.array(session.source.read(f)))
            valid = np.ones(masks.shape[0], bool)
            key = f"online:{f}:{session.model.version}"
            extra.append(TrainingSample(image, masks, valid, key=key, known=known))
        update = TrainJob(
            job.samples + tuple(extra),
            job.object_ids,
            job.annotations,
            job.preset,
            job.fingerprint,
            correction=True,
            preview=False,
            online=True,
        )
        for event in session.train(update, cancel=cancel):
            if isinstance(event, TrainProgress):
                event = dataclasses.replace(event, round=round_idx)
            yield event
    if session.model.networks is not first_model:
        yield session.average_with(first_model)
