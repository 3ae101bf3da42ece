"""Outline editing: the active object's mask as polygons with draggable control points.

The mask is vectorised with OpenCV contours + Douglas-Peucker (core.contours); each corner is a
handle the artist drags; on release the polygons are rasterised back and committed as one undo
step. Handles keep their on-screen size at any zoom.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
)

from app.document import ShotDocument
from core.contours import mask_to_polygons, polygons_to_mask

HANDLE_PX = 7


class _Handle(QGraphicsEllipseItem):
    """A draggable corner; tells its editor when it moves."""

    def __init__(
        self, editor: OutlineEditor, polygon_idx: int, vertex_idx: int, pos: QPointF
    ) -> None:
        r = HANDLE_PX / 2
        super().__init__(QRectF(-r, -r, 2 * r, 2 * r))
        self.editor, self.polygon_idx, self.vertex_idx = editor, polygon_idx, vertex_idx
        self.setPos(pos)
        self.setBrush(QBrush(QColor(255, 255, 255)))
        self.setPen(QPen(QColor(20, 20, 20), 1))
        self.setZValue(5)
        self.setFlags(
            QGraphicsItem.ItemIsMovable
            | QGraphicsItem.ItemIgnoresTransformations
            | QGraphicsItem.ItemSendsGeometryChanges
        )
        self.setCursor(Qt.SizeAllCursor)

    def itemChange(self, change, value):  # noqa: N802 - Qt override
        if change == QGraphicsItem.ItemPositionHasChanged:
            self.editor.handle_moved(self)
        return super().itemChange(change, value)


class OutlineEditor:
    """Shows and edits the outline of (active object, current frame) in a scene."""

    def __init__(self, scene: QGraphicsScene, document: ShotDocument) -> None:
        self.scene = scene
        self.document = document
        self.polygons: list[np.ndarray] = []
        self._handles: list[_Handle] = []
        self._paths: list[QGraphicsPolygonItem] = []
        self.moved = False
        self.active = False

    def show(self) -> None:
        """(Re)build polygons and handles from the current display mask."""
        self.clear()
        self.active = True
        doc = self.document
        mask = doc.display_mask(doc.active_object_id, doc.current_frame)
        if mask is None or not mask.any():
            return
        self.polygons = [p.astype(np.float64) for p in mask_to_polygons(mask, tolerance_px=1.5)]
        info = doc.object(doc.active_object_id)
        colour = QColor(*info.colour) if info else QColor(255, 255, 0)
        for pi, polygon in enumerate(self.polygons):
            path = QGraphicsPolygonItem(QPolygonF([QPointF(x + 0.5, y + 0.5) for x, y in polygon]))
            path.setPen(QPen(colour, 0))
            path.setZValue(4)
            self.scene.addItem(path)
            self._paths.append(path)
            for vi, (x, y) in enumerate(polygon):
                handle = _Handle(self, pi, vi, QPointF(x + 0.5, y + 0.5))
                self.scene.addItem(handle)
                self._handles.append(handle)
        self.moved = False

    def clear(self) -> None:
        for item in self._handles + self._paths:
            self.scene.removeItem(item)
        self._handles, self._paths, self.polygons = [], [], []
        self.active = False

    def handle_moved(self, handle: _Handle) -> None:
        pos = handle.pos()
        self.polygons[handle.polygon_idx][handle.vertex_idx] = (pos.x() - 0.5, pos.y() - 0.5)
        polygon = self.polygons[handle.polygon_idx]
        self._paths[handle.polygon_idx].setPolygon(
            QPolygonF([QPointF(x + 0.5, y + 0.5) for x, y in polygon])
        )
        self.moved = True

    def rasterised(self) -> np.ndarray:
        """The edited outline as a (H, W) bool mask."""
        doc = self.document
        polygons = [np.round(p).astype(np.int32) for p in self.polygons]
        return polygons_to_mask(polygons, doc.source.height, doc.source.width)

    def commit_if_moved(self) -> None:
        if self.moved:
            doc = self.document
            self.moved = False
            doc.commit_mask(
                doc.active_object_id, doc.current_frame, self.rasterised(), "Edit outline"
            )
