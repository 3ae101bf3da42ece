"""Jobs: what a train, segment or export run needs, as plain picklable dataclasses.

A job holds data only (arrays, numbers, paths, enums), so it can be queued to the engine thread,
sent to another process or to a Ray worker. The cancel token never travels inside a job: it is
passed beside it (`session.train(job, cancel=...)`), as `fine_tune` takes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.export_job import ExportJob
from core.segmentation import FrameAnnotation
from core.shot.presets import Preset
from core.training import TrainingSample


@dataclass(frozen=True)
class TrainJob:
    """A fine-tuning request. samples: annotated frames, masks in `object_ids` channel order;
    annotations: frame_idx -> FrameAnnotation, overriding results on those frames; preset: the
    slider setting; fingerprint: hash of the annotations the job answers; correction: update the
    models the shot has (shorter) instead of training them again from the parent; preview: show a
    quick model first (the app; the CLI has nobody to show it to); online: the update of an
    online round (core.shot.online): its new samples are the model's own confident results,
    learnt briefly (core.shot.plan.ONLINE_STEP_SCALE)."""

    samples: tuple[TrainingSample, ...]
    object_ids: tuple[int, ...]
    annotations: dict[int, FrameAnnotation]
    preset: Preset
    fingerprint: str
    correction: bool = False
    preview: bool = True
    online: bool = False


@dataclass(frozen=True)
class SegmentJob:
    """Frames to segment (0-based indices, in the order given) with the shot's current model;
    mode: the segmenter (core.shot.segmenters.SEGMENTER_MODES)."""

    frames: tuple[int, ...]
    mode: str = "osvos"


__all__ = ["ExportJob", "SegmentJob", "TrainJob"]
