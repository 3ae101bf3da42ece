"""Clip ▸ Working Resolution: the engine trains and segments at the clip's working size and the
artist still sees and exports mattes at the plate's size."""

from core.project import load_project
from tests.qt_helpers import TIMEOUT_MS, paint_object
from tests.synthetic import iou


def test_a_smaller_working_size_reopens_the_clip_and_keeps_plate_size_mattes(
    qtbot, window, clip_folder
):
    _, labels = clip_folder
    win, doc = window, window.document
    menu = win.working_menu
    menu.refresh()
    texts = {v: a.text() for v, a in menu.choices.items()}
    assert texts[0] == "Plate Size  —  128×96" and menu.choices[0].isEnabled()
    assert menu.choices[1024].isChecked()  # the default: this 128x96 clip is left as it is
    assert not menu.choices[1024].isEnabled()  # no larger than the plate
    win.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, win, labels, 0)

    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        menu.choose(64)  # a setting as a project file could hold it; the menu offers >= 1024
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    assert doc.project.settings.working_long_side == 64
    assert load_project(doc.folder)[0].settings.working_long_side == 64  # saved
    assert doc.store.frames() == [0]  # the keyframe came back from disk
    assert win.engine._session.working.size == (64, 48)

    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()
    with qtbot.waitSignal(win.engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    assert doc.display_mask(1, 6).shape == (96, 128)
    assert iou(doc.display_mask(1, 6), labels[6] == 1) > 0.5
