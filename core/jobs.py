"""Cancellation and progress types shared by every long-running core generator."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

# What a fine-tune's step is doing: caching augmented views, or an optimiser step.
TrainPhase = Literal["preparing", "training"]
# What an optimiser step trains: "" the object (head, or the whole network), "edges" the stride-2
# edge refinement (a finer loss, plotted as its own curve), "preview" the quick stand-in model a
# run starts with (core.shot.plan; it starts from the parent, as the full fine-tune does after it).
TrainStage = Literal["", "edges", "preview"]


class Cancelled(Exception):
    """Raised inside a long job when its CancelToken was set."""


class CancelToken:
    """Thread-safe cancel flag: set from any thread (the UI), checked by the worker at each step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


NEVER_CANCELLED = CancelToken()


@dataclass(frozen=True)
class TrainProgress:
    """One fine-tuning or parent-training step.

    step: 1-based step just finished; total_steps: planned steps; loss: that step's loss;
    elapsed_s: seconds since the job started; eta_s: estimated seconds left (0 when done);
    phase: "preparing" while features are cached, "training" afterwards; stage: what the
    training step trains, "" for the main fine-tune, "edges" for the stride-2 refinement stage
    (its loss is measured at a finer resolution, so it is plotted as its own curve);
    model / model_count: which of the shot's models trains, 0-based, and how many the run trains
    (the Best setting trains two; core.shot.presets). A run of several fine-tunes
    (core.shot.plan.run_plan) counts step, total_steps and eta_s over the whole run; round:
    which round of a run in rounds (core.shot.online) it belongs to, 0-based, each round
    counting its own steps.
    """

    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    eta_s: float
    phase: TrainPhase = "training"
    stage: TrainStage = ""
    model: int = 0
    model_count: int = 1
    round: int = 0
