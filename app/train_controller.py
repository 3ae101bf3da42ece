"""Connects the document, the train panel and the engine: what to train, when, and the results."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.document import FrameResultView, ShotDocument
from app.engine import Engine, TrainRequest
from app.train_panel import TrainPanel
from core.segmentation import FrameAnnotation
from core.training import TrainingSample

log = logging.getLogger(__name__)

AUTO_TRAIN_DELAY_MS = 400  # wait for the artist to pause between strokes


class TrainController(QObject):
    """Builds TrainRequests from the document, sends them to the engine, feeds results back."""

    # Queued into the engine thread.
    train_requested = Signal(object)
    segmentation_requested = Signal()
    weights_save_requested = Signal(str)
    status_changed = Signal(str)
    model_state_changed = Signal(str)

    def __init__(
        self, document: ShotDocument, engine: Engine, panel: TrainPanel, parent=None
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.engine = engine
        self.panel = panel
        self.current_request: TrainRequest | None = None
        self.trained_fingerprint = ""
        # False from a clip/project open until the engine has loaded the network and a saved
        # model (if any) was restored: a training request queued before that restore would be
        # overwritten by it (the engine runs requests in order).
        self.engine_ready = False
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.setInterval(AUTO_TRAIN_DELAY_MS)
        self._auto_timer.timeout.connect(self._on_auto_timer_timeout)

        self.train_requested.connect(engine.train)
        self.segmentation_requested.connect(engine.start_segmentation)
        self.weights_save_requested.connect(engine.save_weights)
        panel.train_clicked.connect(self.train)
        panel.stop_clicked.connect(self.stop)
        panel.quality_changed.connect(self._on_panel_quality_changed)
        panel.auto_train_toggled.connect(self._on_panel_auto_train_toggled)
        engine.training_started.connect(panel.show_started)
        engine.training_progress.connect(panel.show_progress)
        engine.model_updated.connect(self._on_engine_model_updated)
        engine.training_finished.connect(self._on_engine_training_finished)
        engine.training_cancelled.connect(self._on_engine_training_cancelled)
        engine.training_failed.connect(self._on_engine_training_failed)
        engine.frame_segmented.connect(self._on_engine_frame_segmented)
        engine.segmentation_idle.connect(self._on_engine_segmentation_idle)
        document.annotation_changed.connect(self._on_document_annotation_changed)
        document.frame_changed.connect(engine.set_focus)

    @property
    def training(self) -> bool:
        return self.current_request is not None

    def object_ids_to_train(self) -> list[int]:
        """Objects with at least one keyframe, in id order (= the model's channel order)."""
        return self.document.store.object_ids()

    def build_request(self, *, update_only: bool = False) -> TrainRequest | None:
        doc = self.document
        ids = self.object_ids_to_train()
        if not ids or not doc.store.has_foreground(ids):
            return None
        samples, annotations = [], {}
        for frame_idx in doc.store.frames():
            masks, valid = doc.store.frame_masks(frame_idx, ids)
            key = f"{frame_idx}:" + ",".join(doc.store.digest(o, frame_idx) for o in ids)
            image = np.array(doc.frame_image(frame_idx))
            samples.append(TrainingSample(image, masks, valid, key=key))
            annotations[frame_idx] = FrameAnnotation(masks, valid)
        return TrainRequest(
            samples=tuple(samples),
            object_ids=tuple(ids),
            annotations=annotations,
            quality=doc.project.settings.quality,
            fingerprint=doc.store.fingerprint(),
            update_only=update_only,
        )

    def set_engine_ready(self, ready: bool) -> None:
        """Called by the window around opening a clip; auto-training waits for ready."""
        self.engine_ready = ready
        if not ready:
            self._auto_timer.stop()
        elif self.document.project.settings.auto_train:
            self._auto_timer.start()

    def train(self, *, update_only: bool = False) -> bool:
        """Start (or restart with the latest annotations) a fine-tune. False if nothing to train."""
        if not self.engine_ready:
            self.panel.show_stopped("Loading the network… train again in a moment.")
            return False
        request = self.build_request(update_only=update_only)
        if request is None:
            self.panel.show_stopped("Paint the object on at least one frame first.")
            return False
        if self.current_request is not None:
            self.current_request.cancel.cancel()  # the engine starts the new one right after
        self.current_request = request
        self.engine.set_focus(self.document.current_frame)
        self.model_state_changed.emit("training")
        self.train_requested.emit(request)
        return True

    def stop(self) -> None:
        if self.current_request is not None:
            self.current_request.cancel.cancel()

    def _on_auto_timer_timeout(self) -> None:
        if (
            self.engine_ready
            and self.document.project.settings.auto_train
            and self.document.store.fingerprint() != self.trained_fingerprint
        ):
            self.train(update_only=self.document.model_version > 0)

    def _on_document_annotation_changed(self, _object_id: int, _frame_idx: int) -> None:
        if self.document.project.settings.auto_train:
            self._auto_timer.start()

    def _on_panel_quality_changed(self, quality: float) -> None:
        self.document.project.settings.quality = quality
        self.document.save_manifest()

    def _on_panel_auto_train_toggled(self, enabled: bool) -> None:
        self.document.project.settings.auto_train = enabled
        self.document.save_manifest()
        if enabled:
            self._auto_timer.start()

    def _on_engine_model_updated(self, version: int, fingerprint: str, final: bool) -> None:
        """A preview or final model: results so far become stale and stream in again."""
        self.document.start_model_version(version)
        if not final:
            self.model_state_changed.emit("preview (still training)")
            return
        self.trained_fingerprint = fingerprint
        self.document.project.model_fingerprint = fingerprint
        self.document.save_manifest()
        if self.document.folder is not None:
            self.weights_save_requested.emit(str(self.document.folder / "model.pt"))

    def _on_engine_training_finished(self, _version: int, fingerprint: str) -> None:
        if self.current_request is not None and self.current_request.fingerprint == fingerprint:
            self.current_request = None
        self.panel.show_stopped("Trained. Segmenting, visible frame first…")
        self.model_state_changed.emit("trained")

    def _on_engine_training_cancelled(self) -> None:
        # A restart cancels the previous run: only report a stop the artist asked for.
        if self.current_request is not None and self.current_request.cancel.cancelled:
            self.current_request = None
            self.panel.show_stopped("Stopped. The last good model is kept.")
            self.model_state_changed.emit("trained" if self.document.model_version else "untrained")

    def _on_engine_training_failed(self, message: str) -> None:
        self.current_request = None
        self.panel.show_stopped(message)
        self.model_state_changed.emit("trained" if self.document.model_version else "untrained")

    def _on_engine_frame_segmented(self, frame_idx: int, probs, object_ids, version: int) -> None:
        if version != self.document.model_version:
            return  # a result of a model that has since been replaced
        self.document.set_result(frame_idx, FrameResultView(probs, tuple(object_ids), version))

    def _on_engine_segmentation_idle(self) -> None:
        if not self.training:
            self.panel.show_stopped("All frames segmented.")
