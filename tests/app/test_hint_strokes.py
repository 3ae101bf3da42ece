"""Strokes as hints in the app, driven as an artist does: a stroke across the object, a loop of
background strokes with the right button, train, then Fill as mask (M) and undo."""

import numpy as np
from PySide6.QtCore import Qt

from core.shot.presets import recipe_for
from tests.qt_helpers import TIMEOUT_MS, drag
from tests.synthetic import iou


def test_a_few_strokes_become_a_filled_matte_not_the_matte(qtbot, window, clip_folder):
    _, labels = clip_folder
    truth = labels[0] == 1
    window.engine.recipes = lambda p: recipe_for(p).with_overrides(steps=150, views_per_frame=6)
    doc, canvas = window.document, window.canvas
    assert canvas.paint_hints  # the default way to annotate
    canvas.set_brush_size(5)
    ys, xs = np.nonzero(truth)
    cy, cx = int(ys.mean()), int(xs.mean())
    row = xs[ys == cy]
    column = ys[xs == cx]
    drag(qtbot, canvas, [(row.min() + 4, cy), (row.max() - 4, cy)])  # across the object
    drag(qtbot, canvas, [(cx, column.min() + 4), (cx, column.max() - 4)])
    top, bottom = max(2, ys.min() - 10), min(93, ys.max() + 10)
    left, right = max(2, xs.min() - 10), min(125, xs.max() + 10)
    loop = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    with qtbot.waitSignal(window.engine.training_finished, timeout=TIMEOUT_MS):
        drag(qtbot, canvas, loop, button=Qt.RightButton)  # background around it
    assert doc.store.is_hint(1, 0)
    strokes = doc.store.get(1, 0)
    painted = doc.store.known(1, 0)
    assert painted[top, cx] and not strokes[top, cx]  # the right button painted background
    assert iou(strokes, truth) < 0.4
    qtbot.waitUntil(lambda: doc.result_state(0) == 1, timeout=TIMEOUT_MS)
    shown = doc.display_mask(1, 0).copy()
    assert iou(shown, truth) > 0.7  # the network filled in the object
    assert (shown[strokes]).all() and not shown[painted & ~strokes].any()  # strokes obeyed
    assert np.array_equal(doc.finished_alpha(1, 0) > 0.5, shown)  # what Matte view and export use

    qtbot.keyClick(canvas, Qt.Key_M)  # Fill as mask
    assert not doc.store.is_hint(1, 0)
    assert np.array_equal(doc.store.get(1, 0), shown)
    assert (doc.folder / "annotations" / "1" / "000000.png").exists()
    assert not (doc.folder / "annotations" / "1" / "000000.strokes.png").exists()
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)  # undo: the strokes again
    assert doc.store.is_hint(1, 0) and np.array_equal(doc.store.get(1, 0), strokes)


def test_hints_off_paints_the_whole_matte(qtbot, window):
    doc, canvas = window.document, window.canvas
    qtbot.keyClick(canvas, Qt.Key_H)
    assert not canvas.paint_hints and not window.hints_action.isChecked()
    drag(qtbot, canvas, [(20, 40), (40, 40)])
    assert not doc.store.is_hint(1, 0) and doc.store.get(1, 0)[40, 30]
    qtbot.keyClick(canvas, Qt.Key_H)
    assert canvas.paint_hints
    drag(qtbot, canvas, [(60, 60), (70, 60)])  # a full mask keeps its kind
    assert not doc.store.is_hint(1, 0) and doc.store.get(1, 0)[60, 65]
