"""Issue #12, part 3 in the app: with "Keep learning from the shot" on, the online rounds
(core.shot.online) run after a model's first full pass, never block painting (a correction
cancels them and trains), run once per trained model, and are remembered with the project."""

from core.project import load_project
from tests.qt_helpers import TIMEOUT_MS, new_window, paint_object


def _train_and_finish_pass(qtbot, win):
    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()


def test_online_rounds_follow_the_first_full_pass_once(qtbot, window, clip_folder, settings):
    _, labels = clip_folder
    win, doc, controller = window, window.document, window.train_controller
    win.train_panel.auto_train.setChecked(False)
    win.train_panel.online.setChecked(True)
    assert load_project(doc.folder)[0].settings.online_rounds == 2  # saved with the project
    paint_object(qtbot, win, labels, 0)

    published = []
    win.engine.model_updated.connect(lambda v, f, final: published.append((v, final)))
    with qtbot.waitSignal(controller.online_requested, timeout=TIMEOUT_MS) as asked:
        _train_and_finish_pass(qtbot, win)
    trained = controller.trained_fingerprint
    assert asked.args[0].fingerprint == trained
    # the rounds started only once every frame had its result from the trained model
    assert all(doc.result(f) is not None for f in range(doc.num_frames))
    version_before = doc.model_version

    with qtbot.waitSignal(win.engine.online_finished, timeout=TIMEOUT_MS):
        pass
    assert doc.model_version > version_before  # the rounds published an updated model
    assert any(final and v > version_before for v, final in published)
    assert "Learnt from the shot" in win.train_panel.status.text()
    assert load_project(doc.folder)[0].online_fingerprint == trained

    with qtbot.waitSignal(win.engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    assert all(doc.result(f).version == doc.model_version for f in range(doc.num_frames))
    assert not controller.training  # once per model: the second full pass starts nothing
    assert not controller.learn_online()

    # Reopened, the project restores the model that learnt online and does not run it again.
    folder = doc.folder
    win.close()
    again = new_window(qtbot, settings)
    with qtbot.waitSignal(again.engine.model_restored, timeout=TIMEOUT_MS):
        assert again.open_path(str(folder))
    assert again.train_panel.online.isChecked()
    status = again.train_panel.status
    qtbot.waitUntil(lambda: status.text() == "All frames segmented.", timeout=TIMEOUT_MS)
    assert not again.train_controller.training
    assert again.train_controller.online_fingerprint == trained
    again.close()


def test_painting_cancels_the_rounds_and_the_correction_wins(
    qtbot, window, clip_folder, monkeypatch
):
    import threading

    from core.shot import online

    # The rounds wait at their start until the artist has painted, so they are surely running.
    painting = threading.Event()
    real_rounds = online.online_rounds

    def rounds_after_painting(*args, **kwargs):
        painting.wait(TIMEOUT_MS / 1000)
        yield from real_rounds(*args, **kwargs)

    monkeypatch.setattr(online, "online_rounds", rounds_after_painting)
    _, labels = clip_folder
    win, doc, controller = window, window.document, window.train_controller
    win.train_panel.auto_train.setChecked(False)
    win.train_panel.online.setChecked(True)
    paint_object(qtbot, win, labels, 0)
    with qtbot.waitSignal(controller.online_requested, timeout=TIMEOUT_MS):
        _train_and_finish_pass(qtbot, win)
    first = controller.trained_fingerprint

    finished = []
    win.engine.online_finished.connect(lambda v, f: finished.append(f))
    win.train_panel.auto_train.setChecked(True)
    paint_object(qtbot, win, labels, 6)  # a correction while the rounds run
    painted = doc.store.get(1, 6).copy()
    qtbot.waitUntil(lambda: controller.current_job.fingerprint != first, timeout=TIMEOUT_MS)
    painting.set()
    qtbot.waitUntil(lambda: controller.trained_fingerprint not in ("", first), timeout=TIMEOUT_MS)
    assert first not in finished  # the rounds on the old model were cancelled
    assert controller.trained_fingerprint == controller.training_fingerprint()
    assert doc.store.frames() == [0, 6]
    # the corrected model gets its own rounds after its pass, and the keyframe stays the artist's
    qtbot.waitUntil(lambda: controller.trained_fingerprint in finished, timeout=TIMEOUT_MS)
    assert (doc.store.get(1, 6) == painted).all()
    assert doc.store.frames() == [0, 6]


def test_the_panel_starts_a_fresh_curve_for_each_round(qtbot):
    from app.train_panel import TrainPanel
    from core.jobs import TrainProgress

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.set_activity("Learning from the shot")
    panel.show_started()
    for step in range(1, 6):
        panel.show_progress(TrainProgress(step, 6, 0.1, 1.0, 1.0))
    panel.show_progress(TrainProgress(6, 6, 0.2, 1.0, 0.0, stage="edges"))
    assert "round 1" in panel.status.text()
    # the second round's steps start again from 1: its own curve, not a line back to the start
    panel.show_progress(TrainProgress(1, 6, 0.1, 1.0, 1.0, round=1))
    assert list(panel.curve.getData()[0]) == [1]
    assert panel.edges_curve.getData()[0] is None or len(panel.edges_curve.getData()[0]) == 0
    assert panel.status.text().startswith("Learning from the shot, round 2: step 1/6")


def test_switching_online_learning_off_leaves_a_training_run_alone(qtbot, window, clip_folder):
    """Off stops online rounds only: the first training (no model yet, nothing learnt online)
    once matched "the rounds of the trained model" and was cancelled."""
    _, labels = clip_folder
    win = window
    win.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, win, labels, 0)
    cancelled = []
    win.engine.training_cancelled.connect(lambda: cancelled.append(True))
    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()
        win.train_panel.online.setChecked(True)
        win.train_panel.online.setChecked(False)
    assert not cancelled


def test_the_panel_redraws_a_stream_of_steps_at_most_every_interval(qtbot):
    """A run streams a progress event per step; redrawing each took about half the engine's
    training speed, so the panel draws at most every REDRAW_INTERVAL_S and catches up."""
    from app.train_panel import TrainPanel
    from core.jobs import TrainProgress

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.show_started()
    for step in range(1, 51):
        panel.show_progress(TrainProgress(step, 100, 0.5, 1.0, 1.0))
    assert len(panel.curve.getData()[0]) < 50  # not a redraw per step
    qtbot.waitUntil(lambda: len(panel.curve.getData()[0]) == 50, timeout=2000)  # caught up
    assert "step 50/100" in panel.status.text()
    panel.show_progress(TrainProgress(51, 100, 0.4, 1.0, 1.0, stage="edges"))
    assert list(panel.edges_curve.getData()[0]) == [51]  # a new stage shows at once
    panel.show_progress(TrainProgress(52, 100, 0.3, 1.0, 1.0, stage="edges"))
    panel.show_stopped("Stopped. The last good model is kept.")
    assert list(panel.edges_curve.getData()[0]) == [51, 52]  # drawn before the message
    assert panel.status.text() == "Stopped. The last good model is kept."
    qtbot.wait(200)  # no late redraw covers the message
    assert panel.status.text() == "Stopped. The last good model is kept."


def test_the_estimate_line_counts_the_rounds_while_they_are_on(window):
    panel = window.train_panel
    panel.slider.setValue(50)
    assert "learning from the shot" not in panel.estimate_label.text()
    panel.online.setChecked(True)
    assert panel.estimate_label.text().endswith(" more")
    assert "\nthen learning from the shot: ~" in panel.estimate_label.text()
    panel.online.setChecked(False)
    assert "learning from the shot" not in panel.estimate_label.text()
