"""Clip ▸ Region of Interest (issue #14): the part of the plate the network works on (core.roi).

The artist draws the region on the canvas, fits it to the object (everywhere the keyframes and
results put it in the work range, with a margin) or goes back to the whole frame. The region
is a per-clip setting like the working resolution: changing it saves the project and opens the
clip again, so the engine starts a session in the new region and the model trains anew. The
canvas shows the region as a dashed outline with the plate outside it dimmed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene, QMenu, QWidget

from app.document import ShotDocument
from core.errors import RotoshotError
from core.roi import Roi, check_roi, fit_roi, mask_extent

REGION_COLOUR = QColor(80, 200, 255)


class RegionTool(QObject):
    """Draws the clip's region on the canvas and, as the canvas's Region tool, a new one:
    `drawn` carries the checked region (x0, y0, x1, y1) when the drag ends."""

    drawn = Signal(object)
    status_reported = Signal(str, int)  # a status-bar message, milliseconds

    def __init__(self, document: ShotDocument, scene: QGraphicsScene, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.shade = QGraphicsPathItem()  # the plate outside the region, dimmed
        self.shade.setBrush(QBrush(QColor(0, 0, 0, 110)))
        self.shade.setPen(QPen(Qt.NoPen))
        self.outline = QGraphicsRectItem()
        self.outline.setPen(QPen(REGION_COLOUR, 0, Qt.DashLine))  # cosmetic: 1 px at any zoom
        self.band = QGraphicsRectItem()  # the region being drawn
        self.band.setPen(QPen(REGION_COLOUR, 0, Qt.SolidLine))
        for z, item in enumerate((self.shade, self.outline, self.band)):
            item.setZValue(20 + z)
            item.setVisible(False)
            scene.addItem(item)
        self._start: QPointF | None = None
        document.clip_loaded.connect(self.show_region)

    def region(self) -> Roi | None:
        """The clip's region of interest, None for the whole frame."""
        return self.document.project.settings.region

    def show_region(self) -> None:
        """Outline the clip's region and dim the plate outside it (nothing without one)."""
        doc, roi = self.document, self.region()
        shown = roi is not None and doc.source is not None
        self.shade.setVisible(shown)
        self.outline.setVisible(shown)
        if not shown:
            return
        x0, y0, x1, y1 = roi
        inside = QRectF(x0, y0, x1 - x0, y1 - y0)
        path = QPainterPath()
        path.addRect(QRectF(0, 0, doc.source.width, doc.source.height))
        path.addRect(inside)  # odd-even fill: the frame with the region cut out
        self.shade.setPath(path)
        self.outline.setRect(inside)

    def press(self, point: QPointF) -> None:
        self._start = point
        self.band.setRect(QRectF(point, point))
        self.band.setVisible(True)

    def move(self, point: QPointF) -> None:
        if self._start is not None:
            self.band.setRect(QRectF(self._start, point).normalized())

    def release(self, point: QPointF) -> None:
        """End the drag: `drawn` with the region, or a status line saying why not."""
        start, self._start = self._start, None
        self.band.setVisible(False)
        if start is None or self.document.source is None:
            return
        rect = QRectF(start, point).normalized()
        # Every pixel the drag touched, from the one pressed to the one released.
        corners = (
            np.floor(rect.left()),
            np.floor(rect.top()),
            np.floor(rect.right()) + 1,
            np.floor(rect.bottom()) + 1,
        )
        try:
            roi = check_roi(corners, self.document.source.size)
        except RotoshotError as exc:
            self.status_reported.emit(f"Not a region: {exc}", 5000)
            return
        self.drawn.emit(roi)


def object_extent(document: ShotDocument, object_id: int, frame_idx: int) -> Roi | None:
    """The box (x0, y0, x1, y1) around what the viewer shows of an object on a frame (as
    ShotDocument.display_mask), from boxes kept as results arrive: no result's pixels are read,
    where a 4K shot's would mostly come from disk. A hint-stroke frame gets the result's box
    joined with the strokes painted as object (a stroke that removes pixels may leave it a
    little large). None when the frame shows nothing of the object."""
    annotation = document.store.get(object_id, frame_idx)
    known = document.store.known(object_id, frame_idx)
    if annotation is not None and known is None:
        return mask_extent(annotation)
    boxes = [document.results.extent(frame_idx, object_id)]
    if known is not None:
        boxes.append(mask_extent(annotation & known))
    boxes = [box for box in boxes if box is not None]
    if not boxes:
        return None
    x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def object_extents(document: ShotDocument, seen: set[int]) -> Iterator[Roi]:
    """Every object's box on every frame of the work range that has a keyframe or a result:
    where the objects are, for fitting the region. Adds those frames to `seen`."""
    first, last = document.work_range()
    for frame_idx in range(first, last + 1):
        for info in document.project.objects:
            box = object_extent(document, info.object_id, frame_idx)
            if box is not None:
                seen.add(frame_idx)
                yield box


class RegionMenu(QMenu):
    """Clip ▸ Region of Interest: Draw Region (the canvas's Region tool), Fit to Objects, Whole
    Frame. `tools`: (select the canvas's Region tool, go back to painting) once drawn; `reopen`
    opens the clip again after a change."""

    def __init__(
        self,
        document: ShotDocument,
        tool: RegionTool,
        tools: tuple[Callable[[], object], Callable[[], object]],
        reopen: Callable[[], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("&Region of Interest", parent)
        self.document = document
        self.tool = tool
        self.reopen = reopen
        self.now = QAction(self)
        self.now.setEnabled(False)
        self.addAction(self.now)
        self.addSeparator()
        self.draw = self.addAction("&Draw Region  —  drag a rectangle on the frame")
        self._draw_tool, self._paint_tool = tools
        self.draw.triggered.connect(self.start_drawing)
        self.fit = self.addAction("&Fit to Objects  —  where keyframes and results are")
        self.fit.triggered.connect(self.fit_to_objects)
        self.whole = self.addAction("&Whole Frame")
        self.whole.triggered.connect(lambda: self.set_region(None))
        tool.drawn.connect(self._on_tool_drawn)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Say which region the clip works on; enable what applies."""
        doc, roi = self.document, self.tool.region()
        loaded = doc.source is not None
        if roi is None:
            self.now.setText("Now: the whole frame")
        else:
            x0, y0, x1, y1 = roi
            self.now.setText(f"Now: {x0},{y0} – {x1},{y1}  ({x1 - x0}×{y1 - y0} px)")
        for action in (self.draw, self.fit):
            action.setEnabled(loaded)
        self.whole.setEnabled(loaded and roi is not None)

    def start_drawing(self) -> None:
        self._draw_tool()
        self.tool.status_reported.emit(
            "Drag a rectangle around where the object moves in the shot (Esc: cancel).", 0
        )

    def _on_tool_drawn(self, roi: Roi) -> None:
        self._paint_tool()
        self.set_region(roi)

    def fit_to_objects(self) -> None:
        """The region around every object's keyframes and results in the work range."""
        doc = self.document
        if doc.source is None:
            return
        seen: set[int] = set()
        roi = fit_roi(object_extents(doc, seen), doc.source.size)
        if roi is None:
            self.tool.status_reported.emit(
                "Nothing to fit to: paint the object or let it segment first.", 6000
            )
            return
        self.set_region(roi)
        first, last = doc.work_range()
        if len(seen) < last - first + 1:
            # A moving object may leave a region fitted to a few frames: say so.
            self.tool.status_reported.emit(
                f"Region fitted to the {len(seen)} of {last - first + 1} frames that have a "
                "keyframe or result; fit again (from the whole frame) once the shot is segmented.",
                10000,
            )

    def set_region(self, roi: Roi | None) -> None:
        """Make `roi` the clip's region (None: the whole frame) and open the clip again in it."""
        doc = self.document
        if doc.source is None:
            return
        if roi is not None and tuple(roi) == (0, 0, *doc.source.size):
            roi = None  # a region of the whole frame is none
        if self.tool.region() == (tuple(roi) if roi else None):
            return
        doc.project.settings.roi = list(roi) if roi else []
        doc.save_manifest()
        where = "the whole frame" if roi is None else "the region {},{} – {},{}".format(*roi)
        self.tool.status_reported.emit(f"The network now works on {where}; training again.", 6000)
        self.reopen()
