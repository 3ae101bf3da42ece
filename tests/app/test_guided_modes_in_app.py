"""Issue #12 in the app: Clip ▸ Segmentation Mode reopens the clip with the mask-guided network,
and the Box tool turns a dragged rectangle into the active object's keyframe (one undo step)."""

from PySide6.QtCore import Qt

from app.canvas import BOX
from core.guidance import bounding_box
from core.project import load_project
from tests.qt_helpers import TIMEOUT_MS, drag, paint_object
from tests.synthetic import iou


def test_propagate_mode_reopens_with_the_guided_network_and_segments(qtbot, window, clip_folder):
    _, labels = clip_folder
    win, doc = window, window.document
    menu = win.mode_menu
    menu.refresh()
    assert menu.choices["osvos"].isChecked()
    win.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, win, labels, 0)

    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        menu.choose("propagate")
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    assert load_project(doc.folder)[0].settings.mode == "propagate"  # saved
    session = win.engine._session
    assert session.mode == "propagate" and session.parent.guided
    assert doc.store.frames() == [0]

    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()
    with qtbot.waitSignal(win.engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    assert all(doc.result(f) is not None for f in range(doc.num_frames))
    assert iou(doc.display_mask(1, 3), labels[3] == 1) > 0.5


def test_box_tool_makes_a_keyframe_of_the_active_object(qtbot, window, clip_folder):
    _, labels = clip_folder
    win, doc = window, window.document
    doc.set_frame(4)
    qtbot.keyClick(win, Qt.Key_R)
    assert win.canvas.tool == BOX
    truth = labels[4] == 1
    x0, y0, x1, y1 = bounding_box(truth)
    with qtbot.waitSignal(win.engine.box_mask_ready, timeout=TIMEOUT_MS):
        drag(qtbot, win.canvas, [(x0 - 3, y0 - 3), ((x0 + x1) // 2, y1), (x1 + 3, y1 + 3)])
    qtbot.waitUntil(lambda: doc.store.get(1, 4) is not None, timeout=TIMEOUT_MS)
    mask = doc.store.get(1, 4)
    assert iou(mask, truth) > 0.4  # a first mask, at a toy clip's 128x96
    ys, xs = mask.nonzero()
    assert xs.min() >= x0 - 8 and xs.max() <= x1 + 8 and ys.min() >= y0 - 8
    assert doc.undo_stack.undoText() == "Box"
    doc.undo_stack.undo()
    assert doc.store.get(1, 4) is None
    # a slip of the mouse is no box
    drag(qtbot, win.canvas, [(20, 20), (21, 21)])
    assert not win.canvas.box.item.isVisible()
