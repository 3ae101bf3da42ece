"""Main window: composes the views around one ShotDocument and wires menus and shortcuts.

The window owns no compute and no editing logic: the canvas paints, the train controller
trains, the document stores, the engine thread computes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.canvas import (
    BOX,
    BRUSH,
    ERASER,
    FILL,
    LASSO,
    OUTLINE,
    REGION,
    VIEW_MATTE,
    VIEW_ORIGINAL,
    VIEW_OVERLAY,
    CanvasView,
)
from app.clip_menu import InputSpaceMenu, ModeMenu, WorkingResolutionMenu
from app.document import ShotDocument
from app.engine import Engine
from app.engine_thread import EngineThread
from app.export_dialog import ExportController
from app.finish_panel import FinishPanel
from app.go_menu import build_go_menu
from app.keyframe_tools import KeyframeTools
from app.objects_panel import ObjectListPanel
from app.project_controller import ProjectController, data_dir
from app.region_tool import RegionMenu
from app.timeline import TimelineWidget
from app.train_controller import TrainController
from app.train_panel import TrainPanel
from core.shot.presets import Preset, Recipe, recipe_for
from core.video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)


def unique_sequences(sequences) -> list[QKeySequence]:
    """The key sequences without repeats (an empty one dropped), in order."""
    seen, unique = set(), []
    for sequence in sequences:
        text = QKeySequence(sequence).toString()
        if text and text not in seen:
            seen.add(text)
            unique.append(QKeySequence(sequence))
    return unique


class MainWindow(QMainWindow):
    def __init__(
        self,
        *,
        device: str = "auto",
        settings: QSettings | None = None,
        recipes: Callable[[Preset], Recipe] = recipe_for,
        max_threads: int = 0,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Rotoshot")
        self.resize(1400, 860)
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("Rotoshot", "Rotoshot")
        self.document = ShotDocument(self)
        self.engine = Engine(device=device, recipes=recipes, max_threads=max_threads)
        self.engine_thread = EngineThread(self.engine)

        self.canvas = CanvasView(self.document)
        self.timeline = TimelineWidget(self.document)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)

        self.objects_panel = ObjectListPanel(self.document)
        self.train_panel = TrainPanel(
            self.document.project.settings.quality, self.document.project.settings.auto_train
        )
        self.train_controller = TrainController(self.document, self.engine, self.train_panel, self)
        self.export_controller = ExportController(self.document, self.engine, self)
        self.project_controller = ProjectController(
            self.document, self.engine, self.train_controller, self.settings, self
        )
        self.keyframe_tools = KeyframeTools(self.document, self)
        box = self.canvas.box
        box.requested.connect(self.engine.box_mask)
        self.engine.box_mask_ready.connect(box.apply)
        box.status_reported.connect(self.statusBar().showMessage)
        self.canvas.region.status_reported.connect(self.statusBar().showMessage)
        for controller in (self.project_controller, self.keyframe_tools):
            controller.failed.connect(self.show_error)
            controller.status_reported.connect(self.statusBar().showMessage)
        self.project_controller.recent_changed.connect(self._refresh_recent_menu)
        self.project_controller.project_loaded.connect(self._on_project_loaded)
        self.finish_panel = FinishPanel(self.document)
        for title, widget in (
            ("Objects", self.objects_panel),
            ("Train", self.train_panel),
            ("Matte finishing", self.finish_panel),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
            self.addDockWidget(Qt.RightDockWidgetArea, dock)

        self.device_label, self.model_label, self.frame_label, self.brush_label = (
            QLabel(),
            QLabel("model: none"),
            QLabel(),
            QLabel(),
        )
        for label in (self.brush_label, self.frame_label, self.model_label, self.device_label):
            self.statusBar().addPermanentWidget(label)
        self.canvas.brush_size_changed.connect(self._on_canvas_brush_size_changed)
        self._on_canvas_brush_size_changed(self.canvas.brush_size)
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._on_play_timer_timeout)

        self._build_actions()
        self.document.frame_changed.connect(self._on_document_frame_changed)
        self.document.clip_loaded.connect(lambda: self._on_document_frame_changed(0))
        self.document.objects_changed.connect(self._update_title)
        self.engine.model_ready.connect(self._on_engine_model_ready)
        self.engine.error.connect(self.show_error)
        self.train_controller.model_state_changed.connect(
            lambda s: self.model_label.setText(f"model: {s}")
        )
        self.canvas.frame_unreadable.connect(lambda m: self.statusBar().showMessage(m, 10_000))
        self.canvas.setFocus()

    # --- actions -----------------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, menu=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(
                shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)]
            )
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action("&Open Clip…", self.open_clip_dialog, QKeySequence.Open, file_menu)
        self._action("Open &Project…", self.open_project_dialog, "Ctrl+Shift+O", file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action("&Save Project", self.save_project, QKeySequence.Save, file_menu)
        self._action("Save Project &As…", self.save_project_dialog, QKeySequence.SaveAs, file_menu)
        self._action("&Export Mattes…", self.export_controller.show_dialog, "Ctrl+E", file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.Quit, file_menu)

        edit_menu = menu.addMenu("&Edit")
        undo = self.document.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(unique_sequences(QKeySequence.keyBindings(QKeySequence.Undo)))
        redo = self.document.undo_stack.createRedoAction(self, "&Redo")
        # Both common redo keys, each once: the platform's Redo binding is one of them on Linux,
        # and a key sequence registered twice is an "ambiguous shortcut" that never fires.
        redo.setShortcuts(
            unique_sequences(
                [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")]
                + QKeySequence.keyBindings(QKeySequence.Redo)
            )
        )
        edit_menu.addActions([undo, redo])
        self.addActions([undo, redo])
        self._action("&Clear Frame", self.canvas.clear_frame, "Delete", edit_menu)
        self._action("&Snap to Contours", self.snap_current_frame, "S", edit_menu)
        edit_menu.addSeparator()
        self.hints_action = self._action(
            "Strokes as &Hints (the network fills in the object)",
            lambda checked: self.canvas.set_paint_hints(checked),
            "H",
            edit_menu,
            checkable=True,
        )
        self.hints_action.setIconText("Hints (H)")
        self.hints_action.setToolTip(
            "On: brush strokes mark object, eraser strokes mark background, and the network "
            "fills in the rest. Off: strokes paint the whole matte."
        )
        self.hints_action.setChecked(self.canvas.paint_hints)
        self.canvas.paint_hints_changed.connect(self.hints_action.setChecked)
        self._action("&Fill as Mask", self.keyframe_tools.fill_current_frame, "M", edit_menu)
        self._action("&Import Matte Sequence…", self.import_mattes_dialog, None, edit_menu)

        tools = QToolBar("Tools")
        tools.setObjectName("Tools")
        self.addToolBar(Qt.TopToolBarArea, tools)
        self.tool_actions = {}
        for tool, text, key in (
            (BRUSH, "Brush", "B"),
            (ERASER, "Eraser", "E"),
            (LASSO, "Lasso", "L"),
            (FILL, "Fill", "G"),
            (OUTLINE, "Outline", "O"),
            (BOX, "Box", "R"),
        ):
            action = self._action(
                f"{text} ({key})",
                lambda _c=False, t=tool: self.canvas.set_tool(t),
                key,
                checkable=True,
            )
            tools.addAction(action)
            self.tool_actions[tool] = action
        self.canvas.tool_changed.connect(self._on_canvas_tool_changed)
        self._on_canvas_tool_changed(self.canvas.tool)
        tools.addSeparator()
        tools.addAction(self.hints_action)
        tools.addSeparator()
        tools.addAction(self._action("Train", self.train_controller.train, "Ctrl+Return"))
        tools.addSeparator()
        self.opacity_slider = QSlider(Qt.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setMaximumWidth(120)
        self.opacity_slider.setValue(int(self.canvas.opacity * 100))
        self.opacity_slider.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        tools.addWidget(QLabel(" Overlay "))
        tools.addWidget(self.opacity_slider)

        view_menu = menu.addMenu("&View")
        self._action("&Fit to Window", self.canvas.fit_to_window, "F", view_menu)
        self._action("&Actual Size (1:1)", self.canvas.actual_size, "Ctrl+1", view_menu)
        self._action("Zoom &In", lambda: self.canvas.zoom(1.25), QKeySequence.ZoomIn, view_menu)
        self._action("Zoom &Out", lambda: self.canvas.zoom(0.8), QKeySequence.ZoomOut, view_menu)
        onion = self._action(
            "&Onion Skin (previous frame's outline)",
            lambda checked: self.canvas.set_onion_skin(checked),
            "U",
            view_menu,
            checkable=True,
        )
        self.onion_action = onion
        view_menu.addSeparator()
        for mode, text, key in (
            (VIEW_OVERLAY, "Overlay", "Ctrl+2"),
            (VIEW_MATTE, "Matte", "Ctrl+3"),
            (VIEW_ORIGINAL, "Original", "Ctrl+4"),
        ):
            self._action(
                text, lambda _c=False, m=mode: self.canvas.set_view_mode(m), key, view_menu
            )

        clip_menu = menu.addMenu("&Clip")
        reopen = self.project_controller.reopen
        self.working_menu = WorkingResolutionMenu(self.document, reopen, self)
        self.space_menu = InputSpaceMenu(self.document, reopen, self)
        self.mode_menu = ModeMenu(self.document, reopen, self)
        clip_menu.addMenu(self.working_menu)
        clip_menu.addMenu(self.space_menu)
        clip_menu.addMenu(self.mode_menu)
        self.region_menu = RegionMenu(
            self.document,
            self.canvas.region,
            (lambda: self.canvas.set_tool(REGION), lambda: self.canvas.set_tool(BRUSH)),
            reopen,
            self,
        )
        clip_menu.addMenu(self.region_menu)
        build_go_menu(self, menu.addMenu("&Go"))
        for n in range(1, 10):
            self._action(f"Object {n}", lambda _c=False, i=n: self._select_object_number(i), str(n))
        help_menu = menu.addMenu("&Help")
        self._action("&Keyboard Shortcuts", self.show_shortcuts, "F1", help_menu)
        self._refresh_recent_menu()

    def shortcut_table(self) -> list[tuple[str, str]]:
        """(action, keys) for every action with a shortcut, in menu order, for the Help list."""
        rows = []
        for action in self.actions():
            keys = ", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts())
            if keys:
                rows.append((action.text().replace("&", ""), keys))
        return rows

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard Shortcuts: every shortcut of the window, listed."""
        from app.shortcuts_dialog import ShortcutsDialog

        ShortcutsDialog(self.shortcut_table(), self).show()

    def _on_canvas_brush_size_changed(self, size: int) -> None:
        self.brush_label.setText(f"brush {size} px")

    def jump_to_keyframe(self, direction: int) -> None:
        """The next (direction 1) or previous (-1) frame with a keyframe of any object."""
        doc = self.document
        frames = doc.store.frames()
        if direction > 0:
            target = next((f for f in frames if f > doc.current_frame), None)
        else:
            target = next((f for f in reversed(frames) if f < doc.current_frame), None)
        if target is None:
            self.statusBar().showMessage("No keyframe that way.", 2000)
            return
        doc.set_frame(target)

    def _on_canvas_tool_changed(self, tool: str) -> None:
        for name, action in self.tool_actions.items():
            action.setChecked(name == tool)

    def _select_object_number(self, n: int) -> None:
        objects = self.document.project.objects
        if n <= len(objects):
            self.document.set_active_object(objects[n - 1].object_id)

    def snap_current_frame(self) -> None:
        self.keyframe_tools.snap_current_frame()

    def import_mattes_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of mattes named after the frames")
        if folder:
            self.import_mattes(Path(folder))

    def import_mattes(self, folder: Path) -> int:
        return self.keyframe_tools.import_mattes(folder)

    def step(self, delta: int) -> None:
        self.document.set_frame(self.document.current_frame + delta)

    def toggle_playback(self) -> None:
        if self.play_timer.isActive():
            self.play_timer.stop()
        elif self.document.num_frames:
            fps = self.document.source.fps or 24.0
            self.play_timer.start(int(1000 / min(60.0, max(1.0, fps))))

    def _on_play_timer_timeout(self) -> None:
        """The next frame, looping within the in/out range."""
        first, last = self.document.work_range()
        nxt = self.document.current_frame + 1
        self.document.set_frame(first if nxt > last or nxt < first else nxt)

    def _on_document_frame_changed(self, frame_idx: int) -> None:
        n = self.document.num_frames
        if not n:
            self.frame_label.setText("")
            return
        source = self.document.source
        number = source.numbers[frame_idx]
        self.frame_label.setText(
            f"frame {number}  ({frame_idx + 1} of {n})  {source.stems[frame_idx]}"
        )

    def _on_engine_model_ready(self, source: str, warning: str) -> None:
        self.device_label.setText(f"device: {self.engine.device_name.upper()}")
        self.model_label.setText(f"model: {source} (untrained)")
        if warning:
            self.statusBar().showMessage(warning, 10_000)

    def _update_title(self) -> None:
        name = Path(self.document.project.source_path).name if self.document.source else ""
        self.setWindowTitle(f"Rotoshot — {name}  [{self.document.folder}]" if name else "Rotoshot")

    # --- opening and saving ------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        log.warning(message)
        QMessageBox.warning(self, "Rotoshot", message)

    def open_path(self, path: str) -> bool:
        """Open a project folder, or a clip (restoring its autosaved session if there is one)."""
        return self.project_controller.open_path(path)

    def open_project(self, folder: Path) -> bool:
        return self.project_controller.open_project(folder)

    def _on_project_loaded(self) -> None:
        """Views that are not built on the document take the project's settings."""
        settings = self.document.project.settings
        self.train_panel.slider.setValue(int(round(settings.quality * 100)))
        self.train_panel.auto_train.setChecked(settings.auto_train)
        self.opacity_slider.setValue(int(round(settings.overlay_opacity * 100)))
        self._update_title()

    def open_clip_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in VIDEO_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open clip",
            "",
            f"Video ({exts});;Image (*.png *.jpg *.jpeg *.tif *.tiff *.exr);;All files (*)",
        )
        if not path:
            return
        if Path(path).suffix.lower() not in VIDEO_EXTENSIONS:
            path = str(Path(path).parent)  # an image picks its whole sequence folder
        self.open_path(path)

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(Path(folder))

    def save_project(self) -> None:
        """Ctrl+S: every change is already on disk in a project folder; an autosaved session
        (no folder chosen yet) asks where to keep it."""
        if self.document.source is None:
            return
        if self.project_controller.is_autosave(self.document.folder):
            self.save_project_dialog()
            return
        self.project_controller.save_to(self.document.folder)

    def save_project_dialog(self) -> None:
        if self.document.source is None:
            return
        # Starts beside the clip; Qt's folder dialog has a "Create Folder" button.
        start = str(Path(self.document.project.source_path).parent)
        folder = QFileDialog.getExistingDirectory(self, "Save project into folder", start)
        if folder:
            self.save_project_to(Path(folder))

    def save_project_to(self, folder: Path) -> None:
        if self.project_controller.save_to(folder):
            self._update_title()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.project_controller.recent_projects():
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _c=False, f=folder: self.open_project(Path(f)))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    # --- drag and drop, closing --------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())

    def closeEvent(self, event) -> None:  # noqa: N802
        self.play_timer.stop()
        self.train_controller.stop()
        self.export_controller.cancel()
        self.document.save_manifest()
        self.engine_thread.stop()
        self.document.result_writer.close()
        self.document.edge_mattes.close()
        super().closeEvent(event)


def run_app(args) -> int:
    """Start the GUI (from main.py, after argument parsing)."""
    import pyqtgraph as pg

    from core.demo import ensure_demo_clip

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Rotoshot")
    app.setApplicationName("Rotoshot")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    import torch

    # With --threads the artist fixed the count; otherwise the engine may use fewer while other
    # programs keep the cores busy (core.cpu_load).
    window = MainWindow(
        device=args.device, max_threads=0 if args.threads else torch.get_num_threads()
    )
    window.show()
    path = args.path
    if args.demo or not path:
        path = str(ensure_demo_clip(data_dir() / "demo"))
    window.open_path(path)
    return app.exec()
