"""Clip ▸ Region of Interest: drawn on the canvas or fitted to the object, saved with the
project, the engine working in it, and back to the whole frame."""

from PySide6.QtCore import Qt

from app.canvas import BRUSH, REGION
from core.project import load_project
from tests.qt_helpers import TIMEOUT_MS, drag, paint_object


def _reopened(qtbot, win, action):
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        action()
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)


def test_draw_fit_and_clear_the_region(qtbot, window, clip_folder):
    _, labels = clip_folder
    win, doc, canvas = window, window.document, window.canvas
    menu = win.region_menu
    menu.refresh()
    assert menu.now.text() == "Now: the whole frame" and not menu.whole.isEnabled()
    win.train_panel.auto_train.setChecked(False)

    # Draw: the Region tool drags a rectangle; the clip reopens in it; the brush comes back.
    menu.draw.trigger()
    assert canvas.tool == REGION
    _reopened(qtbot, win, lambda: drag(qtbot, canvas, [(10, 8), (60, 40), (99, 79)]))
    roi = doc.project.settings.roi  # pixels 10..99 x 8..79, to the view's rounding
    assert max(abs(a - b) for a, b in zip(roi, [10, 8, 100, 80], strict=True)) <= 1, roi
    assert load_project(doc.folder)[0].settings.roi == roi  # saved
    assert win.engine._session.working.roi == tuple(roi)
    assert canvas.tool == BRUSH
    assert canvas.region.outline.isVisible() and canvas.region.shade.isVisible()
    menu.refresh()
    x0, y0, x1, y1 = roi
    assert menu.now.text() == f"Now: {x0},{y0} – {x1},{y1}  ({x1 - x0}×{y1 - y0} px)"
    assert menu.whole.isEnabled()

    # A slip of the mouse is not a region: nothing changes.
    menu.draw.trigger()
    drag(qtbot, canvas, [(20, 20), (25, 24)])
    assert doc.project.settings.roi == roi and canvas.tool == REGION
    qtbot.keyClick(canvas, Qt.Key_Escape)
    assert canvas.tool == BRUSH

    # Fit: around the painted object, with a margin, inside the frame.
    paint_object(qtbot, win, labels, 0)
    _reopened(qtbot, win, menu.fit_to_objects)
    x0, y0, x1, y1 = doc.project.settings.roi
    ys, xs = (labels[0] == 1).nonzero()
    assert x0 < xs.min() and y0 < ys.min() and x1 > xs.max() + 1 and y1 > ys.max() + 1
    assert 0 <= x0 and 0 <= y0 and x1 <= 128 and y1 <= 96
    assert win.engine._session.working.roi == (x0, y0, x1, y1)
    assert doc.store.frames() == [0]  # the keyframe came back from disk

    # Whole frame again.
    _reopened(qtbot, win, menu.whole.trigger)
    assert doc.project.settings.roi == [] and win.engine._session.working.roi is None
    assert not canvas.region.outline.isVisible()


def test_fitting_reads_no_result_from_disk(qtbot, window, clip_folder, monkeypatch):
    """Fit to Objects uses the boxes kept as results arrive: with only one result left in memory
    (a 4K shot's are mostly on disk) it reads none back, and still covers every frame's."""
    import numpy as np

    import app.results
    from app.region_tool import object_extents
    from app.results import ResultRecord
    from core.roi import mask_extent

    _, labels = clip_folder
    win, doc = window, window.document
    win.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, win, labels, 0)
    doc.results.max_bytes = 1  # every result but the newest is dropped from memory
    for frame_idx in range(1, len(labels)):
        probs = ((labels[frame_idx] == 1) * 255).astype(np.uint8)[None]
        doc.set_result(frame_idx, ResultRecord(probs, (1,), doc.model_version))
    doc.result_writer.flush()
    reads = []
    original = app.results.load_result
    monkeypatch.setattr(
        app.results, "load_result", lambda *args: reads.append(args[1]) or original(*args)
    )

    seen = set()
    boxes = list(object_extents(doc, seen))
    assert reads == [] and seen == set(range(len(labels)))
    assert boxes[0] == mask_extent(doc.store.get(1, 0))  # the keyframe's own box
    truth = [mask_extent(labels[f] == 1) for f in range(1, len(labels))]
    assert boxes[1:] == truth
