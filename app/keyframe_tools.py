"""Keyframes made from something other than a stroke: contour snapping, flood fill, hint
strokes filled into a full mask, and imported mattes.

Both become ordinary editable keyframes of the active object through the document (one undo
step each); messages go out as signals and the window shows them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from app.document import ShotDocument
from core.errors import RotoshotError


def flood_fill(doc: ShotDocument, x: int, y: int, *, erase: bool) -> None:
    """Fill the closed region under image pixel (x, y), bounded by the active object's mask on
    this frame, or (erase, or a click inside the object) remove that connected blob; one undo
    step. On a result or correction the filled pixels count as painted (core.corrections)."""
    mask, _, correction = doc.editable_keyframe(
        doc.active_object_id, doc.current_frame, hints=False
    )
    height, width = mask.shape
    if not (0 <= x < width and 0 <= y < height):
        return
    canvas = mask.astype(np.uint8)
    flood = np.zeros((height + 2, width + 2), np.uint8)
    cv2.floodFill(canvas, flood, (x, y), 0 if erase or canvas[y, x] else 1)
    filled = canvas > 0
    if correction is not None:
        correction = correction.painted_over(filled != mask)
    doc.commit_mask(doc.active_object_id, doc.current_frame, filled, "Fill", correction=correction)


class KeyframeTools(QObject):
    """Snap to contours and import a matte sequence, for the document's active object."""

    failed = Signal(str)  # a message for the artist
    status_reported = Signal(str, int)  # a status-bar message, milliseconds

    def __init__(self, document: ShotDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document

    def snap_current_frame(self) -> None:
        """Snap the active object's mask on this frame to image contours; the snapped mask
        becomes an editable keyframe (one undo step)."""
        from core.contours import snap_to_contours

        doc = self.document
        if doc.source is None:
            return
        mask = doc.display_mask(doc.active_object_id, doc.current_frame)
        if mask is None or not mask.any():
            self.status_reported.emit("Nothing to snap on this frame.", 4000)
            return
        snapped = snap_to_contours(mask, doc.frame_image())
        doc.commit_mask(doc.active_object_id, doc.current_frame, snapped, "Snap to contours")

    def fill_current_frame(self) -> None:
        """Fill as mask: the active object's hint strokes on this frame (or its result) become
        a full, editable mask of what the viewer shows (one undo step)."""
        doc = self.document
        if doc.source is None:
            return
        if doc.fill_as_mask(doc.active_object_id, doc.current_frame):
            self.status_reported.emit("The matte on this frame is now an editable mask.", 4000)
        elif doc.store.get(doc.active_object_id, doc.current_frame) is not None:
            self.status_reported.emit("This frame's keyframe is already a full mask.", 4000)
        else:
            self.status_reported.emit("Nothing to fill on this frame yet: paint or train.", 4000)

    def import_mattes(self, folder: Path) -> int:
        """Mattes named after the clip's frames become keyframes of the active object (one undo
        step for the whole import). Returns how many frames were imported."""
        from core.export import import_matte_sequence

        doc = self.document
        try:
            masks = import_matte_sequence(folder, doc.source.stems)
        except (RotoshotError, OSError) as exc:
            self.failed.emit(str(exc))
            return 0
        if any(m.shape != (doc.source.height, doc.source.width) for m in masks.values()):
            self.failed.emit(
                f"the mattes in {folder.name} are not {doc.source.width}x{doc.source.height}"
            )
            return 0
        doc.undo_stack.beginMacro(f"Import {len(masks)} mattes")
        for frame_idx, mask in masks.items():
            doc.commit_mask(doc.active_object_id, frame_idx, mask, "Import matte")
        doc.undo_stack.endMacro()
        self.status_reported.emit(f"Imported {len(masks)} mattes as keyframes.", 6000)
        return len(masks)
