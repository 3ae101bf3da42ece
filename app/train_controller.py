"""Connects the document, the train panel and the engine: when to train, and the results.

What a preset trains is core's (core.shot); this controller only builds the job from the
document's keyframes (core.shot.samples.build_samples) and keeps its cancel token.
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtCore import QObject, QTimer, Signal

from app.document import ShotDocument
from app.engine import Engine
from app.results import ResultRecord
from app.train_panel import TrainPanel
from core.errors import RotoshotError
from core.jobs import CancelToken
from core.resolution import WorkingResolution
from core.shot.jobs import TrainJob
from core.shot.online import OnlineConfig, estimate_online
from core.shot.plan import CostModel, estimate_run
from core.shot.presets import preset_for
from core.shot.samples import build_samples, training_fingerprint

log = logging.getLogger(__name__)

AUTO_TRAIN_DELAY_MS = 400  # wait for the artist to pause between strokes
ONLINE_ROUNDS = 2  # core.shot.online's rounds when the artist turns online learning on


class TrainController(QObject):
    """Builds TrainJobs from the document, sends them to the engine, feeds results back."""

    # Queued into the engine thread.
    train_requested = Signal(object, object)  # TrainJob, CancelToken
    online_requested = Signal(object, int, object)  # TrainJob, rounds, CancelToken
    segmentation_requested = Signal()
    results_restored = Signal(object, int)  # frames whose results came back from disk, version
    weights_save_requested = Signal(str)
    model_state_changed = Signal(str)

    def __init__(
        self, document: ShotDocument, engine: Engine, panel: TrainPanel, parent=None
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.engine = engine
        self.panel = panel
        self.current_job: TrainJob | None = None
        self._cancel = CancelToken()
        self.trained_fingerprint = ""
        # The fingerprint whose model has had (or is having) its online rounds; the app runs
        # them once per trained model, after its first full pass.
        self.online_fingerprint = ""
        self._online_run = False  # the current run (current_job) is online rounds
        self._segmentation_idle = False
        self._costs: CostModel | None = None  # the engine's step costs on the open clip
        # False from a clip/project open until the engine has loaded the network and a saved
        # model (if any) was restored: a training request queued before that restore would be
        # overwritten by it (the engine runs requests in order).
        self.engine_ready = False
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.setInterval(AUTO_TRAIN_DELAY_MS)
        self._auto_timer.timeout.connect(self._on_auto_timer_timeout)

        self.train_requested.connect(engine.train)
        self.online_requested.connect(engine.learn_online)
        self.segmentation_requested.connect(engine.start_segmentation)
        self.weights_save_requested.connect(engine.save_weights)
        self.results_restored.connect(engine.mark_done)
        document.results_lost.connect(engine.mark_lost)
        panel.train_clicked.connect(self.train)
        panel.stop_clicked.connect(self.stop)
        panel.quality_changed.connect(self._on_panel_quality_changed)
        panel.auto_train_toggled.connect(self._on_panel_auto_train_toggled)
        panel.online_toggled.connect(self._on_panel_online_toggled)
        engine.training_started.connect(panel.show_started)
        engine.training_progress.connect(panel.show_progress)
        engine.model_updated.connect(self._on_engine_model_updated)
        engine.model_restored.connect(self._on_engine_model_restored)
        engine.costs_measured.connect(self._on_engine_costs_measured)
        engine.training_finished.connect(self._on_engine_training_finished)
        engine.online_finished.connect(self._on_engine_online_finished)
        engine.training_cancelled.connect(self._on_engine_training_cancelled)
        engine.training_failed.connect(self._on_engine_training_failed)
        engine.frame_segmented.connect(self._on_engine_frame_segmented)
        engine.segmentation_idle.connect(self._on_engine_segmentation_idle)
        document.annotation_changed.connect(self._on_document_annotation_changed)
        document.frame_changed.connect(engine.set_focus)
        document.clip_loaded.connect(self._on_document_clip_loaded)
        document.clip_loaded.connect(lambda: engine.set_range(*document.work_range()))
        document.range_changed.connect(self._on_document_range_changed)

    @property
    def training(self) -> bool:
        return self.current_job is not None

    def object_ids_to_train(self) -> list[int]:
        """Objects with at least one keyframe, in id order (= the model's channel order)."""
        return self.document.store.object_ids()

    def keyframes_in_range(self) -> list[int]:
        """The keyframes inside the work range: what training learns from."""
        doc = self.document
        return [f for f in doc.store.frames() if doc.in_range(f)]

    def working(self) -> WorkingResolution:
        """The network's working size and region for this clip (the project's settings;
        core.resolution, core.roi)."""
        settings = self.document.project.settings
        return WorkingResolution.for_source(
            self.document.source.size,
            settings.working_long_side,
            roi=settings.region,
        )

    def training_fingerprint(self) -> str:
        """What a model trained now would answer (core.shot.session.training_fingerprint)."""
        doc = self.document
        working = self.working() if doc.source is not None else None
        mode = doc.project.settings.mode if doc.project is not None else "osvos"
        return training_fingerprint(doc.store, self.keyframes_in_range(), working, mode)

    def build_job(self, *, correction: bool = False) -> TrainJob | None:
        """A TrainJob from every keyframe inside the work range (None when none there has the
        object painted). RotoshotError when a keyframe cannot be used (a frame of another size)."""
        doc = self.document
        frames = self.keyframes_in_range()
        ids = tuple(self.object_ids_to_train())
        painted = any(doc.store.get(o, f).any() for o, f in doc.store.keys() if f in frames)
        if not ids or not painted:
            return None
        samples, annotations = build_samples(
            doc.store, doc.source, ids, frames, working=self.working()
        )
        preset = preset_for(doc.project.settings.quality)
        fingerprint = self.training_fingerprint()
        return TrainJob(samples, ids, annotations, preset, fingerprint, correction)

    def set_engine_ready(self, ready: bool) -> None:
        """Called by the window around opening a clip; auto-training waits for ready."""
        self.engine_ready = ready
        if not ready:
            self._auto_timer.stop()
        elif self.document.project.settings.auto_train:
            self._auto_timer.start()

    def train(self, *, correction: bool = False) -> bool:
        """Start (or restart with the latest annotations) a fine-tune. False if nothing to train."""
        if self.document.source is None:
            self.panel.show_stopped("Open a clip first (File ▸ Open Clip…).")
            return False
        if not self.engine_ready:
            self.panel.show_stopped("Loading the network… train again in a moment.")
            return False
        try:
            job = self.build_job(correction=correction)
        except RotoshotError as exc:
            self.panel.show_stopped(str(exc))
            return False
        if job is None:
            self.stop()  # e.g. every stroke undone: a run still going has nothing left to learn
            self.panel.show_stopped(
                "Paint the object on at least one frame first"
                + (" (inside the in/out range)." if self.document.store.frames() else ".")
            )
            return False
        self.online_fingerprint = ""  # a new model: its own online rounds after its pass
        self.document.project.online_fingerprint = ""
        self.train_requested.emit(job, self._start(job, online=False))
        return True

    def _start(self, job: TrainJob, *, online: bool) -> CancelToken:
        """Make `job` the current run, a training or online rounds (a run in progress is
        cancelled: the engine starts this one right after it); its new cancel token."""
        self._cancel.cancel()
        self._cancel = CancelToken()
        self.current_job = job
        self._online_run = online
        self.engine.set_focus(self.document.current_frame)
        self.panel.set_activity("Learning from the shot" if online else "")
        self.model_state_changed.emit("learning from the shot" if online else "training")
        return self._cancel

    def learn_online(self) -> bool:
        """Start the online rounds (core.shot.online) on the current model when the project asks
        for them and the model has not had them: after a model's first full pass. A correction
        (`train`) cancels them, and its keyframes are never replaced by what they learnt.
        False when nothing was started."""
        rounds = self.document.project.settings.online_rounds
        fingerprint = self.trained_fingerprint
        if (
            rounds <= 0
            or self.training
            or not self.engine_ready
            or not self._segmentation_idle
            or not fingerprint
            or fingerprint == self.online_fingerprint
            or fingerprint != self.training_fingerprint()  # the keyframes changed since
        ):
            return False
        try:
            job = self.build_job(correction=True)
        except RotoshotError as exc:
            self.panel.show_stopped(str(exc))
            return False
        if job is None:
            return False
        self.online_fingerprint = fingerprint
        self.online_requested.emit(job, rounds, self._start(job, online=True))
        return True

    def stop(self) -> None:
        if self.current_job is not None:
            self._cancel.cancel()

    def _on_auto_timer_timeout(self) -> None:
        if (
            self.engine_ready
            and self.document.project.settings.auto_train
            and self.training_fingerprint() != self.trained_fingerprint
        ):
            self.train(correction=self.document.model_version > 0)

    def _on_document_annotation_changed(self, _object_id: int, _frame_idx: int) -> None:
        self.show_estimate()
        if not self.document.store.object_ids():
            self.stop()  # every stroke undone: nothing left to train on
        elif self.document.project.settings.auto_train:
            self._auto_timer.start()
        elif not self.training:  # not a stale "paint the object first" beside painted frames
            self.panel.show_stopped("Painted. Press Train (Ctrl+Return) to learn it.")

    def _on_document_range_changed(self, first: int, last: int) -> None:
        """Segmentation keeps to the new range at once; training follows the keyframes in it."""
        self.engine.set_range(first, last)
        self.segmentation_requested.emit()  # frames that came into the range
        self.show_estimate()
        if self.document.project.settings.auto_train:
            self._auto_timer.start()

    def _on_document_clip_loaded(self) -> None:
        self._cancel.cancel()
        self.current_job = None
        self._costs = None
        self.trained_fingerprint = ""
        self.online_fingerprint = ""
        self._segmentation_idle = False
        self.panel.set_activity("")
        self.panel.set_online(self.document.project.settings.online_rounds > 0)
        self.model_state_changed.emit("loading")
        if self.document.store.object_ids():  # a reopened project, or the clip in a new region
            self.panel.show_stopped("Press Train (Ctrl+Return) to learn the painted frames.")
        else:
            self.panel.show_stopped("Paint the object on a frame, then train.")

    def _on_panel_quality_changed(self, quality: float) -> None:
        self.document.project.settings.quality = quality
        self.document.save_manifest()
        self.show_estimate()

    def _on_engine_costs_measured(self, costs: CostModel) -> None:
        self._costs = costs
        self.show_estimate()

    def show_estimate(self) -> None:
        """The panel's cost line for the slider's preset on this clip (core's estimate, from the
        step costs the engine measured here)."""
        doc = self.document
        if self._costs is None or doc.source is None:
            self.panel.show_estimate(None)
            return
        preset = preset_for(doc.project.settings.quality)
        recipe = self.engine.recipes(preset)
        estimate = estimate_run(
            self._costs,
            recipe,
            models_trained=self.engine.model_count,
            correction=False,
            num_keyframes=max(1, len(doc.store.frames())),
            num_frames=doc.num_frames,
        )
        rounds = doc.project.settings.online_rounds
        if rounds > 0:  # "Keep learning from the shot": its rounds follow every full pass
            online = estimate_online(
                self._costs, recipe, doc.store.frames(), doc.num_frames, OnlineConfig(rounds)
            )
            estimate = dataclasses.replace(estimate, online_s=online)
        self.panel.show_estimate(estimate, doc.num_frames)

    def _on_panel_online_toggled(self, enabled: bool) -> None:
        self.document.project.settings.online_rounds = ONLINE_ROUNDS if enabled else 0
        self.document.save_manifest()
        self.show_estimate()
        if enabled:
            self.learn_online()
        elif self.current_job is not None and self._online_run:
            self.stop()  # switched off while its rounds run

    def _on_panel_auto_train_toggled(self, enabled: bool) -> None:
        self.document.project.settings.auto_train = enabled
        self.document.save_manifest()
        if enabled:
            self._auto_timer.start()

    def _on_engine_model_updated(self, version: int, fingerprint: str, final: bool) -> None:
        """A preview or final model: results so far become stale and stream in again."""
        job = self.current_job
        ids = job.object_ids if job is not None else tuple(self.document.store.object_ids())
        self._segmentation_idle = False
        self.document.start_model_version(version, fingerprint if final else "", ids)
        if not final:
            self.model_state_changed.emit("in use, still training")
            return
        self.trained_fingerprint = fingerprint
        self.document.project.model_fingerprint = fingerprint
        self.document.save_manifest()
        if self.document.folder is not None:
            # The atomic writer replaces a planted model.pt link itself, never writes through it.
            self.weights_save_requested.emit(str(self.document.folder / "model.pt"))

    def _on_engine_model_restored(self, version: int, fingerprint: str) -> None:
        """A saved model is current again: its cached results come back from disk and only the
        missing frames are segmented."""
        doc = self.document
        doc.model_version = version
        self.trained_fingerprint = fingerprint
        self._segmentation_idle = False
        if doc.project.online_fingerprint == fingerprint:
            self.online_fingerprint = fingerprint  # the saved model had its online rounds
        doc.restore_results(tuple(doc.store.object_ids()), version, fingerprint)
        self.results_restored.emit(doc.cached_frames(), version)
        self.engine.set_focus(doc.current_frame)
        self.segmentation_requested.emit()
        self.model_state_changed.emit("trained (restored)")

    def _on_engine_training_finished(self, _version: int, fingerprint: str) -> None:
        if self.current_job is not None and self.current_job.fingerprint == fingerprint:
            self.current_job = None
        self.panel.show_stopped("Trained. Segmenting, visible frame first…")
        self.model_state_changed.emit("trained")

    def _on_engine_online_finished(self, _version: int, fingerprint: str) -> None:
        if self.current_job is not None and self.current_job.fingerprint == fingerprint:
            self.current_job = None
        doc = self.document
        doc.project.online_fingerprint = fingerprint
        doc.save_manifest()
        self.panel.set_activity("")
        rounds = doc.project.settings.online_rounds
        self.panel.show_stopped(
            f"Learnt from the shot's confident frames ({rounds} round{'s' * (rounds != 1)}). "
            "Segmenting again…"
        )
        self.model_state_changed.emit("trained")

    def _on_engine_training_cancelled(self) -> None:
        # A restart cancels the previous run: only report a stop the artist asked for.
        if self.current_job is not None and self._cancel.cancelled:
            self.current_job = None
            self.panel.show_stopped("Stopped. The last good model is kept.")
            self.model_state_changed.emit("trained" if self.document.model_version else "untrained")

    def _on_engine_training_failed(self, message: str) -> None:
        self.current_job = None
        self.panel.set_activity("")
        self.panel.show_stopped(message)
        self.model_state_changed.emit("trained" if self.document.model_version else "untrained")

    def _on_engine_frame_segmented(self, frame_idx: int, probs, object_ids, version: int) -> None:
        if version != self.document.model_version:
            return  # a result of a model that has since been replaced
        self.document.set_result(frame_idx, ResultRecord(probs, tuple(object_ids), version))

    def _on_engine_segmentation_idle(self) -> None:
        if self.training:
            return
        self._segmentation_idle = True
        if not self.learn_online():
            self.panel.show_stopped("All frames segmented.")
