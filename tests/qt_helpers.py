"""Helpers for tests that drive the desktop app (imports Qt; app tests only)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from app.main_window import MainWindow

TIMEOUT_MS = 60_000


def new_window(qtbot, settings) -> MainWindow:
    """A main window on the CPU whose network starts from ImageNet weights: the same start on
    every machine, shipped parent or not."""
    win = MainWindow(device="cpu", settings=settings)
    win.engine._weights = "imagenet"
    qtbot.addWidget(win)
    return win


def view_pos(canvas, x, y) -> QPoint:
    """Viewport position of image pixel (x, y)."""
    return canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def drag(qtbot, canvas, points, button=Qt.LeftButton):
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, button, pos=view_pos(canvas, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(viewport, view_pos(canvas, *p))
    qtbot.mouseRelease(viewport, button, pos=view_pos(canvas, *points[-1]))


def paint_object(qtbot, win, labels, frame_idx=0, *, hints=False):
    """Paint the synthetic object on a frame with the brush, row by row: as its whole matte
    (Edit > Strokes as Hints off, toggled with its key as a user would), or as hint strokes."""
    if win.canvas.paint_hints != hints:
        qtbot.keyClick(win.canvas, Qt.Key_H)
    assert win.canvas.paint_hints == hints
    win.document.set_frame(frame_idx)
    win.canvas.set_brush_size(6)
    ys, xs = np.nonzero(labels[frame_idx] == 1)
    for y in range(ys.min() + 3, ys.max() - 1, 4):
        row = xs[ys == y]
        drag(qtbot, win.canvas, [(row.min() + 3, y), (row.max() - 3, y)])
