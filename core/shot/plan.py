"""A training run as a plan of fine-tunes, and the runner that executes it.

`plan` turns a recipe and the shot's state into ordered `PlanStep`s: a short preview (so the
visible frame shows a result within seconds), each model's full recipe, or a correction's shorter
update. `run_plan` runs them and yields typed progress with one ETA for the whole run, plus a
`ModelsReady` after each step with a complete set of networks to segment with.

Every step trains a *copy*: the networks a caller holds (and the ones `ModelsReady` handed out)
are never changed afterwards, so stopping a run at any point leaves the last complete models in
use. A full step starts from the parent network, so a run's final models depend only on the
annotations and the recipe (the app, the CLI and a farm worker get the same masks); the preview
is a throwaway branch beside it. An update (and a correction's preview) continues from the model
the shot has. Head-mode runs grow with the keyframes they train on (`keyframe_scaled`), and a
correction's update trains mostly on its new keyframes (`update_config`).
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.model.network import OSVOSNet
from core.segmentation import SegmentConfig
from core.shot.presets import (
    DEV_MACHINE_COSTS,
    PARENTS,
    REFERENCE_CROP_PIXELS,
    REFERENCE_PIXELS,
    STANDARD_PARENT,
    CostEstimate,
    Recipe,
    UnitCosts,
)
from core.training import FeatureCache, FineTuneConfig, TrainingSample, fine_tune, total_steps

# The preview of a first training: enough for a usable first overlay within seconds.
PREVIEW_STEPS = 25
PREVIEW_VIEWS = 3
# A correction's preview: a short update on a few views, mostly of the new keyframe, so the
# frames around it change within about a second while the full update trains.
CORRECTION_PREVIEW_STEPS = 30
# Each keyframe beyond the first adds this share of the recipe's head steps to a full run (up
# to MAX_KEYFRAME_SCALE times them): the recipes were tuned on one keyframe, and a fixed budget
# spread over more keyframes' views teaches each of them less.
KEYFRAME_STEP_SHARE = 0.5
MAX_KEYFRAME_SCALE = 3.0
# A correction's update runs UPDATE_STEP_SCALE times the recipe's head steps (and
# UPDATE_REFINE_SCALE times its edge steps) per new keyframe, for at most MAX_KEYFRAME_SCALE new
# ones, half of them on the new keyframes' views. More than a first run's: the frame it learns
# is the one the model got most wrong, and it must be learnt without losing the others; one
# recipe's worth left corrections undertrained (docs/BENCHMARKS.md, "Correction updates").
UPDATE_STEP_SCALE = 3
UPDATE_REFINE_SCALE = 2.5
# An online round's update (core.shot.online) runs one recipe's head steps per new frame, as
# measured: its targets are the model's own confident pixels, which confirm what it does rather
# than fix its worst frame, so they get no correction's extra steps. Its edge steps are the
# recipe's own choice (Recipe.online_edge_scale).
ONLINE_STEP_SCALE = 1.0
MIN_UPDATE_STEPS = 40
UPDATE_FOCUS_SHARE = 0.5
# A whole-network model's update runs a third of its recipe (its steps cost ten head steps).
WHOLE_NETWORK_UPDATE_SHARE = 3


class StepKind(enum.Enum):
    """PREVIEW: a short head-only fine-tune shown while the rest trains (from the parent, or
    from the shot's model for a correction); FULL: a model's whole recipe from the parent;
    UPDATE: a run from the model's current weights (a correction)."""

    PREVIEW = "preview"
    FULL = "full"
    UPDATE = "update"


@dataclass(frozen=True)
class PlanStep:
    """One fine-tune of a run: which kind, which of the shot's models (0-based; Best keeps two),
    its config, whether it starts from the shot's current network of that model (updates
    and a correction's preview) instead of the parent, and which parent (Recipe.parents)."""

    kind: StepKind
    member: int
    config: FineTuneConfig
    continues: bool = False
    parent: str = STANDARD_PARENT


def keyframe_scaled(config: FineTuneConfig, num_keyframes: int) -> FineTuneConfig:
    """`config` for a run on `num_keyframes` keyframes: head-mode steps (main and edge
    refinement) grow by KEYFRAME_STEP_SHARE per keyframe beyond the first. Whole-network
    ("all") steps cost ten times as much and are left as they are."""
    if config.trainable != "head" or num_keyframes <= 1:
        return config
    scale = min(MAX_KEYFRAME_SCALE, 1.0 + KEYFRAME_STEP_SHARE * (num_keyframes - 1))
    return dataclasses.replace(
        config,
        steps=round(config.steps * scale),
        refine_steps=round(config.refine_steps * scale),
    )


def preview_config(config: FineTuneConfig) -> FineTuneConfig:
    """The preview's recipe: a few views, few head steps, no edge refinement."""
    return dataclasses.replace(
        config, trainable="head", steps=PREVIEW_STEPS, views_per_frame=PREVIEW_VIEWS, refine_steps=0
    )


def correction_preview_config(config: FineTuneConfig) -> FineTuneConfig:
    """A correction's preview: a few views, a short head update, half of it on the new
    keyframes."""
    return dataclasses.replace(
        config,
        trainable="head",
        steps=CORRECTION_PREVIEW_STEPS,
        views_per_frame=PREVIEW_VIEWS,
        refine_steps=0,
        focus_share=UPDATE_FOCUS_SHARE,
    )


def update_config(
    config: FineTuneConfig,
    num_new: int = 1,
    *,
    online: bool = False,
    online_edge_scale: float = 0.0,
) -> FineTuneConfig:
    """A correction's recipe, from the current weights: head mode runs UPDATE_STEP_SCALE times
    the recipe's steps per new keyframe (ONLINE_STEP_SCALE for an online round's frames, with
    `online_edge_scale` times its edge steps; for at most MAX_KEYFRAME_SCALE of them; at least
    MIN_UPDATE_STEPS), half of them on the new keyframes' views; a whole-network model a third
    of its steps."""
    if config.trainable != "head":
        return dataclasses.replace(
            config, steps=max(MIN_UPDATE_STEPS, config.steps // WHOLE_NETWORK_UPDATE_SHARE)
        )
    per_new = min(max(1, num_new), MAX_KEYFRAME_SCALE)
    scale = ONLINE_STEP_SCALE if online else UPDATE_STEP_SCALE
    refine_scale = online_edge_scale if online else UPDATE_REFINE_SCALE
    return dataclasses.replace(
        config,
        steps=max(MIN_UPDATE_STEPS, round(config.steps * scale * per_new)),
        refine_steps=round(config.refine_steps * refine_scale * per_new),
        focus_share=UPDATE_FOCUS_SHARE,
    )


def plan(
    recipe: Recipe,
    *,
    models_trained: int,
    correction: bool,
    preview: bool = True,
    num_keyframes: int = 1,
    num_new: int = 1,
    online: bool = False,
) -> tuple[PlanStep, ...]:
    """The fine-tunes of a run, in order.

    models_trained: how many of the recipe's models the shot already has; correction: update
    those (from their weights) instead of training them again from the parent; a model the shot
    lacks always gets its full recipe. preview: start with a preview step (the app; the CLI has
    nobody to show it to). num_keyframes: annotated frames the run trains on; num_new: how many
    of them the shot's model has not learnt yet (a correction's); online: the update of an
    online round (core.shot.online), whose new frames are its own confident results.
    """
    steps = []
    for member, (config, parent) in enumerate(zip(recipe.members, recipe.parents, strict=True)):
        if correction and member < models_trained:
            if member == 0 and preview and config.trainable == "head":
                quick = correction_preview_config(config)
                steps.append(PlanStep(StepKind.PREVIEW, 0, quick, True, parent))
            update = update_config(
                config, num_new, online=online, online_edge_scale=recipe.online_edge_scale
            )
            steps.append(PlanStep(StepKind.UPDATE, member, update, True, parent))
            continue
        if member == 0 and preview:
            steps.append(PlanStep(StepKind.PREVIEW, 0, preview_config(config), parent=parent))
        config = keyframe_scaled(config, num_keyframes)
        steps.append(PlanStep(StepKind.FULL, member, config, parent=parent))
    return tuple(steps)


# --- cost ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pace:
    """How fast this machine runs, against the dev machine's unit costs: measured seconds over
    the units' seconds for the same work (2.0: twice as slow). train: training steps; frames:
    segmenting frames. The two are measured apart (a GPU speeds them up very differently), and
    each stands in for the other until it has been measured."""

    train: float | None = None
    frames: float | None = None

    def for_training(self) -> float:
        return self.train or self.frames or 1.0

    def for_frames(self) -> float:
        return self.frames or self.train or 1.0


class CostModel:
    """Seconds a plan step or a frame costs on the open clip.

    Starts from the dev machine's unit costs (for each step's parent network, of those the shot
    has) scaled to the clip's pixel count. Each completed step replaces the estimate for steps
    like it (same model, parent, mode, views, refinement, crop) with what it measured here, and
    every measurement (steps, frames) also sets the machine's `pace`, which scales the unit
    costs of work not yet measured: a CPU without bf16, a loaded machine or a GPU is priced as
    what it is after its first measured frame or step. Plain state: the engine or CLI owns one
    per clip.
    """

    def __init__(
        self,
        frame_size: tuple[int, int],
        units: UnitCosts = DEV_MACHINE_COSTS,
        parents: Sequence[str] = PARENTS,
    ) -> None:
        self.units = units
        # The parents the shot has: a step naming another starts from the standard one.
        self.parents = frozenset(parents) | {STANDARD_PARENT}
        self.frame_size = frame_size
        self.scale = frame_size[0] * frame_size[1] / REFERENCE_PIXELS
        self._measured: dict[tuple, float] = {}  # cost key -> seconds per reported step
        # Measured and unit-estimated seconds, summed over everything observed: their ratio is
        # the pace (a sum, so a long run outweighs a short preview).
        self._train_seconds = [0.0, 0.0]
        self._frame_seconds = [0.0, 0.0]

    @property
    def pace(self) -> Pace:
        """This machine's measured pace so far (None where nothing was measured)."""

        def ratio(sums: list[float]) -> float | None:
            return sums[0] / sums[1] if sums[1] > 0 else None

        return Pace(ratio(self._train_seconds), ratio(self._frame_seconds))

    def _parent(self, name: str) -> str:
        return name if name in self.parents else STANDARD_PARENT

    def _key(self, step: PlanStep) -> tuple:
        c = step.config
        return (
            step.member,
            self._parent(step.parent),
            c.trainable,
            c.views_per_frame,
            c.refine_steps > 0,
            c.crop,
        )

    def _unit_training(self, step: PlanStep, after: int = 0, until: int | None = None) -> float:
        """The units' seconds for the step's optimiser steps `after` < n <= `until` (1-based,
        head steps first, then edge steps; None: to the last), encoding not included."""
        c, u = step.config, self.units.for_parent(self._parent(step.parent))
        until = total_steps(c) if until is None else until

        def count(lo: int, hi: int) -> int:  # how many of steps lo < n <= hi lie in the span
            return max(0, min(hi, until) - max(lo, after))

        if c.trainable == "all":
            width, height = self.frame_size
            if c.crop > 0:  # trained on crops of the frame (the whole frame when it is smaller)
                width, height = min(width, c.crop), min(height, c.crop)
            return count(0, c.steps) * u.all_step * width * height / REFERENCE_CROP_PIXELS
        head = count(0, c.steps) * u.head_step
        edges = count(c.steps, c.steps + c.refine_steps) * u.refine_step
        return (head + edges) * self.scale

    def step_seconds(
        self, step: PlanStep, num_keyframes: int, encoded_frames: int | None = None
    ) -> float:
        """Estimated wall seconds of `step` with `num_keyframes` annotated frames, of which
        `encoded_frames` (None = all) have no cached views yet (an update's new frames)."""
        measured = self._measured.get(self._key(step))
        if measured is not None:
            return measured * total_steps(step.config)
        c, u = step.config, self.units.for_parent(self._parent(step.parent))
        encode = 0.0
        if c.trainable != "all":
            views = max(1, min(c.views_per_frame, c.max_cached_views // max(1, num_keyframes)))
            encoded = max(1, num_keyframes) if encoded_frames is None else encoded_frames
            encode = views * encoded * u.encode_view * self.scale
        return (encode + self._unit_training(step)) * self.pace.for_training()

    def observe(
        self, step: PlanStep, seconds: float, training: tuple[int, int, float] | None = None
    ) -> None:
        """Record what `step` took on this clip: `seconds` in all; `training`: (first, last,
        seconds) when its optimiser steps after `first` up to `last` took `seconds`, for the
        machine's pace (timed apart from the encoding, whose share varies)."""
        self._measured[self._key(step)] = seconds / max(1, total_steps(step.config))
        if training is None:
            return
        first, last, spent = training
        units = self._unit_training(step, first, last)
        if spent > 0 and units > 0:
            self._train_seconds[0] += spent
            self._train_seconds[1] += units

    def _unit_frame(self, segment: SegmentConfig, parents: Sequence[str]) -> float:
        passes = len(segment.scales) * (2 if segment.flip else 1)
        network = sum(self.units.for_parent(self._parent(p)).inference_pass for p in parents)
        gate = self.units.gate * self.scale if segment.temporal_gate_px > 0 else 0.0
        return passes * network * self.scale + gate

    def frame_seconds(self, segment: SegmentConfig, parents: Sequence[str]) -> float:
        """Estimated seconds to segment one frame with models from `parents` (one per model)."""
        return self._unit_frame(segment, parents) * self.pace.for_frames()

    def observe_frames(
        self, seconds: float, frames: int, segment: SegmentConfig, parents: Sequence[str]
    ) -> None:
        """Record that `frames` frames segmented with models from `parents` took `seconds`."""
        units = self._unit_frame(segment, parents) * frames
        if frames > 0 and seconds > 0 and units > 0:
            self._frame_seconds[0] += seconds
            self._frame_seconds[1] += units

    def estimate(
        self, recipe: Recipe, steps: Sequence[PlanStep], num_keyframes: int, num_frames: int
    ) -> CostEstimate:
        """Whole-run estimate: the steps' training, then every frame of the clip."""
        train = sum(self.step_seconds(s, num_keyframes) for s in steps)
        per_frame = self.frame_seconds(recipe.segment, recipe.parents)
        return CostEstimate(train, per_frame, train + per_frame * num_frames)


def estimate_run(
    costs: CostModel,
    recipe: Recipe,
    *,
    models_trained: int,
    correction: bool,
    num_keyframes: int,
    num_frames: int,
) -> CostEstimate:
    """What a run at `recipe` will cost (the run the app or CLI would plan, preview included)."""
    correction = correction and models_trained > 0
    steps = plan(
        recipe,
        models_trained=models_trained if correction else 0,
        correction=correction,
        num_keyframes=num_keyframes,
    )
    return costs.estimate(recipe, steps, max(1, num_keyframes), num_frames)


# --- running -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelsReady:
    """A complete set of the shot's networks after a step (probabilities averaged at inference);
    final: the run's last step. The networks are never trained further."""

    networks: tuple[OSVOSNet, ...]
    step: PlanStep
    final: bool


def _consistent(models: dict[int, OSVOSNet], count: int) -> tuple[OSVOSNet, ...]:
    """The first `count` of the shot's models in member order, up to the first missing one and
    only while they have the first model's object count (a model from before an object was added
    cannot be averaged with one after; one beyond the recipe's count is dropped)."""
    networks = []
    for member in range(count):
        model = models.get(member)
        if model is None:
            break
        if networks and model.num_objects != networks[0].num_objects:
            break
        networks.append(model)
    return tuple(networks)


def run_plan(
    steps: Sequence[PlanStep],
    *,
    models: Sequence[OSVOSNet],
    parent_for: Callable[[str], OSVOSNet],
    samples: Sequence[TrainingSample],
    cancel: CancelToken = NEVER_CANCELLED,
    feature_cache: FeatureCache | None = None,
    costs: CostModel | None = None,
    focus: Sequence[int] = (),
) -> Iterator[TrainProgress | ModelsReady]:
    """Run the steps on copies of `models` (the shot's current networks, member order) or of
    `parent_for(step.parent)` (the parent network a step names). Yields TrainProgress (steps
    counted over the whole run; eta_s for the whole run) and a ModelsReady after every step.
    Raises core.jobs.Cancelled at the next training step after `cancel.cancel()`: `models` and
    every ModelsReady already yielded stay as they were.

    feature_cache: frozen-backbone features kept between runs; valid for every head-mode step,
    since head training never changes the parent's backbone. focus: indices of `samples` that
    are new to the shot's models (a correction's keyframes; core.training.fine_tune). Only a
    preview focuses on new corrections (edited results, `TrainingSample.weighted`): most of a
    correction is the model's own output, and giving it half of a real update's steps overfits
    that frame (docs/BENCHMARKS.md, "Corrections").
    """
    samples = list(samples)
    current = dict(enumerate(models))
    total = sum(total_steps(s.config) for s in steps)
    count = 1 + max((s.member for s in steps), default=0)
    costs = costs or CostModel(samples[0].image.shape[1::-1] if samples else (854, 480))
    offset = 0
    for n, step in enumerate(steps):
        start = current.get(step.member) if step.continues else None
        work = copy.deepcopy(start if start is not None else parent_for(step.parent))
        later = sum(costs.step_seconds(s, len(samples)) for s in steps[n + 1 :])
        started = time.perf_counter()
        cache = feature_cache if step.config.trainable == "head" else None
        step_samples, step_focus, whole = samples, focus, True
        if step.kind is StepKind.PREVIEW:
            # The quick look trains on the painted frames alone: a correction's neighbours
            # (auxiliary samples) would double its time, and the real update has them.
            painted = [i for i, s in enumerate(samples) if not s.auxiliary]
            step_samples = [samples[i] for i in painted]
            step_focus = [painted.index(i) for i in focus if i in painted]
            whole = len(painted) == len(samples)
        else:
            step_focus = [i for i in focus if not samples[i].weighted]
        training = fine_tune(
            work,
            step_samples,
            step.config,
            cancel=cancel,
            feature_cache=cache,
            focus=step_focus,
            prune_cache=whole,  # the neighbours' views wait in the cache for the real update
        )
        # (step, time) of the first and the last training step: the optimiser's time alone
        first: tuple[int, float] | None = None
        last: tuple[int, float] | None = None
        for progress in training:
            if progress.phase == "training":
                last = (progress.step, time.perf_counter())
                first = first or last
            own_eta = progress.eta_s
            if progress.phase == "preparing":
                own_eta = costs.step_seconds(step, len(samples)) - progress.elapsed_s
            yield dataclasses.replace(
                progress,
                step=progress.step + offset,
                total_steps=total,
                model=step.member,
                model_count=count,
                eta_s=max(0.0, own_eta) + later,
                stage="preview" if step.kind is StepKind.PREVIEW else progress.stage,
            )
        timed = None if first is None else (first[0], last[0], last[1] - first[1])
        costs.observe(step, time.perf_counter() - started, timed)
        offset += total_steps(step.config)
        shown = dict(current)
        shown[step.member] = work
        if step.kind is not StepKind.PREVIEW:
            current = shown
        yield ModelsReady(_consistent(shown, count), step, final=n == len(steps) - 1)
