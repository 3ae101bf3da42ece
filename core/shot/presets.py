"""The speed/quality presets: the only place that knows what a slider setting means.

The slider (a float in [0, 1] in the UI, `--quality` in the CLI) maps to a `Preset` in one place,
`preset_for`. Each preset has a `Recipe`: the fine-tuning config of every model the shot keeps
(Best averages two), the inference settings, and a cost estimate for a given clip that the train
panel shows before anything trains. Measured accuracy and speed of each: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np

from core.segmentation import DEFAULT_GATE_PX, SegmentConfig
from core.training import FineTuneConfig

# Share of augmented views that are "dreamed" (core.augment.Dreamer), at every preset.
DREAM = 0.5
# Steps of the separate stride-2 edge-refinement stage at the Fast preset.
REFINE_STEPS = 30
# The parent networks a recipe's models start from (core.model.build.build_model's names): the
# standard parent (EfficientNet-Lite0) and the larger one (EfficientNet-Lite2), which scores
# higher at Balanced but runs slower and is no better at Fast (docs/BENCHMARKS.md).
STANDARD_PARENT = "parent"
LARGE_PARENT = "parent-large"
PARENTS = (STANDARD_PARENT, LARGE_PARENT)
# Slider positions where Balanced and Best begin.
BALANCED_FROM = 1 / 3
BEST_FROM = 0.75


class Preset(enum.Enum):
    """A named slider setting. `value` is the name stored in job files and shown to the artist."""

    FAST = "Fast"
    BALANCED = "Balanced"
    BEST = "Best"

    @property
    def quality(self) -> float:
        """The slider position that stands for this preset (for saving and the CLI)."""
        return {Preset.FAST: 0.0, Preset.BALANCED: 0.5, Preset.BEST: 1.0}[self]


def preset_for(quality: float) -> Preset:
    """The preset of slider position `quality` in [0, 1] (clipped)."""
    q = float(np.clip(quality, 0.0, 1.0))
    if q < BALANCED_FROM:
        return Preset.FAST
    if q < BEST_FROM:
        return Preset.BALANCED
    return Preset.BEST


def _fast() -> FineTuneConfig:
    """Head only: 100 steps on 8 cached views per frame, then 30 steps of stride-2 refinement."""
    return FineTuneConfig(
        steps=100, trainable="head", views_per_frame=8, refine_steps=REFINE_STEPS, dream=DREAM
    )


def _balanced() -> FineTuneConfig:
    """Head only, longer, on more views. Training the stride-16/32 stages too ("deep") over-fitted
    one-frame annotations on the benchmark, so no preset uses it."""
    return FineTuneConfig(
        steps=300, trainable="head", views_per_frame=16, refine_steps=100, dream=DREAM
    )


def _whole_network() -> FineTuneConfig:
    """Every layer, 500 steps on 320 px crops around the object."""
    return FineTuneConfig(steps=500, trainable="all", views_per_frame=16, dream=DREAM)


@dataclass(frozen=True)
class Recipe:
    """What a preset runs. members: one fine-tuning config per model the shot keeps, in training
    order; their probabilities are averaged (Best keeps the Balanced model, trained first and
    shown as a preview, and a whole-network one); parents: the parent network each member
    starts from (STANDARD_PARENT or LARGE_PARENT; one per member); segment: the inference
    settings (mirrored pass from Balanced on, temporal gate); online_edge_scale: the edge
    refinement steps an online round's update (core.shot.online) runs per new frame, as a
    multiple of the recipe's."""

    preset: Preset
    members: tuple[FineTuneConfig, ...]
    segment: SegmentConfig
    parents: tuple[str, ...] = ()
    online_edge_scale: float = 0.0

    def __post_init__(self) -> None:
        if not self.parents:
            object.__setattr__(self, "parents", (STANDARD_PARENT,) * len(self.members))
        if len(self.parents) != len(self.members) or not set(self.parents) <= set(PARENTS):
            raise ValueError(f"a recipe needs one of {PARENTS} per member, not {self.parents}")

    def with_overrides(self, **overrides) -> Recipe:
        """The same recipe with `overrides` applied to every member's FineTuneConfig."""
        members = tuple(dataclasses.replace(c, **overrides) for c in self.members)
        return dataclasses.replace(self, members=members)

    @property
    def description(self) -> str:
        """One line for the artist: what this preset trains and how it segments."""
        return {
            Preset.FAST: "trains the network head on your keyframes",
            Preset.BALANCED: "trains the head of a larger network longer on more views; every "
            "frame also mirrored",
            Preset.BEST: "two models averaged: the Balanced one (shown first) and one whose whole "
            "(standard) network trains",
        }[self.preset]


def recipe_for(preset: Preset, *, gate_px: int = DEFAULT_GATE_PX) -> Recipe:
    """The recipe of a preset; `gate_px` is the temporal gate radius (0 = off)."""
    segment = SegmentConfig(temporal_gate_px=gate_px, flip=preset is not Preset.FAST)
    if preset is Preset.FAST:
        # Fast's edge stage is short (REFINE_STEPS), so online rounds go on training it; an
        # online target ignores its uncertain band, which is where the edge is, so it adds no
        # edge to learn, and at Balanced, whose edge stage is three times longer, the rounds'
        # edge steps cost a third of their time for nothing (docs/BENCHMARKS.md, "Online
        # rounds without edge steps").
        return Recipe(preset, (_fast(),), segment, (STANDARD_PARENT,), online_edge_scale=1.0)
    if preset is Preset.BALANCED:
        return Recipe(preset, (_balanced(),), segment, (LARGE_PARENT,))
    members, parents = (_balanced(), _whole_network()), (LARGE_PARENT, STANDARD_PARENT)
    return Recipe(preset, members, segment, parents)


# --- cost ----------------------------------------------------------------------------------------
# Seconds per unit at 854x480 on the 2-core dev machine (bench/step_costs.py; docs/BENCHMARKS.md
# "Step costs"); scaled by pixel count for other frame sizes, and by the pace measured on the open
# clip (core.shot.plan.CostModel: a timed inference when it opens, then every run and frame), so
# another machine (a CPU without bf16, a loaded one, a GPU) is priced as what it is.
REFERENCE_PIXELS = 854 * 480
REFERENCE_CROP_PIXELS = 320 * 320  # the whole-network steps' crops


@dataclass(frozen=True)
class UnitCosts:
    """Seconds at REFERENCE_PIXELS: encode_view: one augmented view through the frozen backbone
    (dreaming included); head_step / refine_step / all_step: one optimiser step of each stage
    ("all" at REFERENCE_CROP_PIXELS, its 320 px crops); inference_pass: one network
    pass over a frame (the mirrored pass is a second one); gate: the temporal gate per frame."""

    encode_view: float = 0.099
    head_step: float = 0.0093
    refine_step: float = 0.0212
    all_step: float = 0.102
    inference_pass: float = 0.033
    gate: float = 0.025

    def for_parent(self, parent: str) -> UnitCosts:
        """These costs for work on `parent`'s network (the standard parent's are these)."""
        if parent == STANDARD_PARENT:
            return self
        ratios = LARGE_PARENT_COST_RATIOS
        return dataclasses.replace(
            self, **{name: getattr(self, name) * ratio for name, ratio in ratios.items()}
        )


# The larger parent's unit costs over the standard one's, measured side by side
# (bench/step_costs.py --weights parent-large; docs/BENCHMARKS.md).
LARGE_PARENT_COST_RATIOS = {
    "encode_view": 1.2,
    "head_step": 1.0,
    "refine_step": 1.0,
    "all_step": 1.25,
    "inference_pass": 1.35,
}


DEV_MACHINE_COSTS = UnitCosts()


@dataclass(frozen=True)
class CostEstimate:
    """Estimated seconds: train_s for the whole training run, per_frame_s to segment one frame,
    total_s for training plus every frame of the clip; online_s: the online rounds after it
    (core.shot.online.estimate_online; 0 when they are off), not part of total_s."""

    train_s: float
    per_frame_s: float
    total_s: float
    online_s: float = 0.0

    def describe(self, num_frames: int | None = None) -> str:
        """'~12 s training, then ~0.20 s per frame (~40 s for all 140)'-style text, and on a
        second line 'then learning from the shot: ~45 s more' when online rounds follow."""
        text = f"~{_seconds(self.train_s)} training, then ~{self.per_frame_s:.2f} s per frame"
        if num_frames:
            text += f" (~{_seconds(self.total_s)} for all {num_frames})"
        if self.online_s > 0:
            text += f"\nthen learning from the shot: ~{_seconds(self.online_s)} more"
        return text


def _seconds(value: float) -> str:
    return f"{value / 60:.1f} min" if value >= 90 else f"{value:.0f} s"
