"""Matte finishing controls for the active object (applied at export, previewed in Matte view)."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from app.document import ShotDocument
from core.matte import FinishSettings


class FinishPanel(QWidget):
    """Mirrors the active object's FinishSettings; edits go back through the document."""

    def __init__(self, document: ShotDocument, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.threshold = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.95, singleStep=0.05)
        self.grow = QSpinBox(minimum=-50, maximum=50, suffix=" px")
        self.feather = QDoubleSpinBox(
            decimals=1, minimum=0.0, maximum=50.0, singleStep=0.5, suffix=" px"
        )
        self.fill_holes = QSpinBox(minimum=0, maximum=1_000_000, singleStep=50, suffix=" px²")
        self.remove_specks = QSpinBox(minimum=0, maximum=1_000_000, singleStep=50, suffix=" px²")
        self.temporal = QSpinBox(minimum=0, maximum=5, suffix=" frames")
        self.temporal.setToolTip(
            "Averages the soft matte over ± this many frames at export (not previewed)."
        )
        self.edge_matting = QSpinBox(minimum=0, maximum=40, suffix=" px")
        self.edge_matting.setSpecialValueText("off")
        self.edge_matting.setToolTip(
            "Soft edges for hair and motion blur: the edge band this wide is matted from the "
            "frame's colours (16-bit and EXR mattes; slower)."
        )
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        self._fields = {
            "threshold": (self.threshold, "Threshold"),
            "grow_px": (self.grow, "Grow / shrink"),
            "feather_px": (self.feather, "Feather"),
            "fill_holes_px": (self.fill_holes, "Fill holes below"),
            "remove_specks_px": (self.remove_specks, "Remove specks below"),
            "temporal_radius": (self.temporal, "Temporal smoothing"),
            "edge_matting_px": (self.edge_matting, "Edge matting"),
        }
        for widget, label in self._fields.values():
            form.addRow(label, widget)
            widget.valueChanged.connect(self._on_widget_value_changed)
        self._updating = False
        document.active_object_changed.connect(lambda _o: self.refresh())
        document.objects_changed.connect(self.refresh)
        document.clip_loaded.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        info = self.document.object(self.document.active_object_id)
        settings = info.finish if info is not None else FinishSettings()
        self._updating = True
        for name, (widget, _label) in self._fields.items():
            widget.setValue(getattr(settings, name))
        self._updating = False

    def settings(self) -> FinishSettings:
        return FinishSettings(
            **{
                name: type(getattr(FinishSettings(), name))(w.value())
                for name, (w, _l) in self._fields.items()
            }
        )

    def _on_widget_value_changed(self, _value) -> None:
        if not self._updating:
            self.document.set_finish(self.document.active_object_id, self.settings())
