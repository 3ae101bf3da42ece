"""Export mattes: a dialog (folder, frame range) and a cancellable progress dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.document import ShotDocument
from app.engine import Engine
from core.export_job import ExportJob, export_objects_of
from core.jobs import CancelToken

FORMAT_NAMES = {
    "png8": "PNG 8-bit (0/255)",
    "png16": "PNG 16-bit",
    "tiff16": "TIFF 16-bit",
    "exr": "OpenEXR half (channel named after the object)",
}


PREVIEW_NAMES = {
    None: "None",
    ("overlay", "h264"): "Overlay, H.264 MP4",
    ("matte", "h264"): "Matte, H.264 MP4",
    ("overlay", "prores4444"): "Shot with matte as alpha, ProRes 4444 MOV",
}


class ExportDialog(QDialog):
    """Asks for the output folder and the inclusive frame range (1-based in the UI)."""

    def __init__(self, folder: str, first: int, last: int, num_frames: int, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export mattes")
        self.folder_edit = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        self.first_spin, self.last_spin = QSpinBox(), QSpinBox()
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(1, num_frames)
        self.first_spin.setValue(first + 1)
        self.last_spin.setValue(last + 1)
        form = QFormLayout(self)
        form.addRow("Folder", holder)
        form.addRow("First frame", self.first_spin)
        form.addRow("Last frame", self.last_spin)
        self.format_combo = QComboBox()
        for key, text in FORMAT_NAMES.items():
            self.format_combo.addItem(text, key)
        self.cutouts = QCheckBox("Also write RGBA cutouts (PNG)")
        self.premultiplied = QCheckBox("Premultiplied alpha")
        self.premultiplied.setChecked(True)
        form.addRow("Matte format", self.format_combo)
        form.addRow(self.cutouts)
        form.addRow(self.premultiplied)
        self.preview_combo = QComboBox()
        for key, text in PREVIEW_NAMES.items():
            self.preview_combo.addItem(text, key)
        form.addRow("Preview movie", self.preview_combo)
        form.addRow(QLabel("One folder per object; files named after the source frames."))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Export into folder", self.folder_edit.text()
        )
        if folder:
            self.folder_edit.setText(folder)

    def values(self) -> tuple[str, int, int]:
        first, last = self.first_spin.value() - 1, self.last_spin.value() - 1
        return self.folder_edit.text().strip(), min(first, last), max(first, last)

    def options(self) -> dict:
        preview, codec = self.preview_combo.currentData() or (None, "h264")
        return {
            "fmt": self.format_combo.currentData(),
            "cutouts": self.cutouts.isChecked(),
            "premultiplied": self.premultiplied.isChecked(),
            "preview": preview,
            "preview_codec": codec,
        }


class ExportController(QObject):
    """Runs an export on the engine thread with a progress dialog; remembers folder and range."""

    export_requested = Signal(object, object)  # ExportJob, CancelToken

    def __init__(self, document: ShotDocument, engine: Engine, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.engine = engine
        self.request: ExportJob | None = None
        self.progress: QProgressDialog | None = None
        self.export_requested.connect(engine.export)
        engine.export_progress.connect(self._on_engine_export_progress)
        engine.export_finished.connect(self._on_engine_export_finished)
        engine.export_failed.connect(self._on_engine_export_failed)

    def show_dialog(self) -> None:
        doc = self.document
        if doc.source is None:
            return
        window = self.parent()
        settings = doc.project.settings
        last = (
            settings.export_last
            if 0 <= settings.export_last < doc.num_frames
            else doc.num_frames - 1
        )
        folder = settings.export_dir or str(Path(doc.folder) / "export")
        dialog = ExportDialog(
            folder, min(settings.export_first, last), last, doc.num_frames, window
        )
        if dialog.exec() != QDialog.Accepted:
            return
        folder, first, last = dialog.values()
        if not folder:
            return
        settings.export_dir, settings.export_first, settings.export_last = folder, first, last
        doc.save_manifest()
        self.start(folder, first, last, **dialog.options())

    def start(self, folder: str, first: int, last: int, **options) -> ExportJob:
        """Queue an export of every object with its finishing settings (options: ExportJob's)."""
        objects = export_objects_of(self.document.project.objects)
        self.request = ExportJob(folder, first, last, objects, **options)
        self._cancel = CancelToken()
        self.progress = QProgressDialog(
            "Exporting mattes…", "Cancel", 0, last - first + 1, self.parent()
        )
        self.progress.setWindowTitle("Export")
        self.progress.setMinimumDuration(300)
        self.progress.canceled.connect(self.cancel)
        self.export_requested.emit(self.request, self._cancel)
        return self.request

    def cancel(self) -> None:
        if self.request is not None:
            self._cancel.cancel()

    def _on_engine_export_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.setValue(done)

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.reset()
            self.progress = None
        self.request = None

    def _on_engine_export_finished(self, folder: str) -> None:
        self._close_progress()
        window = self.parent()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(f"Exported mattes to {folder}", 8000)

    def _on_engine_export_failed(self, message: str) -> None:
        cancelled = self.request is not None and self._cancel.cancelled
        self._close_progress()
        if not cancelled:
            QMessageBox.warning(self.parent(), "Export", message)
