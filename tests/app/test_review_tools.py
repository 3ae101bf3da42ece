"""Review tools driven from the keyboard: keyframe jumps, brush readout, onion skin."""

import numpy as np
from PySide6.QtCore import Qt

from tests.qt_helpers import drag


def test_j_and_k_jump_between_keyframes(qtbot, window):
    doc = window.document
    for frame in (2, 7):
        doc.set_frame(frame)
        drag(qtbot, window.canvas, [(20, 40), (40, 40)])
    doc.set_frame(0)
    qtbot.keyClick(window.canvas, Qt.Key_K)
    assert doc.current_frame == 2
    qtbot.keyClick(window.canvas, Qt.Key_K)
    assert doc.current_frame == 7
    qtbot.keyClick(window.canvas, Qt.Key_K)
    assert doc.current_frame == 7  # no later keyframe: stays
    qtbot.keyClick(window.canvas, Qt.Key_J)
    assert doc.current_frame == 2


def test_brush_size_is_shown(qtbot, window):
    before = window.brush_label.text()
    qtbot.keyClick(window.canvas, Qt.Key_BracketRight)
    after = window.brush_label.text()
    assert before.startswith("brush ") and after != before
    assert int(after.split()[1]) == window.canvas.brush_size


def test_onion_skin_shows_the_previous_frames_outline(qtbot, window):
    doc = window.document
    doc.set_frame(3)
    drag(qtbot, window.canvas, [(30, 40), (70, 40)])
    doc.set_frame(4)
    plain = window.canvas.overlay_rgba()
    qtbot.keyClick(window.canvas, Qt.Key_U)
    onion = window.canvas.overlay_rgba()
    white = (onion[..., :3] == 255).all(axis=-1) & (onion[..., 3] == 220)
    assert white.sum() > 20 and not np.array_equal(plain, onion)
    ys, xs = np.nonzero(white)
    mask = doc.annotation(1, 3)
    assert mask[ys, xs].mean() > 0.3  # on the previous frame's edge
    qtbot.keyClick(window.canvas, Qt.Key_U)
    assert np.array_equal(window.canvas.overlay_rgba(), plain)


def test_in_out_range_keeps_training_segmentation_and_playback_inside(qtbot, window, clip_folder):
    from app.document import COMPUTED, NOT_COMPUTED
    from core.shot.presets import recipe_for
    from tests.qt_helpers import TIMEOUT_MS, paint_object

    _, labels = clip_folder
    doc = window.document
    window.engine.recipes = lambda p: recipe_for(p).with_overrides(steps=30, views_per_frame=3)
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)  # a keyframe that will be outside the range
    paint_object(qtbot, window, labels, 5)
    doc.set_frame(3)
    qtbot.keyClick(window.canvas, Qt.Key_I, Qt.AltModifier)
    doc.set_frame(7)
    qtbot.keyClick(window.canvas, Qt.Key_O, Qt.AltModifier)
    assert doc.work_range() == (3, 7)
    job = window.train_controller.build_job()
    assert [int(s.key.split(":")[0]) for s in job.samples] == [5]  # only the keyframe inside
    with qtbot.waitSignal(window.engine.training_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.train_panel.train_button, Qt.LeftButton)
    # Segmentation may go idle between the preview's results and the final model's (a loaded
    # machine): wait for the final model's results of the range.
    qtbot.waitUntil(
        lambda: all(doc.result_state(f) == COMPUTED for f in range(3, 8)), timeout=TIMEOUT_MS
    )
    states = [doc.result_state(f) for f in range(10)]
    assert states[8:] == [NOT_COMPUTED] * 2 and states[1:3] == [NOT_COMPUTED] * 2
    window._on_play_timer_timeout()  # playback at the out point loops to the in point
    assert doc.current_frame == 3
    qtbot.keyClick(window.canvas, Qt.Key_X, Qt.AltModifier)  # cleared: the rest is segmented
    assert doc.work_range() == (0, 9)
    qtbot.waitUntil(
        lambda: all(doc.result_state(f) == COMPUTED for f in range(1, 10)), timeout=TIMEOUT_MS
    )


def test_n_finds_the_least_sure_frame_and_a_approves_it(qtbot, window, clip_folder):
    from app.timeline import APPROVED_COLOUR, confidence_colour
    from core.project import load_project
    from tests.qt_helpers import TIMEOUT_MS, paint_object

    _, labels = clip_folder
    doc = window.document

    def strip_colour(frame_idx: int):
        """The timeline's confidence strip over the frame, as painted."""
        timeline = window.timeline
        x = int((frame_idx + 0.5) * timeline.width() / doc.num_frames)
        return timeline.grab().toImage().pixelColor(x, timeline.height() - 21)

    empty = strip_colour(5)  # no result yet: the strip shows nothing
    qtbot.keyClick(window.canvas, Qt.Key_N)
    assert doc.current_frame == 0 and "No frame to fix" in window.statusBar().currentMessage()

    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    with qtbot.waitSignal(window.engine.training_finished, timeout=TIMEOUT_MS):
        assert window.train_controller.train()
    qtbot.waitUntil(
        lambda: all(doc.confidence(f) is not None for f in range(10)), timeout=TIMEOUT_MS
    )
    scores = {f: doc.confidence(f) for f in range(1, 10)}
    worst = min(scores, key=scores.get)
    expected = confidence_colour(scores[worst], False)  # drawn over the timeline's background
    assert expected is not None and expected.alpha() > 0  # the clip's worst frame is doubtful
    a = expected.alphaF()
    colour, background = np.array(expected.getRgb()[:3]), np.array(empty.getRgb()[:3])
    blended = a * colour + (1 - a) * background
    assert np.allclose(strip_colour(worst).getRgb()[:3], blended, atol=2)  # redrawn with results

    qtbot.keyClick(window.canvas, Qt.Key_N)
    assert doc.current_frame == worst  # never frame 0: it is the keyframe
    qtbot.keyClick(window.canvas, Qt.Key_A)
    assert doc.is_approved(worst)
    assert load_project(doc.folder)[0].approved_frames == [worst]  # saved with the project
    assert confidence_colour(scores[worst], True) == APPROVED_COLOUR

    qtbot.keyClick(window.canvas, Qt.Key_N)
    second = min((f for f in scores if f != worst), key=scores.get)
    assert doc.current_frame == second  # the approved frame is skipped now
    assert np.isclose(doc.confidence(second), scores[second])


def test_the_score_expects_the_area_the_keyframes_around_a_frame_have(qtbot):
    """An object keyframed large on frame 0 and small on frame 8: the document expects each
    frame's area from the keyframes around it (hint strokes do not count), so frames that
    match their neighbouring keyframe are not flagged for their size."""
    from app.document import ShotDocument
    from core.annotations import AnnotationStore

    doc = ShotDocument()
    doc.store = AnnotationStore((20, 20))
    large, small, hint = (np.zeros((20, 20), bool) for _ in range(3))
    large[:10, :10] = True
    small[:5, :4] = True
    hint[:1, :1] = True
    doc.store.set(1, 0, large)
    doc.store.set(1, 8, small)
    doc.store.set(1, 4, hint, known=hint)
    areas = doc.keyframe_areas((1, 2))
    assert areas.at(0) == [0.25, None]
    assert areas.at(4)[0] == (0.25 + 0.05) / 2
    assert areas.at(9)[0] == 0.05
    doc.result_writer.close()
