"""The Box tool (issue #12): drag a rectangle around the object; the mask-guided network turns
it into a first mask (core.box_prompt), which becomes the active object's keyframe on that
frame as one undo step, to accept, edit with the brush or correct like any other.

The canvas forwards the Box tool's mouse events here; the mask is made on the engine thread
(`Engine.box_mask`) and arrives through `apply`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene

from app.document import ShotDocument
from core.box_prompt import check_box
from core.errors import RotoshotError


class BoxTool(QObject):
    """Rubber-band rectangle on the canvas; emits `requested` with the box when released."""

    requested = Signal(int, int, object)  # frame index, object id, (x0, y0, x1, y1)
    status_reported = Signal(str, int)  # a status-bar message, milliseconds

    def __init__(self, document: ShotDocument, scene: QGraphicsScene, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.item = QGraphicsRectItem()
        pen = QPen(QColor(255, 200, 0), 0, Qt.DashLine)  # cosmetic: 1 px at any zoom
        self.item.setPen(pen)
        self.item.setZValue(30)
        self.item.setVisible(False)
        scene.addItem(self.item)
        self._start: QPointF | None = None
        self._pending: tuple[int, int] | None = None  # (frame, object) of the box on its way

    def press(self, point: QPointF) -> None:
        self._start = point
        self.item.setRect(QRectF(point, point))
        self.item.setVisible(True)

    def move(self, point: QPointF) -> None:
        if self._start is not None:
            self.item.setRect(QRectF(self._start, point).normalized())

    def release(self, point: QPointF) -> None:
        """Ask for the box's mask (a box core.box_prompt.check_box refuses, e.g. one under
        MIN_BOX_PX on a side, is a slip of the mouse: ignored)."""
        start, self._start = self._start, None
        doc = self.document
        if start is None or doc.source is None:
            self.item.setVisible(False)
            return
        rect = QRectF(start, point).normalized()
        try:
            box = check_box((rect.left(), rect.top(), rect.right(), rect.bottom()), doc.source.size)
        except RotoshotError:
            self.item.setVisible(False)
            return
        x0, y0, x1, y1 = box
        self.item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._pending = (doc.current_frame, doc.active_object_id)
        self.status_reported.emit("Finding the object in the box…", 0)
        self.requested.emit(doc.current_frame, doc.active_object_id, box)

    def apply(self, frame_idx: int, object_id: int, mask: np.ndarray, how: str) -> None:
        """The engine's mask for a box: the object's keyframe on that frame (one undo step)."""
        self.item.setVisible(False)
        doc = self.document
        if self._pending != (frame_idx, object_id) or doc.source is None:
            return  # the clip changed meanwhile, or a newer box is on its way
        self._pending = None
        if mask.shape != (doc.source.height, doc.source.width):
            return
        if not mask.any():
            self.status_reported.emit("Nothing found in the box: draw it around the object.", 5000)
            return
        doc.commit_mask(object_id, frame_idx, mask, "Box")
        by = "the network" if how == "network" else "GrabCut (the network found nothing)"
        self.status_reported.emit(
            f"The box is now a keyframe (mask by {by}): edit it with the brush if needed.", 6000
        )
