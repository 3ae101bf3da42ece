"""The frame viewer and paint surface: zoom about the cursor, pan, brush/eraser/lasso/fill.

`CanvasView` shows the document's current frame with the objects' masks as a coloured overlay
(or the matte, or the plain frame). Painting edits a working copy of the active object's mask;
releasing the mouse commits it to the document as one undo step.
"""

from __future__ import annotations

import enum

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

from app.box_tool import BoxTool
from app.document import ShotDocument
from app.keyframe_tools import flood_fill
from app.outline_editor import OutlineEditor
from app.overlay_drawing import draw_edge, draw_onion_outline, draw_strokes
from app.region_tool import RegionTool
from core.corrections import Correction
from core.errors import RotoshotError


class Tool(enum.StrEnum):
    """The painting tools (a str, so it travels through Qt signals as one)."""

    BRUSH = "brush"
    ERASER = "eraser"
    LASSO = "lasso"
    FILL = "fill"
    OUTLINE = "outline"
    BOX = "box"
    REGION = "region"  # Clip ▸ Region of Interest ▸ Draw Region (app.region_tool)


class ViewMode(enum.StrEnum):
    """What the canvas shows: the overlay on the frame, the finished matte, or the frame."""

    OVERLAY = "overlay"
    MATTE = "matte"
    ORIGINAL = "original"


BRUSH, ERASER, LASSO, FILL, OUTLINE, BOX, REGION = Tool
VIEW_OVERLAY, VIEW_MATTE, VIEW_ORIGINAL = ViewMode


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB or (H, W, 4) RGBA -> QImage (a deep copy)."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    fmt = QImage.Format_RGB888 if image.shape[2] == 3 else QImage.Format_RGBA8888
    return QImage(image.data, width, height, image.strides[0], fmt).copy()


class CanvasView(QGraphicsView):
    """Viewer + painter for one ShotDocument."""

    tool_changed = Signal(str)
    brush_size_changed = Signal(int)
    view_mode_changed = Signal(str)
    paint_hints_changed = Signal(bool)
    frame_unreadable = Signal(str)  # the current frame could not be read: why

    def __init__(self, document: ShotDocument, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.setScene(QGraphicsScene(self))
        self.frame_item = QGraphicsPixmapItem()
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setZValue(1)
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setZValue(3)
        self.cursor_item.setPen(QPen(QColor(255, 255, 255), 0))
        self.lasso_item = self.scene().addPolygon(QPolygonF(), QPen(QColor(255, 255, 0), 0))
        self.lasso_item.setZValue(2)
        for item in (self.frame_item, self.overlay_item, self.cursor_item):
            self.scene().addItem(item)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setBackgroundBrush(QBrush(QColor(38, 38, 38)))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.outline = OutlineEditor(self.scene(), document)
        self.box = BoxTool(document, self.scene(), self)
        self.region = RegionTool(document, self.scene(), self)
        self._drag_tools = {BOX: self.box, REGION: self.region}  # rectangles: press/move/release
        self.tool = BRUSH
        self.brush_size = 24
        self.onion_skin = False  # the previous frame's matte outline over this frame
        self.view_mode = VIEW_OVERLAY
        self.opacity = document.project.settings.overlay_opacity
        # Brush, eraser and lasso paint hint strokes on a frame without keyframe or result
        # (ShotDocument.editable_keyframe); off: they paint the whole matte.
        self.paint_hints = True
        self._working: np.ndarray | None = None  # mask being painted (H, W) bool
        self._working_known: np.ndarray | None = None  # its painted pixels, for hint strokes
        self._working_correction: Correction | None = None  # what was painted over a result
        self._last_point: tuple[int, int] | None = None
        self._erasing = False
        self._lasso: list[QPointF] = []  # lasso/polygon corners in scene coordinates
        self._lasso_press = QPointF()
        self._lasso_dragged = False
        self._lasso_erasing = False
        self._space_held = False
        self._space_dragged = False
        self._pan_from: QPointF | None = None
        self._fitted = True
        document.clip_loaded.connect(self._on_document_clip_loaded)
        document.frame_changed.connect(self._on_document_changed)
        document.annotation_changed.connect(lambda _o, f: self._refresh_if(f))
        document.result_changed.connect(self._refresh_if)
        document.results_invalidated.connect(self.refresh_overlay)
        document.objects_changed.connect(self.refresh_overlay)
        document.active_object_changed.connect(lambda _o: self.refresh_overlay())
        document.finish_changed.connect(lambda _o: self.refresh_overlay())
        document.edge_mattes.matte_ready.connect(lambda _o, f: self._refresh_if(f))

    # --- drawing -----------------------------------------------------------------------------
    def _on_document_clip_loaded(self) -> None:
        self._on_document_changed(self.document.current_frame)
        self.fit_to_window()

    def _on_document_changed(self, _frame_idx: int) -> None:
        if self.document.source is None:
            return
        try:
            image = self.document.frame_image()
        except RotoshotError as exc:
            # Never keep showing another frame under this frame's number: a grey frame, and why.
            image = np.full(
                (self.document.source.height, self.document.source.width, 3), 64, np.uint8
            )
            self.frame_unreadable.emit(str(exc))
        self.frame_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(image)))
        self.scene().setSceneRect(QRectF(self.frame_item.pixmap().rect()))
        self.refresh_overlay()

    def _refresh_if(self, frame_idx: int) -> None:
        if frame_idx == self.document.current_frame:
            self.refresh_overlay()

    def overlay_rgba(self) -> np.ndarray:
        """(H, W, 4) uint8 overlay of the visible objects on the current frame."""
        doc = self.document
        height, width = doc.source.height, doc.source.width
        rgba = np.zeros((height, width, 4), np.uint8)
        alpha = int(round(255 * self.opacity))
        for info in doc.project.objects:
            if not info.visible:
                continue
            strokes = None  # (foreground, painted) hint strokes to draw over the matte
            if self._working is not None and info.object_id == doc.active_object_id:
                mask = self._working
                if self._working_known is not None:
                    strokes = (self._working, self._working_known)
                    mask = doc.result_with_strokes(info.object_id, doc.current_frame, *strokes)
            else:
                mask = doc.display_mask(info.object_id, doc.current_frame)
                known = doc.store.known(info.object_id, doc.current_frame)
                if known is not None:
                    strokes = (doc.store.get(info.object_id, doc.current_frame), known)
            if mask is None:
                continue
            if self.view_mode == VIEW_MATTE:
                if info.object_id == doc.active_object_id and self._working is None:
                    finished = doc.finished_alpha(info.object_id, doc.current_frame)
                    if finished is not None:
                        grey = (finished * 255).astype(np.uint8)
                        rgba[..., :3] = grey[..., None]
                        rgba[..., 3] = 255
                elif info.object_id == doc.active_object_id:
                    rgba[mask] = (255, 255, 255, 255)
                continue
            rgba[mask] = (*info.colour, alpha)
            draw_edge(rgba, mask, info.colour)
            if strokes is not None:
                draw_strokes(rgba, *strokes, info.colour)
        if self.view_mode == VIEW_MATTE:
            rgba[rgba[..., 3] == 0] = (0, 0, 0, 255)
        elif self.onion_skin and doc.current_frame > 0:
            for info in doc.project.objects:
                previous = (
                    doc.display_mask(info.object_id, doc.current_frame - 1)
                    if info.visible
                    else None
                )
                if previous is not None and previous.any():
                    draw_onion_outline(rgba, previous)
        return rgba

    def refresh_overlay(self) -> None:
        if self.document.source is None:
            return
        if self.outline.active and not self.outline.moved:
            self.outline.show()  # follow the frame/object/annotation being shown
        if self.view_mode == VIEW_ORIGINAL:
            self.overlay_item.setVisible(False)
            return
        self.overlay_item.setVisible(True)
        self.overlay_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(self.overlay_rgba())))

    def set_view_mode(self, mode: ViewMode) -> None:
        self.view_mode = mode
        self.refresh_overlay()
        self.view_mode_changed.emit(mode)

    def set_onion_skin(self, enabled: bool) -> None:
        """Show the previous frame's outline of each visible object over the current frame."""
        self.onion_skin = bool(enabled)
        self.refresh_overlay()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.document.project.settings.overlay_opacity = self.opacity
        self.refresh_overlay()

    # --- tools -------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if self._lasso:
            self.cancel_lasso()
        self.tool = tool
        if tool == OUTLINE:
            self.outline.show()
        elif self.outline.active:
            self.outline.clear()
        self._update_cursor_item()
        self.tool_changed.emit(tool)

    def set_paint_hints(self, enabled: bool) -> None:
        """Strokes as hints (on) or as the whole matte (off); see ShotDocument.editable_keyframe."""
        self.paint_hints = bool(enabled)
        self.paint_hints_changed.emit(self.paint_hints)

    def set_brush_size(self, size: int) -> None:
        self.brush_size = int(np.clip(size, 1, 400))
        self._update_cursor_item()
        self.brush_size_changed.emit(self.brush_size)

    def _update_cursor_item(self, scene_pos: QPointF | None = None) -> None:
        visible = self.tool in (BRUSH, ERASER) and self.document.source is not None
        self.cursor_item.setVisible(visible)
        if scene_pos is None:
            scene_pos = self.cursor_item.rect().center()
        r = self.brush_size / 2
        self.cursor_item.setRect(QRectF(scene_pos.x() - r, scene_pos.y() - r, 2 * r, 2 * r))

    def clear_frame(self) -> None:
        """Annotate the active object as absent on this frame (an empty mask), undoable."""
        doc = self.document
        empty = np.zeros((doc.source.height, doc.source.width), bool)
        doc.commit_mask(doc.active_object_id, doc.current_frame, empty, "Clear frame")

    # --- zoom / pan --------------------------------------------------------------------------
    def fit_to_window(self) -> None:
        if not self.frame_item.pixmap().isNull():
            self.fitInView(self.frame_item, Qt.KeepAspectRatio)
            self._fitted = True

    def actual_size(self) -> None:
        self.resetTransform()
        self._fitted = False

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = float(np.clip(current * factor, 0.05, 40.0) / current)
        self.scale(factor, factor)
        self._fitted = False

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.zoom(1.2 ** (event.angleDelta().y() / 120))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fitted:
            self.fit_to_window()

    def _pan(self, event) -> None:
        delta = event.position() - self._pan_from
        self._pan_from = event.position()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))

    # --- mouse -------------------------------------------------------------------------------
    def _image_point(self, event) -> tuple[int, int]:
        p = self.mapToScene(event.position().toPoint())
        return int(np.floor(p.x())), int(np.floor(p.y()))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.document.source is None:
            return
        if event.button() == Qt.MiddleButton or (
            self._space_held and event.button() == Qt.LeftButton
        ):
            self._pan_from = event.position()
            self._space_dragged = True
            self.setCursor(Qt.ClosedHandCursor)
            return
        if event.button() not in (Qt.LeftButton, Qt.RightButton):
            return
        if self.tool == OUTLINE:
            super().mousePressEvent(event)  # the scene drags the handle under the cursor
            return
        if self.tool in self._drag_tools:
            self._drag_tools[self.tool].press(self.mapToScene(event.position().toPoint()))
            return
        doc = self.document
        x, y = self._image_point(event)
        if self.tool == FILL:
            flood_fill(doc, x, y, erase=event.button() == Qt.RightButton)
            return
        self._working, self._working_known, self._working_correction = doc.editable_keyframe(
            doc.active_object_id, doc.current_frame, hints=self.paint_hints
        )
        self._erasing = self.tool == ERASER or event.button() == Qt.RightButton
        if self.tool == LASSO:
            # A drag draws a freehand lasso; clicks add polygon corners (Enter or a double-click
            # closes the polygon, Esc drops it).
            point = self.mapToScene(event.position().toPoint())
            if not self._lasso:
                self._lasso_erasing = self._erasing
            self._lasso.append(point)
            self._lasso_press = event.position()
            self._lasso_dragged = False
            self.lasso_item.setPolygon(QPolygonF(self._lasso))
            return
        self._last_point = (x, y)
        self._stamp(x, y, x, y)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        scene_pos = self.mapToScene(event.position().toPoint())
        self._update_cursor_item(scene_pos)
        if self._pan_from is not None:
            self._pan(event)
            return
        if self.tool == OUTLINE:
            super().mouseMoveEvent(event)
            return
        if self.tool in self._drag_tools:
            self._drag_tools[self.tool].move(scene_pos)
            return
        if self.tool == LASSO and self._lasso:
            pressed = event.buttons() & (Qt.LeftButton | Qt.RightButton)
            if pressed and (event.position() - self._lasso_press).manhattanLength() > 4:
                self._lasso_dragged = True
            if self._lasso_dragged:
                self._lasso.append(scene_pos)
            self.lasso_item.setPolygon(QPolygonF([*self._lasso, scene_pos]))
            return
        if self._working is None:
            return
        x, y = self._image_point(event)
        x0, y0 = self._last_point
        self._stamp(x0, y0, x, y)
        self._last_point = (x, y)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._pan_from is not None:
            self._pan_from = None
            self.unsetCursor()
            return
        if self.tool == OUTLINE:
            super().mouseReleaseEvent(event)
            self.outline.commit_if_moved()
            return
        if self.tool in self._drag_tools:
            self._drag_tools[self.tool].release(self.mapToScene(event.position().toPoint()))
            return
        if self._working is None:
            return
        if self.tool == LASSO:
            if self._lasso_dragged:
                self.close_lasso()
            return  # a click: the polygon waits for more corners
        self._commit_working(
            "Erase" if self._erasing else {BRUSH: "Brush stroke", ERASER: "Erase"}[self.tool]
        )

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if self.tool == LASSO and self._lasso:
            self.close_lasso()
        else:
            super().mouseDoubleClickEvent(event)

    def close_lasso(self) -> None:
        """Fill (or, started with the right button, erase) the lasso/polygon and commit it."""
        points = [(p.x(), p.y()) for p in self._lasso]
        self._lasso = []
        self.lasso_item.setPolygon(QPolygonF())
        if self._working is None:
            return
        unique = {(int(x), int(y)) for x, y in points}
        if len(unique) >= 3:
            region = np.zeros(self._working.shape, np.uint8)
            cv2.fillPoly(region, [np.array(points, np.int32)], 1)
            self._paint(region > 0, erase=self._lasso_erasing)
        self._commit_working("Lasso erase" if self._lasso_erasing else "Lasso fill")

    def cancel_lasso(self) -> None:
        self._lasso = []
        self.lasso_item.setPolygon(QPolygonF())
        self._working = self._working_known = self._working_correction = None
        self.refresh_overlay()

    def _commit_working(self, text: str) -> None:
        doc = self.document
        mask, known, correction = self._working, self._working_known, self._working_correction
        self._working = self._working_known = self._working_correction = None
        if known is not None:
            text = text.replace("Erase", "Background stroke").replace("Brush", "Object")
        doc.commit_mask(
            doc.active_object_id, doc.current_frame, mask, text, known=known, correction=correction
        )
        self.refresh_overlay()

    def _paint(self, region: np.ndarray, *, erase: bool) -> None:
        """Paint `region` (H, W) bool into the working keyframe: object (or, erasing,
        background); a hint keyframe also records the pixels as painted."""
        self._working = (self._working & ~region) if erase else (self._working | region)
        if self._working_known is not None:
            self._working_known = self._working_known | region
        if self._working_correction is not None:
            self._working_correction = self._working_correction.painted_over(region)

    def _stamp(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Paint a round-capped line segment into the working keyframe and show it."""
        canvas = np.zeros(self._working.shape, np.uint8)
        radius = max(1, self.brush_size // 2)
        cv2.line(canvas, (x0, y0), (x1, y1), 1, thickness=2 * radius, lineType=cv2.LINE_8)
        cv2.circle(canvas, (x1, y1), radius, 1, thickness=-1)
        self._paint(canvas > 0, erase=self._erasing)
        self.refresh_overlay()

    # --- keys --------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self._space_dragged = False
            return
        if self._lasso and event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.close_lasso()
            return
        if self._lasso and event.key() == Qt.Key_Escape:
            self.cancel_lasso()
            return
        if self.tool == REGION and event.key() == Qt.Key_Escape:
            self.set_tool(BRUSH)  # no region drawn after all
            return
        if event.key() == Qt.Key_BracketLeft:
            self.set_brush_size(int(self.brush_size / 1.25))
            return
        if event.key() == Qt.Key_BracketRight:
            self.set_brush_size(int(self.brush_size * 1.25) + 1)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if not self._space_dragged:
                self.space_tapped()
            return
        super().keyReleaseEvent(event)

    def space_tapped(self) -> None:
        """Space pressed and released without dragging: the main window toggles playback."""
        window = self.window()
        if hasattr(window, "toggle_playback"):
            window.toggle_playback()

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.cursor_item.setVisible(False)
        super().leaveEvent(event)

    def enterEvent(self, event) -> None:  # noqa: N802
        self._update_cursor_item()
        super().enterEvent(event)
