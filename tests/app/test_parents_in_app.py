"""The app's two parents: the slider's preset names the parent its model starts from, and the
train panel's estimate line names the preset the slider is on."""

import pytest

from core.model.build import LARGE_PARENT_WEIGHTS
from core.shot.presets import LARGE_PARENT, recipe_for
from tests.qt_helpers import TIMEOUT_MS, new_window, paint_object


def test_the_estimate_line_names_the_slider_preset(window):
    panel = window.train_panel
    for value, name in ((50, "Balanced"), (100, "Best"), (0, "Fast")):
        panel.slider.setValue(value)
        assert panel.estimate_label.text().startswith(f"{name} on this clip: ~")
        assert panel.preset_label.text() == name


@pytest.mark.skipif(not LARGE_PARENT_WEIGHTS.exists(), reason="no shipped large parent")
def test_balanced_trains_from_the_shipped_large_parent(qtbot, settings, clip_folder):
    folder, labels = clip_folder
    win = new_window(qtbot, settings)
    win.engine._weights = "parent"  # the shipped parents, as the app runs
    win.show()
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(folder))
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    assert win.engine._session.parents[LARGE_PARENT].backbone_name == "efficientnet-lite2"
    win.engine.recipes = lambda preset: recipe_for(preset).with_overrides(
        steps=10, views_per_frame=2, refine_steps=5
    )
    win.train_panel.auto_train.setChecked(False)
    win.train_panel.slider.setValue(50)
    paint_object(qtbot, win, labels, 0)
    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()
    networks = win.engine._session.model.networks
    assert [n.backbone_name for n in networks] == ["efficientnet-lite2"]
    win.close()
