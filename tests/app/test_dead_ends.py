"""The artist's dead ends (issue: "The app in an artist's hands"), each driven as a user does it:
mouse on the canvas and buttons, keys on the window."""

import dataclasses

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from app.document import COMPUTED
from core.shot.presets import recipe_for
from tests.qt_helpers import TIMEOUT_MS, drag, new_window, paint_object
from tests.synthetic import make_clip, write_image_folder


def short(preset):
    return recipe_for(preset).with_overrides(steps=30, views_per_frame=4)


@pytest.fixture
def messages(monkeypatch):
    """Every message box the app would have shown."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: shown.append(text))
    return shown


def all_computed(window) -> bool:
    doc = window.document
    return all(doc.result_state(f) == COMPUTED for f in range(doc.num_frames))


def test_adding_an_object_while_results_stream_keeps_segmenting(
    qtbot, window, clip_folder, messages
):
    _, labels = clip_folder
    window.engine.recipes = short
    engine, doc = window.engine, window.document
    with qtbot.waitSignal(engine.training_finished, timeout=TIMEOUT_MS):
        paint_object(qtbot, window, labels, 0)  # auto-train starts after the strokes
    qtbot.waitUntil(lambda: any(doc.result_state(f) == COMPUTED for f in range(1, 10)))
    qtbot.mouseClick(window.objects_panel.add_button, Qt.LeftButton)  # while results stream
    qtbot.keyClick(window.canvas, Qt.Key_2)
    assert doc.active_object_id == 2
    drag(qtbot, window.canvas, [(100, 80), (115, 80), (115, 86)])  # the second object
    qtbot.waitUntil(
        lambda: (
            doc.model_version > 0
            and engine.model_count == 1
            and not window.train_controller.training
            and all_computed(window)
            and doc.result(9).object_ids == (1, 2)
        ),
        timeout=TIMEOUT_MS,
    )
    assert not messages
    assert doc.result(5).probs.shape[0] == 2 and doc.display_mask(2, 0) is not None


def test_stop_during_best_keeps_segmenting_with_the_first_model(
    qtbot, window, clip_folder, messages
):
    def short_then_long(preset):  # a quick first model; a second long enough to stop
        recipe = short(preset)
        members = list(recipe.members)
        members[-1] = dataclasses.replace(members[-1], steps=3000)
        return dataclasses.replace(recipe, members=tuple(members))

    window.engine.recipes = short_then_long
    _, labels = clip_folder
    panel = window.train_panel
    panel.auto_train.setChecked(False)
    panel.slider.setValue(100)
    paint_object(qtbot, window, labels, 0)
    second = []
    window.engine.training_progress.connect(lambda p: second.append(p) if p.model == 1 else None)
    qtbot.mouseClick(panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(second) > 2, timeout=TIMEOUT_MS)
    shown = []  # what the panel is told (its label changes again once segmentation ends)
    show_stopped = panel.show_stopped
    panel.show_stopped = lambda message: (shown.append(message), show_stopped(message))
    qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
    # waitSignal's callback can run in the engine thread before the UI has handled the signal
    qtbot.waitUntil(lambda: any("Stopped" in m for m in shown), timeout=TIMEOUT_MS)
    # every frame is segmented again by the complete first model, none left stale
    qtbot.waitUntil(lambda: all_computed(window), timeout=TIMEOUT_MS)
    assert window.engine.model_count == 1
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert not messages


def test_a_clip_with_a_frame_of_another_size_is_refused_by_name(qtbot, window, tmp_path, messages):
    frames, _ = make_clip(num_frames=4, height=96, width=128, seed=1)
    odd, _ = make_clip(num_frames=1, height=72, width=96, seed=2)
    folder = tmp_path / "mixed"
    paths = write_image_folder(folder, frames)
    write_image_folder(tmp_path / "odd", odd)[0].replace(paths[2])
    assert not window.open_path(str(folder))
    assert len(messages) == 1 and "frame 3" in messages[0] and "96x72" in messages[0]


def test_no_keypress_is_bound_twice(window):
    """One keypress matching two registered sequences is what Qt calls an ambiguous shortcut
    overload: neither action fires (the X11 check: scripts/check_x11_shortcuts.py)."""
    seen = {}
    for action in window.findChildren(type(window.actions()[0])):
        for sequence in action.shortcuts():
            key = sequence.toString()
            assert key not in seen or seen[key] is action, (key, action.text(), seen[key].text())
            seen[key] = action


def test_shortcuts_fire_from_the_window(qtbot, window):
    doc = window.document
    doc.set_frame(5)
    qtbot.keyClick(window.canvas, Qt.Key_Greater)
    assert doc.current_frame == 9  # +10, clamped to the last frame
    qtbot.keyClick(window.canvas, Qt.Key_Less)
    assert doc.current_frame == 0
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    for keys in ("Ctrl+Shift+Z", "Ctrl+Y"):
        doc.undo_stack.undo()
        assert doc.annotation(1, 0) is None
        sequence = QKeySequence(keys)[0]
        qtbot.keyClick(window.canvas, sequence.key(), sequence.keyboardModifiers())
        assert doc.annotation(1, 0) is not None, keys
    rows = dict(window.shortcut_table())
    assert "Ctrl+Y" in rows["Redo"] and rows["Forward 10 Frames"] == ">"


def test_clicking_the_timeline_after_a_text_field_gives_the_keys_back(qtbot, window):
    doc = window.document
    field = window.finish_panel.grow
    field.setFocus()
    QApplication.processEvents()
    qtbot.keyClicks(field, "3")
    assert field.hasFocus()
    timeline = window.timeline
    qtbot.mouseClick(timeline, Qt.LeftButton, pos=QPoint(timeline.width() // 2, 20))
    frame = doc.current_frame
    qtbot.keyClick(window.focusWidget(), Qt.Key_Period)
    assert doc.current_frame == frame + 1  # the key moved the frame, not into the spin box


def test_help_lists_the_keyboard_shortcuts(qtbot, window):
    qtbot.keyClick(window.canvas, Qt.Key_F1)
    from app.shortcuts_dialog import ShortcutsDialog

    dialogs = [w for w in window.findChildren(ShortcutsDialog) if w.isVisible()]
    assert len(dialogs) == 1
    table = dialogs[0].table
    actions = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert actions["Brush (B)"] == "B" and "Ctrl+Shift+Z" in actions["Redo"]
    dialogs[0].close()


def test_no_state_is_left_over_from_the_previous_clip(qtbot, settings, clip_folder, tmp_path):
    _, labels = clip_folder
    win = new_window(qtbot, settings)
    win.engine.recipes = short
    win.show()
    assert not win.train_controller.train()
    assert "Open a clip" in win.train_panel.status.text()  # not "Loading the network…"
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(clip_folder[0]))
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    paint_object(qtbot, win, labels, 0)  # auto-train
    qtbot.waitUntil(
        lambda: (
            not win.train_controller.training
            and win.train_panel.status.text() == "All frames segmented."
        ),
        timeout=TIMEOUT_MS,
    )
    frames, _ = make_clip(num_frames=5, height=96, width=128, seed=9)
    write_image_folder(tmp_path / "other", frames)
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(tmp_path / "other"))
    assert win.model_label.text() == "model: imagenet (untrained)"
    assert "segmented" not in win.train_panel.status.text()
    assert win.document.model_version == 0 and win.document.result(0) is None
    win.close()


def test_undoing_every_stroke_stops_the_run(qtbot, window, clip_folder):
    _, labels = clip_folder
    window.engine.recipes = lambda p: recipe_for(p).with_overrides(steps=3000)
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    progress = []
    window.engine.training_progress.connect(progress.append)
    qtbot.mouseClick(window.train_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(progress) > 3, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.engine.training_cancelled, timeout=TIMEOUT_MS):
        while window.document.undo_stack.canUndo():
            qtbot.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.train_panel.train_button.isEnabled(), timeout=5_000)
    assert not window.train_panel.stop_button.isEnabled() and not window.train_controller.training


def test_ctrl_s_saves_and_save_as_starts_beside_the_clip(
    qtbot, window, clip_folder, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def choose(_parent, _title, start):
        asked.append(start)
        return str(tmp_path / "shot.rotoshot")

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose)
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    qtbot.keyClick(window.canvas, Qt.Key_S, Qt.ControlModifier)  # an autosaved session: asks
    assert asked == [str(clip_folder[0].parent)]
    saved = tmp_path / "shot.rotoshot"
    assert (saved / "project.json").exists() and window.document.folder == saved
    assert (saved / "annotations" / "1" / "000000.strokes.png").exists()
    qtbot.keyClick(window.canvas, Qt.Key_S, Qt.ControlModifier)  # a project: saves, no dialog
    assert len(asked) == 1 and "Saved project" in window.statusBar().currentMessage()


def test_a_project_with_a_damaged_keyframe_opens_and_says_which(
    qtbot, window, clip_folder, tmp_path, messages
):
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    window.document.set_frame(3)
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    project = tmp_path / "shot.rotoshot"
    window.save_project_to(project)
    (project / "annotations" / "1" / "000003.strokes.png").write_bytes(b"")
    assert window.open_project(project)
    assert window.document.store.keys() == [(1, 0)]  # the other keyframe is there
    assert len(messages) == 1 and "1/000003.strokes.png" in messages[0]


def test_painting_with_auto_train_off_says_how_to_train(qtbot, window, clip_folder):
    """Auto-train's first try on an empty clip said "Paint the object…"; that line stayed beside
    a painted frame once auto-train was off (found looking at the app)."""
    _, labels = clip_folder
    win = window
    win.train_panel.auto_train.setChecked(False)
    assert not win.train_controller.train()
    assert win.train_panel.status.text().startswith("Paint the object")
    paint_object(qtbot, win, labels, 0)
    assert win.train_panel.status.text() == "Painted. Press Train (Ctrl+Return) to learn it."
    assert win.train_panel.train_button.isEnabled()


def test_a_clip_reopened_with_painted_frames_says_how_to_train(qtbot, window, clip_folder):
    """Fitting the region reopened the clip with its keyframes and said "Paint the object on a
    frame, then train" beside them (found looking at the app)."""
    _, labels = clip_folder
    win = window
    win.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, win, labels, 0)
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        win.region_menu.fit_to_objects()
    assert win.document.store.keys() == [(1, 0)]
    assert win.train_panel.status.text() == "Press Train (Ctrl+Return) to learn the painted frames."
