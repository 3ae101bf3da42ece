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
    "png16": "PNG 16-bit (soft edge)",
    "tiff16": "TIFF 16-bit (soft edge)",
    "exr": "OpenEXR half, alpha channel A (soft edge)",
}


PREVIEW_NAMES = {
    "": "None",
    "overlay:h264": "Overlay, H.264 MP4",
    "matte:h264": "Matte, H.264 MP4",
    "overlay:prores4444": "Shot with the matte as alpha, ProRes 4444 MOV",
}


def nearest_index(numbers: list[int], number: int) -> int:
    """Index of the frame whose number is closest to `number` (numbers increase)."""
    return min(range(len(numbers)), key=lambda i: (abs(numbers[i] - number), i))


class ExportDialog(QDialog):
    """Asks for the output folder, the inclusive frame range in the source's own frame numbers
    (the numbers in the file names, e.g. 1001), and the options; starts from `remembered`
    (core.project.ProjectSettings' export fields)."""

    def __init__(
        self,
        folder: str,
        first: int,
        last: int,
        numbers: list[int],
        remembered: dict | None = None,
        parent=None,
    ) -> None:
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
        self.numbers = numbers
        self.first_spin, self.last_spin = QSpinBox(), QSpinBox()
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(numbers[0], numbers[-1])
        self.first_spin.setValue(numbers[first])
        self.last_spin.setValue(numbers[last])
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
        remembered = remembered or {}
        self.format_combo.setCurrentIndex(
            max(0, self.format_combo.findData(remembered.get("fmt", "png8")))
        )
        self.cutouts.setChecked(bool(remembered.get("cutouts", False)))
        self.premultiplied.setChecked(bool(remembered.get("premultiplied", True)))
        self.preview_combo.setCurrentIndex(
            max(0, self.preview_combo.findData(remembered.get("preview", "")))
        )
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
        """(folder, first, last) with first/last as 0-based frame indices."""
        first = nearest_index(self.numbers, self.first_spin.value())
        last = nearest_index(self.numbers, self.last_spin.value())
        return self.folder_edit.text().strip(), min(first, last), max(first, last)

    def options(self) -> dict:
        """ExportJob's options (fmt, cutouts, premultiplied, preview, preview_codec)."""
        key = self.preview_combo.currentData() or ""
        preview, _, codec = key.partition(":")
        preview, codec = (preview or None), (codec or "h264")
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
        range_first, range_last = doc.work_range()
        last = settings.export_last if 0 <= settings.export_last < doc.num_frames else range_last
        if (range_first, range_last) != (0, doc.num_frames - 1):
            settings.export_first, last = range_first, range_last  # the in/out range wins
        folder = settings.export_dir or str(Path(doc.folder) / "export")
        remembered = {
            "fmt": settings.export_format,
            "cutouts": settings.export_cutouts,
            "premultiplied": settings.export_premultiplied,
            "preview": settings.export_preview,
        }
        dialog = ExportDialog(
            folder,
            min(max(0, settings.export_first), last),
            last,
            doc.source.numbers,
            remembered,
            window,
        )
        if dialog.exec() != QDialog.Accepted:
            return
        folder, first, last = dialog.values()
        if not folder:
            return
        options = dialog.options()
        settings.export_dir, settings.export_first, settings.export_last = folder, first, last
        settings.export_format = options["fmt"]
        settings.export_cutouts = options["cutouts"]
        settings.export_premultiplied = options["premultiplied"]
        preview = options["preview"]
        settings.export_preview = f"{preview}:{options['preview_codec']}" if preview else ""
        doc.save_manifest()
        self.start(folder, first, last, **options)

    def start(self, folder: str, first: int, last: int, **options) -> ExportJob:
        """Queue an export of every object with its finishing settings (options: ExportJob's)."""
        doc = self.document
        objects = export_objects_of(doc.project.objects)
        doc.result_writer.flush()  # the cached results the job names are on disk
        self.request = ExportJob(
            folder,
            first,
            last,
            objects,
            **options,
            project_folder=str(doc.folder),
            cached_frames=tuple(doc.cached_frames()),
            model_version=doc.model_version,
        )
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
