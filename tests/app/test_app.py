"""The desktop app driven like an artist would: paint, undo, train, stop, scrub, save, reopen."""

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QMessageBox

from app.canvas import ERASER, FILL, LASSO
from core.corrections import mask_from_image
from core.project import MANIFEST
from core.shot.presets import Preset, recipe_for
from tests.qt_helpers import TIMEOUT_MS, drag, new_window, paint_object, view_pos
from tests.synthetic import iou


def test_brush_stroke_is_one_undo_step(qtbot, window, clip_folder):
    doc = window.document
    object_id = doc.active_object_id
    drag(qtbot, window.canvas, [(20, 40), (40, 40), (60, 42)])
    mask = doc.annotation(object_id, 0)
    assert mask is not None and mask[40, 20:60].all() and not mask[5, 5]
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.annotation(object_id, 0) is None
    doc.undo_stack.redo()
    assert np.array_equal(doc.annotation(object_id, 0), mask)
    # the stroke was written to disk at once
    assert (doc.folder / "annotations" / str(object_id) / "000000.strokes.png").exists()
    assert doc.store.is_hint(object_id, 0)  # the first strokes on a frame are hints


def test_eraser_lasso_fill_and_brush_size(qtbot, window):
    doc, canvas = window.document, window.canvas
    object_id = doc.active_object_id
    canvas.set_tool(LASSO)
    drag(qtbot, canvas, [(20, 20), (80, 20), (80, 70), (20, 70)])
    mask = doc.annotation(object_id, 0)
    assert mask[45, 50] and not mask[10, 10]
    canvas.set_tool(ERASER)
    canvas.set_brush_size(8)
    drag(qtbot, canvas, [(50, 45), (50, 45)])
    assert not doc.annotation(object_id, 0)[45, 50]
    canvas.set_tool(FILL)  # fill the hole the eraser made: a closed region
    qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=view_pos(canvas, 50, 45))
    assert doc.annotation(object_id, 0)[45, 50]
    qtbot.keyClick(canvas, Qt.Key_BracketRight)
    assert canvas.brush_size > 8
    assert doc.undo_stack.count() == 3


def test_polygon_by_clicks_closed_with_enter(qtbot, window):
    doc, canvas = window.document, window.canvas
    canvas.set_tool(LASSO)
    for x, y in [(10, 10), (60, 10), (60, 50), (10, 50)]:
        qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=view_pos(canvas, x, y))
    assert doc.annotation(1, 0) is None  # not committed until the polygon is closed
    qtbot.keyClick(canvas, Qt.Key_Return)
    mask = doc.annotation(1, 0)
    assert mask[30, 35] and not mask[70, 100]
    assert doc.undo_stack.count() == 1
    for x, y in [(80, 60), (100, 60), (100, 80)]:
        qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=view_pos(canvas, x, y))
    qtbot.keyClick(canvas, Qt.Key_Escape)
    assert doc.undo_stack.count() == 1 and not doc.annotation(1, 0)[65, 95]


def test_objects_panel_add_rename_hide_select(qtbot, window):
    doc, panel = window.document, window.objects_panel
    qtbot.mouseClick(panel.add_button, Qt.LeftButton)
    assert len(doc.project.objects) == 2 and doc.active_object_id == 2
    item = panel.list.item(1)
    item.setText("Hero")
    assert doc.object(2).name == "Hero"
    panel.list.item(1).setCheckState(Qt.Unchecked)
    assert doc.object(2).visible is False
    qtbot.keyClick(window.canvas, Qt.Key_1)
    assert doc.active_object_id == 1


def test_timeline_scrub_and_keys(qtbot, window):
    doc = window.document
    qtbot.mouseClick(window.timeline, Qt.LeftButton, pos=QPoint(window.timeline.width() - 2, 20))
    assert doc.current_frame == doc.num_frames - 1
    qtbot.keyClick(window.canvas, Qt.Key_Home)
    assert doc.current_frame == 0
    qtbot.keyClick(window.canvas, Qt.Key_Period)
    assert doc.current_frame == 1
    qtbot.keyClick(window.canvas, Qt.Key_End)
    assert doc.current_frame == doc.num_frames - 1


def test_train_then_segment_visible_frame_first(qtbot, window, clip_folder):
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    window.document.set_frame(6)
    engine = window.engine
    segmented = []
    engine.frame_segmented.connect(lambda f, _p, _ids, version: segmented.append((version, f)))
    signals = [
        engine.training_started,
        engine.model_updated,
        engine.model_updated,
        engine.training_finished,
    ]
    with qtbot.waitSignals(signals, order="strict", timeout=TIMEOUT_MS):
        assert window.train_controller.train()
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    assert segmented[0] == (1, 6)  # the preview model segments the visible frame at once
    final = [f for version, f in segmented if version == 2]
    assert final[:3] == [6, 7, 5]  # then outward from the visible frame
    assert sorted(final) == list(range(10))
    doc = window.document
    assert all(doc.result_state(f) == 1 for f in range(10))
    assert iou(doc.display_mask(1, 8), labels[8] == 1) > 0.7
    # the loss plot shows the main fine-tune and the edge-refinement stage as two curves
    panel = window.train_panel
    assert panel.curve.getData()[0] is not None and panel.edges_curve.getData()[0] is not None
    assert min(panel.edges_curve.getData()[0]) > max(panel.curve.getData()[0])
    assert panel.legend.getLabel(panel.second_curve) is None  # one model: no "2nd model" entry


def test_stop_gives_cancelled_and_never_finished(qtbot, window, clip_folder):
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    window.train_panel.slider.setValue(100)  # whole network, many steps
    paint_object(qtbot, window, labels, 0)
    engine = window.engine
    finished = []
    engine.training_finished.connect(lambda *a: finished.append(a))
    with qtbot.waitSignal(engine.training_progress, timeout=TIMEOUT_MS):
        window.train_controller.train()
    with qtbot.waitSignal(engine.training_cancelled, timeout=5_000):
        qtbot.mouseClick(window.train_panel.stop_button, Qt.LeftButton)
    qtbot.wait(200)
    assert not finished
    assert window.train_panel.train_button.isEnabled()


def test_correction_becomes_annotation_from_result(qtbot, window, clip_folder):
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    engine = window.engine
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        window.train_controller.train()
    doc = window.document
    doc.set_frame(5)
    result_mask = doc.display_mask(1, 5).copy()
    window.canvas.set_tool(ERASER)
    window.canvas.set_brush_size(4)
    drag(qtbot, window.canvas, [(2, 2), (4, 2)])  # a small correction far from the object
    annotation = doc.annotation(1, 5)
    assert annotation is not None
    changed = annotation != result_mask
    assert changed.sum() <= 40  # the result was converted, only the stroke changed
    # A correction: what the eraser painted is marked, the kept rest trains at less weight.
    correction = doc.store.correction(1, 5)
    assert correction is not None and correction.painted[2, 3] and not correction.painted[50, 60]
    assert correction.painted.sum() <= 40 and not (changed & ~correction.painted).any()
    probs = doc.result(5).probs[0]
    assert np.array_equal(
        correction.unsure & ~correction.painted,
        ((probs > 51) & (probs < 204)) & ~correction.painted,
    )
    reread = mask_from_image(cv2.imread(str(doc.folder / "annotations/1/000005.png"), 0))
    assert np.array_equal(reread[0], annotation) and reread[1].same_as(correction)
    drag(qtbot, window.canvas, [(8, 8), (10, 8)])  # a second stroke adds to the painted pixels
    assert doc.store.correction(1, 5).painted[8, 9] and doc.store.correction(1, 5).painted[2, 3]
    qtbot.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert doc.store.correction(1, 5).same_as(correction)


def test_project_round_trip_and_reopen(qtbot, window, settings, clip_folder, tmp_path):
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    window.document.add_object("Second")
    drag(qtbot, window.canvas, [(100, 80), (110, 80)])
    window.train_panel.slider.setValue(30)
    with qtbot.waitSignal(window.engine.segmentation_idle, timeout=TIMEOUT_MS):
        window.train_controller.train()
    project_dir = tmp_path / "shot.rotoshot"
    window.save_project_to(project_dir)
    qtbot.waitUntil(lambda: (project_dir / "model.pt").exists(), timeout=TIMEOUT_MS)
    before = {k: window.document.store.get(*k).copy() for k in window.document.store.keys()}
    doc = window.document
    results_before = {f: doc.result(f).probs.copy() for f in doc.cached_frames()}
    window.close()
    damaged = sorted(results_before)[3]  # a cache file that no longer reads: segmented again
    (project_dir / "results" / f"{damaged:06d}.png").write_bytes(b"not a png")

    reopened = new_window(qtbot, settings)
    lost = []
    reopened.document.results_lost.connect(lambda frames, _version: lost.extend(frames))
    with qtbot.waitSignal(reopened.engine.model_restored, timeout=TIMEOUT_MS):
        assert reopened.open_project(project_dir)
    doc = reopened.document
    # waitSignal can return before the UI thread has handled the (queued) signal
    qtbot.waitUntil(lambda: doc.model_version == 1, timeout=TIMEOUT_MS)
    assert [o.name for o in doc.project.objects] == ["Object 1", "Second"]
    assert doc.project.settings.quality == pytest.approx(0.3)
    assert reopened.train_panel.preset_label.text() == "Fast"
    reopened.train_panel.slider.setValue(50)
    assert reopened.train_panel.preset_label.text() == "Balanced"
    reopened.train_panel.slider.setValue(30)
    assert sorted(before) == doc.store.keys()
    for key, mask in before.items():
        assert np.array_equal(doc.store.get(*key), mask)  # byte-identical annotations
    qtbot.waitUntil(lambda: lost == [damaged], timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: damaged in doc.cached_frames(), timeout=TIMEOUT_MS)
    assert doc.model_version == 1 and set(doc.cached_frames()) == set(results_before)
    for f, probs in results_before.items():
        if f != damaged:
            assert np.array_equal(doc.result(f).probs, probs)
    assert str(project_dir) in settings.value("recent_projects", [], type=list)
    reopened.close()


def test_bad_input_shows_a_message_and_keeps_work(qtbot, window, monkeypatch, tmp_path):
    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: messages.append(text))
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    painted_file = window.document.folder / "annotations" / "1" / "000000.strokes.png"
    assert not window.open_path(str(tmp_path / "missing.mp4"))
    bad_video = tmp_path / "bad.mp4"
    bad_video.write_bytes(b"garbage")
    assert not window.open_path(str(bad_video))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / MANIFEST).write_text("{broken")
    assert not window.open_project(corrupt)
    assert len(messages) == 3
    assert "no such file" in messages[0] and "corrupt" in messages[2]
    assert painted_file.exists() and window.document.annotation(1, 0) is not None


def test_reopening_a_clip_restores_autosaved_strokes(qtbot, window, settings, clip_folder):
    drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    mask = window.document.annotation(1, 0).copy()
    window.close()
    again = new_window(qtbot, settings)
    with qtbot.waitSignal(again.engine.model_ready, timeout=TIMEOUT_MS):
        again.open_path(str(clip_folder[0]))
    assert np.array_equal(again.document.annotation(1, 0), mask)
    again.close()


def test_export_mattes_named_after_source_frames(qtbot, window, clip_folder, tmp_path):
    import cv2

    from core.export import read_exr

    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    with qtbot.waitSignal(window.engine.segmentation_idle, timeout=TIMEOUT_MS):
        window.train_controller.train()
    out = tmp_path / "export"
    with qtbot.waitSignal(window.engine.export_finished, timeout=TIMEOUT_MS):
        window.export_controller.start(str(out), 2, 6, fmt="png8", cutouts=True)
    files = sorted((out / "1_Object_1").glob("*.png"))
    assert [f.stem for f in files] == [f"frame_{i:05d}" for i in range(2, 7)]
    for f in files:
        frame_idx = int(f.stem.split("_")[1])
        matte = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(matte > 127, window.document.display_mask(1, frame_idx))
    assert len(list((out / "1_Object_1_rgba").glob("*.png"))) == 5
    with qtbot.waitSignal(window.engine.export_finished, timeout=TIMEOUT_MS):
        window.export_controller.start(str(tmp_path / "exr"), 3, 3, fmt="exr")
    assert list(read_exr(tmp_path / "exr" / "1_Object_1" / "frame_00003.exr")) == ["A"]


def test_snap_and_import_become_keyframes(qtbot, window, clip_folder, tmp_path):
    from core.export import write_matte

    _, labels = clip_folder
    doc = window.document
    import cv2

    # the network's typical error: an outline a few pixels too wide
    bloated = cv2.dilate((labels[0] == 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    doc.commit_mask(1, 0, bloated, "Box")
    window.snap_current_frame()
    snapped = doc.annotation(1, 0)
    assert iou(snapped, labels[0] == 1) > iou(bloated, labels[0] == 1)
    doc.undo_stack.undo()
    assert np.array_equal(doc.annotation(1, 0), bloated)

    mattes = tmp_path / "mattes"
    mattes.mkdir()
    for f in (3, 4):
        write_matte(mattes / f"frame_{f:05d}.png", (labels[f] == 1).astype(np.float32), "png8")
    assert window.import_mattes(mattes) == 2
    assert np.array_equal(doc.annotation(1, 4), labels[4] == 1)
    doc.undo_stack.undo()  # the whole import is one step
    assert doc.annotation(1, 3) is None and doc.annotation(1, 4) is None


def test_finishing_panel_previews_in_matte_view(qtbot, window):
    from app.canvas import VIEW_MATTE

    doc = window.document
    drag(qtbot, window.canvas, [(40, 40), (60, 40)])
    window.canvas.set_view_mode(VIEW_MATTE)
    before = window.canvas.overlay_rgba()[..., 0] > 127
    window.finish_panel.grow.setValue(3)
    assert doc.object(1).finish.grow_px == 3
    after = window.canvas.overlay_rgba()[..., 0] > 127
    assert after.sum() > before.sum() and (after | before).sum() == after.sum()
    window.finish_panel.feather.setValue(4.0)
    soft = window.canvas.overlay_rgba()[..., 0]
    assert ((soft > 10) & (soft < 245)).any()  # a feathered edge is shown
    window.finish_panel.feather.setValue(0.0)
    window.finish_panel.grow.setValue(0)
    hard = window.canvas.overlay_rgba()[..., 0].copy()
    # Matted from the frame's colours on a worker thread: the UI keeps the network's edge until
    # the matte arrives, then redraws.
    with qtbot.waitSignal(doc.edge_mattes.matte_ready, timeout=TIMEOUT_MS):
        window.finish_panel.edge_matting.setValue(4)
        assert doc.object(1).finish.edge_matting_px == 4
        assert np.array_equal(window.canvas.overlay_rgba()[..., 0], hard)
    matted = window.canvas.overlay_rgba()[..., 0]
    assert not np.array_equal(matted, hard) and ((matted > 10) & (matted < 245)).any()


def test_outline_edit_drag_a_control_point(qtbot, window):
    from app.canvas import LASSO as LASSO_TOOL
    from app.canvas import OUTLINE

    doc, canvas = window.document, window.canvas
    canvas.set_tool(LASSO_TOOL)
    drag(qtbot, canvas, [(20, 20), (70, 20), (70, 60), (20, 60)])
    before = doc.annotation(1, 0).copy()
    canvas.set_tool(OUTLINE)
    handles = canvas.outline._handles
    assert 4 <= len(handles) <= 12  # a rectangle-ish outline: few control points
    # vectorise -> rasterise reproduces the mask within the 1 px boundary band
    assert (canvas.outline.rasterised() ^ before).sum() < 0.1 * before.sum()
    corner = max(handles, key=lambda h: h.pos().x() + h.pos().y())  # bottom-right corner
    start = canvas.mapFromScene(corner.pos())
    end = canvas.mapFromScene(corner.pos() + QPointF(15, 15))
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.LeftButton, pos=start)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.LeftButton, pos=end)
    after = doc.annotation(1, 0)
    assert after.sum() > before.sum() and after[70, 78]
    assert doc.undo_stack.undoText() == "Edit outline"


def test_export_dialog_options(qtbot):
    from app.export_dialog import ExportDialog

    numbers = list(range(1001, 1011))  # plate.1001 ... plate.1010
    dialog = ExportDialog("/tmp/out", 2, 8, numbers, {"fmt": "png16", "cutouts": True})
    qtbot.addWidget(dialog)
    # the dialog speaks the source's frame numbers, the job 0-based indices
    assert (dialog.first_spin.value(), dialog.last_spin.value()) == (1003, 1009)
    assert dialog.values() == ("/tmp/out", 2, 8)
    assert dialog.options()["fmt"] == "png16" and dialog.options()["cutouts"]  # remembered
    dialog.first_spin.setValue(1001)
    assert dialog.values() == ("/tmp/out", 0, 8)
    dialog.format_combo.setCurrentIndex(3)
    dialog.preview_combo.setCurrentIndex(3)
    dialog.cutouts.setChecked(True)
    dialog.premultiplied.setChecked(False)
    assert dialog.options() == {
        "fmt": "exr",
        "cutouts": True,
        "premultiplied": False,
        "preview": "overlay",
        "preview_codec": "prores4444",
    }
    dialog.preview_combo.setCurrentIndex(0)
    assert dialog.options()["preview"] is None


def test_reopening_waits_for_the_network_before_training(qtbot, window, clip_folder):
    """A clip reopened with its autosaved model: nothing trains before that model is restored
    (a request queued earlier would have been overwritten by the restore), and the restored
    results stay current."""
    folder, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    with qtbot.waitSignal(window.engine.segmentation_idle, timeout=TIMEOUT_MS):
        window.train_controller.train()
    model_file = window.document.folder / "model.pt"
    qtbot.waitUntil(model_file.exists, timeout=TIMEOUT_MS)
    window.train_panel.auto_train.setChecked(True)

    started = []
    window.engine.training_started.connect(lambda: started.append(1))
    with qtbot.waitSignal(window.engine.model_ready, timeout=TIMEOUT_MS):
        assert window.open_path(str(folder))
        assert not window.train_controller.engine_ready
        assert not window.train_controller.train()  # refused until the network is back
    qtbot.waitUntil(lambda: window.train_controller.engine_ready, timeout=TIMEOUT_MS)
    qtbot.wait(1000)  # longer than the auto-train pause
    assert not started  # the restored model already matches the keyframes
    doc = window.document
    assert len(doc.results) == 10
    assert all(doc.result_state(f) == 1 for f in range(10))


def test_result_writer_keeps_order_and_survives_a_failed_write(tmp_path, caplog):
    from app.results import ResultWriter
    from core.project import cached_result_frames

    writer = ResultWriter()
    probs = np.full((1, 4, 6), 200, np.uint8)
    for frame_idx in range(5):
        writer.write(tmp_path, frame_idx, probs)
    writer.clear(tmp_path)  # a new model: the clear must not overtake the writes before it
    writer.write(tmp_path, 7, probs)
    writer.flush()
    assert cached_result_frames(tmp_path) == [7]

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "results").write_text("a file where the results folder should be")
    writer.write(blocked, 0, probs)
    writer.flush()  # the failure is logged, not raised
    assert "could not write a result cache" in caplog.text
    writer.close()
    writer.write(tmp_path, 8, probs)  # a late result after closing is dropped, not an error
    assert cached_result_frames(tmp_path) == [7]


def test_best_keeps_two_models_saved_and_restored_together(
    qtbot, window, settings, clip_folder, tmp_path, monkeypatch
):
    """At Best the engine trains the Balanced model (shown as a preview) and a whole-network
    model from the parent, averages them, updates both on a correction, and saves and restores
    them together."""
    from core.model.build import load_checkpoint

    def short(preset):  # the real recipes, fewer steps (a test-sized clip)
        return recipe_for(preset).with_overrides(steps=30, views_per_frame=4)

    window.engine.recipes = short
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    window.train_panel.slider.setValue(100)
    assert window.train_panel.preset_label.text() == "Best"
    paint_object(qtbot, window, labels, 0)
    engine = window.engine
    finals, first_run, correction = [], [], []
    engine.model_updated.connect(lambda _v, _f, final: finals.append(final))
    progress_log = {"now": first_run}  # which run the progress reports belong to
    engine.training_progress.connect(lambda p: progress_log["now"].append(p))
    signals = [engine.training_started, *[engine.model_updated] * 3, engine.training_finished]
    with qtbot.waitSignals(signals, order="strict", timeout=TIMEOUT_MS):
        assert window.train_controller.train()
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    # preview, then the Balanced model alone, then both averaged
    assert finals == [False, False, True] and engine.model_count == 2
    # the loss plot shows the second model as its own curve, after the first model's stages
    panel = window.train_panel
    second_steps = panel.second_curve.getData()[0]
    assert second_steps is not None and min(second_steps) > max(panel.edges_curve.getData()[0])
    assert panel.legend.getLabel(panel.second_curve).text == "2nd model"
    from core.jobs import TrainProgress

    panel.show_progress(TrainProgress(500, 900, 0.1, 30.0, 12.0, model=1, model_count=2))
    assert panel.status.text().startswith("Model 2 of 2: training: step 500/900")
    assert panel.status.text().endswith("about 12 s left")
    doc = window.document
    assert iou(doc.display_mask(1, 8), labels[8] == 1) > 0.6

    # One run, counted as one: steps over both models, and the ETA ends at zero with the second
    # (that it covers the later model is tested with known costs in tests/core)
    trained_first = [p for p in first_run if p.phase == "training"]
    assert {p.model_count for p in trained_first} == {2}
    assert [p.step for p in trained_first] == list(range(1, trained_first[-1].total_steps + 1))
    assert trained_first[0].eta_s > 0 and trained_first[-1].eta_s == 0.0
    progress_log["now"] = correction
    doc.set_frame(5)
    window.canvas.set_tool(ERASER)
    drag(qtbot, window.canvas, [(2, 2), (4, 2)])
    with qtbot.waitSignal(engine.training_finished, timeout=TIMEOUT_MS):
        assert window.train_controller.train(correction=True)
    # a correction shows a quick update first, then updates both models from their weights
    # (the head UPDATE_STEP_SCALE times the recipe's steps for the one new keyframe, at least
    # 40, and UPDATE_REFINE_SCALE times its edge steps; the whole network a third of its
    # steps, at least 40)
    from core.shot.plan import CORRECTION_PREVIEW_STEPS, UPDATE_REFINE_SCALE, UPDATE_STEP_SCALE

    head, _ = short(Preset.BEST).members
    head_update = max(40, UPDATE_STEP_SCALE * head.steps)
    assert {p.total_steps for p in correction} == {
        CORRECTION_PREVIEW_STEPS + head_update + round(UPDATE_REFINE_SCALE * head.refine_steps) + 40
    }
    trained = [p for p in correction if p.phase == "training"]
    assert {p.model for p in trained} == {0, 1}
    assert trained[0].eta_s > trained[-1].eta_s == 0.0
    assert engine.model_count == 2

    project_dir = tmp_path / "shot.rotoshot"
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    window.save_project_to(project_dir)
    qtbot.waitUntil(lambda: (project_dir / "model.pt").exists(), timeout=TIMEOUT_MS)
    assert len(load_checkpoint(project_dir / "model.pt")["members"]) == 1
    window.close()

    reopened = new_window(qtbot, settings)
    with qtbot.waitSignal(reopened.engine.model_ready, timeout=TIMEOUT_MS):
        assert reopened.open_project(project_dir)
    qtbot.waitUntil(lambda: reopened.engine.model_count == 2, timeout=TIMEOUT_MS)
    reopened.close()


def test_stopping_the_second_model_keeps_the_first(qtbot, window, clip_folder, monkeypatch):
    """Stopped while Best's second model trains from the parent: that model is dropped, the
    Balanced model (already published as the preview) stays, and no final model is reported."""
    import dataclasses

    def short_then_long(preset):  # a quick first model; a second long enough to stop
        recipe = recipe_for(preset)
        head, whole = recipe.members
        members = (
            dataclasses.replace(head, steps=30, views_per_frame=4),
            dataclasses.replace(whole, steps=2000),
        )
        return dataclasses.replace(recipe, members=members)

    window.engine.recipes = short_then_long
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    window.train_panel.slider.setValue(100)
    paint_object(qtbot, window, labels, 0)
    engine = window.engine
    finished = []
    engine.training_finished.connect(lambda *a: finished.append(a))
    second_model_started = []

    def on_progress(progress):
        if progress.model == 1 and not second_model_started:
            second_model_started.append(progress.step)
            window.train_controller.stop()  # the token is read at the engine's next step

    engine.training_progress.connect(on_progress)
    with qtbot.waitSignal(engine.training_cancelled, timeout=TIMEOUT_MS):
        assert window.train_controller.train()
    assert second_model_started and not finished
    qtbot.waitUntil(lambda: window.document.model_version == 2, timeout=5_000)
    assert engine.model_count == 1
    qtbot.waitUntil(window.train_panel.train_button.isEnabled, timeout=5_000)
