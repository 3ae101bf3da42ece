"""How close the train panel's cost line comes to what the app then takes (run with pytest: it
drives the whole app offscreen, in-process, as the app tests do).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider -s \
        bench/estimate_accuracy.py --clip FOLDER --mask FIRST_FRAME_MASK.png [--out result.json]

Opens FOLDER (an image sequence) with the shipped parents and, at Balanced, reads the panel's
estimate of the first training, of a pass over every frame and of the online rounds ("Keep
learning from the shot") twice: when the clip has opened, and after the first training and
pass (when the rounds are about to start). Then measures each. Every estimate is given twice:
as the panel shows it (the machine's measured pace, core.shot.plan.CostModel.pace) and from the
dev machine's unit costs alone (a CostModel that measured nothing: what the panel showed before
the pace existed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from bench.app_session import TIMEOUT_MS, open_clip_in_app
from core.shot.online import OnlineConfig, estimate_online
from core.shot.plan import CostModel, estimate_run
from core.shot.presets import Preset
from tests.qt_helpers import paint_object


def _estimates(costs: CostModel, recipe, num_frames: int, models_trained: int) -> dict:
    run = estimate_run(
        costs,
        recipe,
        models_trained=models_trained,
        correction=False,
        num_keyframes=1,
        num_frames=num_frames,
    )
    online = estimate_online(costs, recipe, [0], num_frames, OnlineConfig(rounds=2))
    return {
        "training_s": round(run.train_s, 1),
        "pass_s": round(run.per_frame_s * num_frames, 1),
        "online_s": round(online, 1),
    }


def test_estimate_accuracy(qtbot, tmp_path, pytestconfig):
    clip = Path(pytestconfig.getoption("--clip"))
    mask = Path(pytestconfig.getoption("--mask"))
    out = pytestconfig.getoption("--out")
    torch.set_num_threads(2)
    win, labels = open_clip_in_app(qtbot, tmp_path, clip, mask)
    controller, panel, doc = win.train_controller, win.train_panel, win.document
    panel.auto_train.setChecked(False)
    panel.slider.setValue(50)
    recipe = win.engine.recipes(Preset.BALANCED)
    num_frames = doc.num_frames

    def estimate_now(models_trained: int) -> dict:
        costs = controller._costs
        units_only = CostModel(costs.frame_size, parents=tuple(costs.parents))
        return {
            "panel": _estimates(costs, recipe, num_frames, models_trained),
            "dev_units": _estimates(units_only, recipe, num_frames, models_trained),
            "pace": {"train": costs.pace.train, "frames": costs.pace.frames},
        }

    at_open = estimate_now(0)
    at_open["panel_line"] = panel.estimate_label.text()
    paint_object(qtbot, win, labels, 0)
    segmented = []
    win.engine.frame_segmented.connect(lambda *args: segmented.append(time.perf_counter()))
    started = time.perf_counter()
    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert controller.train()
    trained = time.perf_counter()
    with qtbot.waitSignal(win.engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    passed = time.perf_counter()
    # pytest-qt's wait ends in the engine's thread, before the panel has taken the costs the
    # engine sent just ahead of the idle signal; the controller's own idle handler runs after
    qtbot.waitUntil(lambda: controller._segmentation_idle, timeout=TIMEOUT_MS)
    before_rounds = estimate_now(1)
    rounds_started = time.perf_counter()
    with qtbot.waitSignal(win.engine.online_finished, timeout=TIMEOUT_MS):
        panel.online.setChecked(True)  # the rounds start at once: every frame has its result
    with qtbot.waitSignal(win.engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass  # the refresh of every result with the averaged networks
    rounds_done = time.perf_counter()
    result = {
        "clip": str(clip),
        "frames": num_frames,
        "threads": torch.get_num_threads(),
        "at_open": at_open,
        "before_rounds": before_rounds,
        "measured": {
            "training_s": round(trained - started, 1),
            # the frames the pass segmented after training (the visible one came during it)
            "pass_s": round(passed - trained, 1),
            "pass_frames": sum(1 for t in segmented if trained < t <= passed),
            "online_s": round(rounds_done - rounds_started, 1),
        },
    }
    print(json.dumps(result, indent=1))
    if out:
        Path(out).write_text(json.dumps(result, indent=1))
    win.close()
