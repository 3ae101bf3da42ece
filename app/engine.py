"""The compute engine: one QObject living in one QThread, the only code that touches torch.

Requests come in as queued signals carrying frozen snapshots (TrainRequest, ExportRequest);
results go out as signals carrying numpy arrays. Training is cancelled through the request's own
CancelToken (a threading.Event set from the UI thread: a queued cancel would wait behind the busy
slot). Segmentation runs one frame per event-loop turn, always picking the not-yet-done frame
nearest the focus frame, which the UI updates directly (`set_focus`, thread-safe), so scrubbing
re-prioritises at once.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core.errors import RotoshotError
from core.export_job import ExportJob, run_export_job
from core.jobs import Cancelled, CancelToken
from core.segmentation import (
    FrameAnnotation,
    Segmenter,
    priority_order,
    segment_config_for_quality,
)
from core.training import (
    FeatureCache,
    FineTuneConfig,
    TrainingSample,
    fine_tune,
    member_configs_for_quality,
    total_steps,
)
from core.video import open_frames

log = logging.getLogger(__name__)

# The preview phase of a first training: enough for a usable first overlay within seconds.
PREVIEW_STEPS = 25
PREVIEW_VIEWS = 3


@dataclass(frozen=True)
class TrainRequest:
    """Everything a fine-tune needs, copied: samples in object-id channel order, the annotations
    that override results, the slider value, and the annotation fingerprint it answers."""

    samples: tuple[TrainingSample, ...]
    object_ids: tuple[int, ...]
    annotations: dict
    quality: float
    fingerprint: str
    update_only: bool = False  # a correction on an existing model: fewer steps
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class _Phase:
    """One fine-tune of a request: `member` 0 is the main model, 1.. the models averaged with it
    (the Best setting keeps two); `fresh`: start that member from the parent network."""

    member: int
    config: FineTuneConfig
    fresh: bool = False


class Engine(QObject):
    """Owns the network, the optimiser state, the device and the engine-side FrameSource."""

    model_ready = Signal(str, str)  # source ("parent"/"imagenet"), warning
    training_started = Signal()
    training_progress = Signal(object)  # TrainProgress
    model_updated = Signal(int, str, bool)  # model version, fingerprint, final (not a preview)
    training_finished = Signal(int, str)  # model version, fingerprint
    training_cancelled = Signal()
    training_failed = Signal(str)
    frame_segmented = Signal(int, object, object, int)  # frame, probs (K,H,W) uint8, ids, version
    segmentation_idle = Signal()
    export_progress = Signal(int, int)
    export_finished = Signal(str)
    export_failed = Signal(str)
    error = Signal(str)
    _segment_more = Signal()  # queued to itself: one frame per event-loop turn

    def __init__(self, *, device: str = "auto", weights: str = "parent") -> None:
        super().__init__()
        self._segment_more.connect(self._segment_next, Qt.QueuedConnection)
        self._device_choice = device
        self._weights = weights
        self._focus_lock = threading.Lock()
        self._focus = 0
        self._model = None
        self._members: list = []  # models averaged with self._model (the Best setting)
        self._parent = None  # untouched copy of the network as loaded: fresh members start here
        self._model_info = None
        self._source = None
        self._segmenter: Segmenter | None = None
        self._feature_cache = FeatureCache()
        # Seconds per reported step of each kind of phase on the open clip (for the run's ETA).
        self._seconds_per_step: dict[tuple, float] = {}
        self._object_ids: tuple[int, ...] = ()
        self._annotations: dict[int, FrameAnnotation] = {}
        self._version = 0
        self._quality = 0.0  # slider position the current model was trained at
        self._done: set[int] = set()
        self._segmenting = False
        self.device_name = "cpu"

    @property
    def model_count(self) -> int:
        """How many models the shot's results average (2 at the Best setting; 0 before a clip
        is open)."""
        return 0 if self._model is None else 1 + len(self._members)

    # Called from the UI thread: plain attribute under a lock, no queued signal needed.
    def set_focus(self, frame_idx: int) -> None:
        with self._focus_lock:
            self._focus = frame_idx

    def _focus_frame(self) -> int:
        with self._focus_lock:
            return self._focus

    @Slot(str)
    def open_clip(self, path: str) -> None:
        """Open the clip on the engine side and (re)load the untrained parent network."""
        try:
            from core.device import resolve_device
            from core.model.build import build_model

            if self._source is not None:
                self._source.close()
            self._source = open_frames(path, cache_frames=16)
            device = resolve_device(self._device_choice)
            self.device_name = device.type
            self._model, self._model_info = build_model(weights=self._weights)
            self._model.to(device)
            self._parent = copy.deepcopy(self._model)
            self._members = []
            self._feature_cache = FeatureCache()
            self._seconds_per_step = {}
            self._segmenter = None
            self._object_ids = ()
            self._annotations = {}
            self._done = set()
            self._warm_up()
            self.model_ready.emit(self._model_info.source, self._model_info.warning)
        except RotoshotError as exc:
            self.error.emit(str(exc))

    def _warm_up(self) -> None:
        """One inference and one head backward pass at the clip's frame size, before the artist
        paints: the first pass at a new size pays oneDNN's one-off set-up, which would otherwise
        land in the first overlay's time. No weights change."""
        import torch

        image = self._source.read(0)
        segmenter = Segmenter(self._model, self._source)
        segmenter.predict(image)
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float()
        x = self._model.normalize(x.to(next(self._model.parameters()).device))
        with torch.no_grad():
            feats = self._model.backbone(x)
        params = list(self._model.head.parameters())
        for p in params:
            p.requires_grad_(True)
        self._model.head([None, *feats[1:]], None, refine=False).logits.mean().backward()
        for p in params:
            p.requires_grad_(False)
            p.grad = None

    @Slot(str, object, int)
    def load_weights(self, path: str, object_ids, version: int) -> None:
        """Restore a saved fine-tuned model (project reopen)."""
        from core.model.build import load_checkpoint, load_members, load_weights_into

        try:
            payload = load_checkpoint(path)
            members = load_members(payload, self._parent, path=path)
            load_weights_into(self._model, payload, path=path)
            self._model.eval()
            self._members = members
            self._quality = float(payload.get("extra", {}).get("quality", 0.0))
            self._object_ids = tuple(object_ids)
            self._version = version
            self._segmenter = None
        except RotoshotError as exc:
            self.error.emit(f"{exc}; the model starts again from the parent network")

    @Slot(str)
    def save_weights(self, path: str) -> None:
        from core.model.build import save_checkpoint

        if self._model is not None and self._object_ids:
            try:
                extra = {"object_ids": list(self._object_ids), "quality": self._quality}
                save_checkpoint(self._model, path, extra=extra, members=self._members)
            except OSError as exc:
                self.error.emit(f"cannot save the model: {exc}")

    def _phases(self, request: TrainRequest) -> list[_Phase]:
        """The fine-tunes to run for a request, one or more per model of the slider setting
        (core.training.member_configs_for_quality). A first training of the main model starts
        with a short preview (a few views, head only) so the visible frame shows a result within
        seconds, then the full recipe continues from those weights; a correction runs a shorter
        update of each model. A model the shot does not have yet (the second one of the Best
        setting) trains its full recipe from the parent network."""
        phases = []
        for member, config in enumerate(member_configs_for_quality(request.quality)):
            exists = member == 0 or member <= len(self._members)
            if request.update_only and exists:
                update = dataclasses.replace(
                    config, steps=max(40, config.steps // 3), refine_steps=config.refine_steps // 3
                )
                phases.append(_Phase(member, update))
                continue
            if member == 0:
                preview = dataclasses.replace(
                    config,
                    trainable="head",
                    steps=PREVIEW_STEPS,
                    views_per_frame=PREVIEW_VIEWS,
                    refine_steps=0,
                )
                phases.append(_Phase(0, preview))
            phases.append(_Phase(member, config, fresh=not exists))
        return phases

    def _publish_model(self, request: TrainRequest, models: list, *, final: bool) -> None:
        self._version += 1
        self._quality = request.quality  # inference settings follow the slider (TTA)
        self._object_ids = tuple(request.object_ids)
        self._annotations = dict(request.annotations)
        self._members = list(models[1:])
        self._segmenter = None
        self._done = set()
        self.model_updated.emit(self._version, request.fingerprint, final)

    @Slot(object)
    def train(self, request: TrainRequest) -> None:
        """Fine-tune from the current weights, then restart segmentation from the focus frame.

        A model started from the parent (`_Phase.fresh`) trains on a copy that joins the shot
        only when its fine-tune completes: stopping mid-way keeps the models the shot had."""
        if self._model is None:
            self.training_failed.emit("no clip is open")
            return
        if self._object_ids and tuple(request.object_ids) != self._object_ids:
            self._feature_cache = FeatureCache()  # channel layout changed: cached targets invalid
        phases = self._phases(request)
        # The models this request ends with: the main one, then the averaged ones it keeps.
        models = [self._model, *self._members][: 1 + max(p.member for p in phases)]
        total = sum(total_steps(p.config) for p in phases)
        models_planned = {p.member for p in phases}
        self.training_started.emit()
        last_emit, offset = 0.0, 0
        try:
            for n, phase in enumerate(phases):
                if phase.fresh:
                    models[phase.member : phase.member + 1] = [copy.deepcopy(self._parent)]
                # Cached features come from the main model's frozen backbone: only it uses them.
                cache = self._feature_cache if phase.member == 0 else None
                phase_seconds = 0.0
                for progress in fine_tune(
                    models[phase.member],
                    list(request.samples),
                    phase.config,
                    cancel=request.cancel,
                    feature_cache=cache,
                ):
                    now = time.perf_counter()
                    last = progress.step == total_steps(phase.config) and n == len(phases) - 1
                    if now - last_emit > 0.1 or last:
                        # One continuous curve across phases for the loss plot.
                        eta, whole_run = self._run_eta(progress.eta_s, phases[n + 1 :])
                        self.training_progress.emit(
                            dataclasses.replace(
                                progress,
                                step=progress.step + offset,
                                total_steps=total,
                                model=phase.member,
                                model_count=len(models_planned),
                                eta_s=eta,
                                eta_whole_run=whole_run,
                            )
                        )
                        last_emit = now
                    phase_seconds = progress.elapsed_s
                steps = total_steps(phase.config)
                self._seconds_per_step[self._cost_key(phase)] = phase_seconds / max(1, steps)
                offset += steps
                if n < len(phases) - 1:
                    # A preview: a fresh model joins `models` only when its phase starts.
                    self._publish_model(request, models, final=False)
                    self._segment_focus_frame()
        except Cancelled:
            self.training_cancelled.emit()
            for model in (self._model, *self._members):
                model.eval()
            return
        except RotoshotError as exc:
            self.training_failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - report, never kill the engine thread
            log.error("training failed:\n%s", traceback.format_exc())
            self.training_failed.emit(f"training failed: {exc}")
            return
        self._publish_model(request, models, final=True)
        self.training_finished.emit(self._version, request.fingerprint)
        self.start_segmentation()

    @staticmethod
    def _cost_key(phase: _Phase) -> tuple:
        """Phases with the same key cost about the same per step (a correction's shorter update
        included); their cost is measured on the open clip, as its frame size sets it."""
        c = phase.config
        return (phase.member, c.trainable, c.views_per_frame, c.refine_steps > 0, c.crop)

    def _run_eta(self, stage_eta: float, later: list[_Phase]) -> tuple[float, bool]:
        """(seconds left in the run, whether that covers the whole run): the running stage's
        own estimate plus each later phase's steps at its measured cost on this clip. A later
        phase never run here leaves the ETA at the running stage's."""
        costs = [self._seconds_per_step.get(self._cost_key(p)) for p in later]
        if any(c is None for c in costs):
            return stage_eta, False
        rest = sum(c * total_steps(p.config) for c, p in zip(costs, later, strict=True))
        return stage_eta + rest, True

    def _segment_focus_frame(self) -> None:
        """Segment just the visible frame (between training phases)."""
        frame_idx = self._next_frame()
        if frame_idx is not None:
            self._segment_one(frame_idx)

    @Slot()
    def start_segmentation(self) -> None:
        """Segment every frame not done for the current model, nearest the focus first."""
        if self._segmenting or self._model is None or not self._object_ids:
            return
        self._segmenting = True
        self._segment_more.emit()

    @Slot(object)
    def mark_done(self, frames) -> None:
        """Frames whose current-version results the UI already has (restored from disk)."""
        self._done.update(int(f) for f in frames)

    def _next_frame(self) -> int | None:
        """The not-yet-done frame nearest the focus frame (the UI moves the focus at any time)."""
        order = priority_order(len(self._source), self._focus_frame())
        return next((f for f in order if f not in self._done), None)

    @Slot()
    def _segment_next(self) -> None:
        frame_idx = self._next_frame()
        if frame_idx is None:
            self._segmenting = False
            self.segmentation_idle.emit()
            return
        self._segment_one(frame_idx)
        self._segment_more.emit()

    def _make_segmenter(self) -> Segmenter:
        config = segment_config_for_quality(self._quality)
        models = [self._model, *self._members]
        return Segmenter(models, self._source, annotations=self._annotations, config=config)

    def _segment_one(self, frame_idx: int) -> None:
        try:
            if self._segmenter is None:
                self._segmenter = self._make_segmenter()
            result = self._segmenter.segment_frame(frame_idx)
            # floor(p * 255.999): p > 0.5 <=> u8 > 127 for every float16-cached probability,
            # so the viewer's masks equal the exported ones (rounding maps 0.5 itself to 128).
            probs_u8 = np.floor(result.probs * 255.999).astype(np.uint8)
            self._done.add(frame_idx)
            self.frame_segmented.emit(frame_idx, probs_u8, self._object_ids, self._version)
        except RotoshotError as exc:
            self._done.add(frame_idx)
            self.error.emit(str(exc))

    @Slot(object)
    def export(self, job: ExportJob) -> None:
        """Run an export job, segmenting with the current model on the way."""
        if self._model is None or not self._object_ids:
            self.export_failed.emit("train a model before exporting")
            return
        try:
            if self._segmenter is None:
                self._segmenter = self._make_segmenter()
            for done, total in run_export_job(
                job, self._segmenter, self._source.stems, list(self._object_ids)
            ):
                self.export_progress.emit(done, total)
            self.export_finished.emit(job.folder)
        except Cancelled:
            self.export_failed.emit("export cancelled")
        except (RotoshotError, OSError) as exc:
            self.export_failed.emit(f"export stopped: {exc}")


class EngineThread(QObject):
    """Starts the Engine in its own QThread and stops it cleanly."""

    _live: list[QThread] = []  # started and not yet stopped (tests check none leak)

    @classmethod
    def live_threads(cls) -> list[QThread]:
        return list(cls._live)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.thread = QThread()
        EngineThread._live.append(self.thread)
        self.thread.setObjectName("rotoshot-engine")
        engine.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread's event loop to end and wait for it (the current job ends first)."""
        self.thread.quit()
        self.thread.wait(30_000)
        if self.thread in EngineThread._live and not self.thread.isRunning():
            EngineThread._live.remove(self.thread)
