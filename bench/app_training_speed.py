"""How fast the desktop app trains, against the panel's redraws (run with pytest: it drives the
whole app offscreen, in-process, as the app tests do).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider -s \
        bench/app_training_speed.py --clip FOLDER --mask FIRST_FRAME_MASK.png \
        [--panel throttled|every-step|none] [--out result.json]

Opens FOLDER (an image sequence) with the shipped parents, paints FIRST_FRAME_MASK's object on
frame 0 with the brush, turns on "Keep learning from the shot", trains at Balanced and waits for
the two online rounds. Reports the seconds of the first training and of the rounds, and the
seconds per head step of the last round (its step-to-step time as the engine reports it).
--panel: how the train panel draws progress: "throttled" (the app as shipped: at most every
app.train_panel.REDRAW_INTERVAL_S), "every-step" (REDRAW_INTERVAL_S = 0: a redraw per step, the
app before the throttle) or "none" (the panel gets no progress at all: the floor).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

import app.train_panel
from bench.app_session import TIMEOUT_MS, open_clip_in_app
from tests.qt_helpers import paint_object


def test_app_training_speed(qtbot, tmp_path, pytestconfig):
    clip = Path(pytestconfig.getoption("--clip"))
    mask = Path(pytestconfig.getoption("--mask"))
    panel_mode = pytestconfig.getoption("--panel")
    out = pytestconfig.getoption("--out")
    torch.set_num_threads(2)
    if panel_mode == "every-step":
        app.train_panel.REDRAW_INTERVAL_S = 0.0
    win, labels = open_clip_in_app(qtbot, tmp_path, clip, mask)
    panel = win.train_panel
    panel.auto_train.setChecked(False)
    panel.online.setChecked(True)
    panel.slider.setValue(50)
    paint_object(qtbot, win, labels, 0)
    if panel_mode == "none":
        win.engine.training_progress.disconnect(panel.show_progress)
    steps = []
    win.engine.training_progress.connect(
        lambda p: (
            steps.append(time.perf_counter()) if p.phase == "training" and p.stage == "" else None
        )
    )
    started = time.perf_counter()
    with qtbot.waitSignal(win.engine.training_finished, timeout=TIMEOUT_MS):
        assert win.train_controller.train()
    trained = time.perf_counter()
    last_round_from = len(steps)
    with qtbot.waitSignal(win.engine.online_finished, timeout=TIMEOUT_MS):
        pass
    finished = time.perf_counter()
    last_round = steps[last_round_from:][-900:]
    result = {
        "panel": panel_mode,
        "threads": torch.get_num_threads(),
        "training_s": round(trained - started, 1),
        "online_rounds_s": round(finished - trained, 1),
        "last_round_s_per_head_step": round(
            (last_round[-1] - last_round[0]) / max(1, len(last_round) - 1), 4
        ),
    }
    print(json.dumps(result))
    if out:
        Path(out).write_text(json.dumps(result))
    win.close()
