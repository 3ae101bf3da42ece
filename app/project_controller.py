"""Opening, saving and restoring a shot: the project folder, its autosave, its saved model.

The controller owns the document's lifecycle: it opens a clip (bringing back its autosaved
keyframes) or a project, asks the engine to load the clip, and once the engine has the network
back, asks it to restore the project's saved model if that model still matches the keyframes.
The model version itself is the engine session's (core.shot.session); the document adopts the
version the engine reports. Messages go out as signals; the window shows them.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from app.document import ShotDocument
from app.engine import Engine
from app.train_controller import TrainController
from core.annotations import AnnotationStore
from core.errors import RotoshotError
from core.project import MANIFEST, Project, load_project
from core.project_paths import inside
from core.shot.samples import annotation_overrides
from core.video import open_frames

log = logging.getLogger(__name__)
MAX_RECENT = 8
MODEL_FILE = "model.pt"


def data_dir() -> Path:
    """Per-user folder for autosaved sessions and the demo clip."""
    base = QStandardPaths.writableLocation(QStandardPaths.AppLocalDataLocation) or str(
        Path.home() / ".rotoshot"
    )
    return Path(base)


def autosave_folder(source_path: str) -> Path:
    """Where an unsaved session of this clip lives (reopening the clip restores it)."""
    resolved = str(Path(source_path).resolve())
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:10]
    return data_dir() / "autosave" / f"{Path(source_path).stem or 'clip'}-{digest}"


class ProjectController(QObject):
    """Open / save / restore for one document and its engine."""

    # path, working long side, input colour space, segmentation mode
    clip_open_requested = Signal(str, int, str, str, object)
    model_restore_requested = Signal(str, object, object, str)  # path, ids, annotations, fp
    failed = Signal(str)  # a message for the artist
    status_reported = Signal(str, int)  # a status-bar message, milliseconds
    recent_changed = Signal()
    project_loaded = Signal()  # a clip or project is shown (after document.clip_loaded)

    def __init__(
        self,
        document: ShotDocument,
        engine: Engine,
        train_controller: TrainController,
        settings: QSettings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.train_controller = train_controller
        self.settings = settings
        self._pending_model: Path | None = None  # saved model to restore once the engine is ready
        self.clip_open_requested.connect(engine.open_clip)
        self.model_restore_requested.connect(engine.restore_model)
        engine.model_ready.connect(self._on_engine_model_ready)

    # --- opening ---------------------------------------------------------------------------
    def open_path(self, path: str) -> bool:
        """Open a project folder, or a clip (restoring its autosaved session if there is one)."""
        if Path(path, MANIFEST).exists():
            return self.open_project(Path(path))
        try:
            source = open_frames(path)
        except RotoshotError as exc:
            self.failed.emit(str(exc))
            return False
        folder = autosave_folder(path)
        project, store = Project(str(Path(path).resolve())), AnnotationStore(source.size)
        if (folder / MANIFEST).exists():
            try:
                project, store = load_project(folder, size=source.size, num_frames=len(source))
                if project.settings.input_space:
                    source = self._open_source(path, project)
                self.status_reported.emit("Restored your autosaved keyframes for this clip.", 8000)
            except RotoshotError as exc:
                self.failed.emit(f"{exc}. Starting a fresh session; the old one stays in {folder}.")
                folder = folder.with_name(folder.name + "-new")
        return self._load(source, project, store, folder)

    def open_project(self, folder: Path) -> bool:
        try:
            project, _ = load_project(folder)
            source = self._open_source(project.source_path, project)
            project, store = load_project(folder, size=source.size, num_frames=len(source))
        except RotoshotError as exc:
            self.failed.emit(f"Cannot open project {folder.name}: {exc}")
            return False
        ok = self._load(source, project, store, folder)
        if ok:
            self._add_recent(str(folder))
        return ok

    def _open_source(self, path: str, project: Project):
        """The clip in the project's input colour space; a space this machine does not know
        falls back to the guess, and says so."""
        space = project.settings.input_space
        try:
            return open_frames(path, input_space=space or None)
        except RotoshotError as exc:
            if not space:
                raise
            self.failed.emit(f"{exc}. The plate's colour space is guessed from the file instead.")
            project.settings.input_space = ""
            return open_frames(path)

    def reopen(self) -> bool:
        """Open the current clip or project again from disk (its keyframes and settings are
        saved as they change): after a setting that needs a new engine session."""
        folder = self.document.folder
        if folder is None or self.document.project is None:
            return False
        if self.is_autosave(folder):
            return self.open_path(self.document.project.source_path)
        return self.open_project(folder)

    def _load(self, source, project: Project, store: AnnotationStore, folder: Path) -> bool:
        self.train_controller.stop()
        self.train_controller.set_engine_ready(False)  # until the engine has the network back
        try:
            self.document.load(source, project, store, folder)
        except RotoshotError as exc:
            self.failed.emit(str(exc))
            return False
        if store.skipped:
            self.failed.emit(
                f"{len(store.skipped)} keyframe file(s) could not be read and were skipped "
                f"({', '.join(store.skipped[:3])}{'…' if len(store.skipped) > 3 else ''}); "
                f"everything else is open. The files stay in {folder / 'annotations'}."
            )
        try:
            model = inside(folder, MODEL_FILE)
        except RotoshotError as exc:  # a planted link is never read: the model trains again
            self.failed.emit(str(exc))
            model = None
        matches = project.model_fingerprint == self.train_controller.training_fingerprint()
        self._pending_model = model if model is not None and model.exists() and matches else None
        settings = project.settings
        self.clip_open_requested.emit(
            project.source_path,
            settings.working_long_side,
            settings.input_space,
            settings.mode,
            settings.region,
        )
        self.project_loaded.emit()
        return True

    def _on_engine_model_ready(self, _source: str, _warning: str) -> None:
        """The engine has the parent network: restore the saved model, then allow training."""
        path, self._pending_model = self._pending_model, None
        if path is not None:
            store = self.document.store
            ids = tuple(store.object_ids())
            frames = self.train_controller.keyframes_in_range()
            annotations = annotation_overrides(store, ids, frames)
            fingerprint = self.train_controller.training_fingerprint()
            self.model_restore_requested.emit(str(path), ids, annotations, fingerprint)
        self.train_controller.set_engine_ready(True)  # after the restore request is queued

    # --- saving ----------------------------------------------------------------------------
    @staticmethod
    def is_autosave(folder: Path | None) -> bool:
        """True for the per-user autosave folder of a clip the artist never saved."""
        return folder is None or (data_dir() / "autosave") in Path(folder).parents

    def save_to(self, folder: Path) -> bool:
        """Write the whole project (and the current model) into `folder` and keep saving there."""
        try:
            self.document.save_as(folder)
        except RotoshotError as exc:
            self.failed.emit(str(exc))
            return False
        self.train_controller.weights_save_requested.emit(str(folder / MODEL_FILE))
        self._add_recent(str(folder))
        self.status_reported.emit(
            f"Saved project to {folder}; changes are saved as you work.", 6000
        )
        return True

    # --- recent projects -------------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        return self.settings.value("recent_projects", [], type=list)

    def _add_recent(self, folder: str) -> None:
        recent = [f for f in self.recent_projects() if f != folder]
        self.settings.setValue("recent_projects", [folder] + recent[: MAX_RECENT - 1])
        self.recent_changed.emit()
