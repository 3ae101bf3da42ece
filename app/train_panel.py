"""Training controls: speed/quality slider, Train/Stop, auto-train, live loss plot and ETA."""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.jobs import TrainProgress
from core.shot.presets import CostEstimate, Preset, preset_for, recipe_for

# While a run streams one progress event per step, the loss curves, progress bar and status line
# redraw at most this often (and at once when a stage starts or ends): redrawing on every step
# took about half the engine thread's training speed on a 2-core machine (docs/BENCHMARKS.md,
# "The train panel's redraws").
REDRAW_INTERVAL_S = 0.1


class TrainPanel(QWidget):
    """A view: shows training state it is told about, emits what the artist asks for."""

    train_clicked = Signal()
    stop_clicked = Signal()
    quality_changed = Signal(float)
    auto_train_toggled = Signal(bool)
    online_toggled = Signal(bool)

    def __init__(self, quality: float = 0.0, auto_train: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(int(round(quality * 100)))
        self.slider.setToolTip(
            "\n".join(f"{p.value}: {recipe_for(p).description}" for p in Preset)
            + "\nThe line below says what the setting costs on this clip."
        )
        self.preset_label = QLabel()
        self.preset_label.setMinimumWidth(60)
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.auto_train = QCheckBox("Train automatically when I paint")
        self.auto_train.setChecked(auto_train)
        self.online = QCheckBox("Keep learning from the shot after each pass")
        self.online.setToolTip(
            "After every frame is segmented, the model also learns from the confident parts of\n"
            "its own results on frames near your keyframes (two short rounds), then segments\n"
            "again. Painting stops it at once, and your paint always wins. Costs extra time;\n"
            "helps most where the object turns or changes size. Off by default."
        )
        self._activity = ""  # what show_progress names the run ("" = training)
        self._round = 0  # the round (core.jobs.TrainProgress.round) the curves show
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Paint the object on a frame, then train.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setLabel("left", "loss")
        self.plot.setLabel("bottom", "step")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        # Top centre: the main curve starts high at the left and the edge stage runs at the
        # right, so a corner legend covered one of them.
        self.legend.anchor(itemPos=(0.5, 0), parentPos=(0.5, 0), offset=(0, 8))
        self.curve = self.plot.plot(pen=pg.mkPen((90, 200, 255), width=2), name="object")
        self.edges_curve = self.plot.plot(pen=pg.mkPen((255, 170, 60), width=2), name="edges")
        # The preview is a quick model beside the run, from the parent like the full fine-tune
        # that follows it: its own dim curve, so the full one's start does not read as a jump.
        self.preview_curve = self.plot.plot(
            pen=pg.mkPen((150, 150, 150), width=1, style=Qt.DashLine), name="preview"
        )
        # Best trains a second model from the parent: its own curve (it starts at the parent's
        # loss, which joined to the first model's curve would read as a jump in one training),
        # named in the legend only in runs that train one.
        self.second_curve = self.plot.plot(pen=pg.mkPen((200, 130, 255), width=2))
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._edge_steps: list[int] = []
        self._edge_losses: list[float] = []
        self._second_steps: list[int] = []
        self._second_losses: list[float] = []
        self._preview_steps: list[int] = []
        self._preview_losses: list[float] = []
        self._pending: TrainProgress | None = None  # the latest progress, not yet drawn
        self._drawn_stage: tuple | None = None  # (model, stage) of the last drawn progress
        self._drawn_at = -math.inf
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(round(REDRAW_INTERVAL_S * 1000))
        self._redraw.timeout.connect(self._draw)

        speed_row = QHBoxLayout()
        speed_row.addWidget(QLabel("Speed"))
        speed_row.addWidget(self.slider, 1)
        speed_row.addWidget(QLabel("Quality"))
        speed_row.addWidget(self.preset_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(speed_row)
        layout.addWidget(self.estimate_label)
        layout.addLayout(buttons)
        layout.addWidget(self.auto_train)
        layout.addWidget(self.online)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)

        self.train_button.clicked.connect(self.train_clicked)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.slider.valueChanged.connect(lambda v: self.quality_changed.emit(v / 100.0))
        self.slider.valueChanged.connect(self._show_preset)
        self._show_preset(self.slider.value())
        self.auto_train.toggled.connect(self.auto_train_toggled)
        self.online.toggled.connect(self.online_toggled)

    def set_online(self, enabled: bool) -> None:
        """Show the project's online-learning setting without emitting `online_toggled`."""
        self.online.blockSignals(True)
        self.online.setChecked(enabled)
        self.online.blockSignals(False)

    def set_activity(self, activity: str) -> None:
        """What the coming run's progress is called ("" = the usual training stages)."""
        self._activity = activity

    def _show_preset(self, value: int) -> None:
        """Name the preset the slider position selects (core.shot.presets)."""
        preset = preset_for(value / 100.0)
        self.preset_label.setText(preset.value)
        self.preset_label.setToolTip(recipe_for(preset).description)

    def show_estimate(self, estimate: CostEstimate | None, num_frames: int = 0) -> None:
        """The slider preset's estimated cost on this clip, before training (None: unknown)."""
        if estimate is None:
            self.estimate_label.setText("")
            return
        self.estimate_label.setText(
            f"{preset_for(self.slider.value() / 100.0).value} on this clip: "
            f"{estimate.describe(num_frames)}"
        )

    @property
    def quality(self) -> float:
        return self.slider.value() / 100.0

    def show_started(self) -> None:
        self._clear_curves()
        self._round = 0
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"{self._activity}: preparing…" if self._activity else "Preparing…")

    def _clear_curves(self) -> None:
        self._steps, self._losses = [], []
        self._edge_steps, self._edge_losses = [], []
        self._second_steps, self._second_losses = [], []
        self._preview_steps, self._preview_losses = [], []
        for curve in (self.curve, self.edges_curve, self.second_curve, self.preview_curve):
            curve.setData([], [])
        self.legend.removeItem(self.second_curve)
        self._pending, self._drawn_stage, self._drawn_at = None, None, -math.inf
        self._redraw.stop()

    def show_progress(self, progress: TrainProgress) -> None:
        """Add a step to the curves and show where the run is (redrawn at most every
        REDRAW_INTERVAL_S, at once when a stage starts or the run's last step arrives)."""
        if progress.phase == "preparing":
            self._draw()  # a stage's last steps first, so a late redraw cannot cover this line
            what = (
                f"{self._activity}: encoding frames"
                if self._activity
                else "Encoding annotated frames"
            )
            self.status.setText(f"{what}… {progress.elapsed_s:.1f} s")
            return
        if progress.round != self._round:  # each round counts its own steps: its own curves
            self._clear_curves()
            self._round = progress.round
        if progress.model > 0:
            if self.legend.getLabel(self.second_curve) is None:
                self.legend.addItem(self.second_curve, "2nd model")
            self._second_steps.append(progress.step)
            self._second_losses.append(progress.loss)
        elif progress.stage == "preview":
            self._preview_steps.append(progress.step)
            self._preview_losses.append(progress.loss)
        elif progress.stage == "edges":
            self._edge_steps.append(progress.step)
            self._edge_losses.append(progress.loss)
        else:
            self._steps.append(progress.step)
            self._losses.append(progress.loss)
        self._pending = progress
        stage = (progress.model, progress.stage)
        now = time.perf_counter()
        if (
            stage != self._drawn_stage
            or progress.step >= progress.total_steps
            or now - self._drawn_at >= REDRAW_INTERVAL_S
        ):
            self._draw()
        elif not self._redraw.isActive():
            self._redraw.start()

    def _draw(self) -> None:
        """Draw the curves, progress bar and status line up to the latest progress."""
        self._redraw.stop()
        progress, self._pending = self._pending, None
        if progress is None:
            return
        self._drawn_stage = (progress.model, progress.stage)
        self._drawn_at = time.perf_counter()
        for curve, steps, losses in (
            (self.curve, self._steps, self._losses),
            (self.edges_curve, self._edge_steps, self._edge_losses),
            (self.second_curve, self._second_steps, self._second_losses),
            (self.preview_curve, self._preview_steps, self._preview_losses),
        ):
            if steps:
                curve.setData(steps, losses)
        self.progress.setMaximum(progress.total_steps)
        self.progress.setValue(progress.step)
        eta = "" if math.isnan(progress.eta_s) else f", about {progress.eta_s:.0f} s left"
        what = {"edges": "Refining edges", "preview": "Quick preview"}.get(
            progress.stage, "Training"
        )
        if self._activity:
            activity = f"{self._activity}, round {self._round + 1}"
            what = activity if what == "Training" else f"{activity}: {what.lower()}"
        if progress.model_count > 1:
            what = f"Model {progress.model + 1} of {progress.model_count}: {what.lower()}"
        self.status.setText(
            f"{what}: step {progress.step}/{progress.total_steps}, loss {progress.loss:.3f}{eta}"
        )

    def show_stopped(self, message: str) -> None:
        self._draw()  # the curves up to the last step, then the message
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(message)
