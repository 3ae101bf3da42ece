"""The whole app opened on a clip, as the pytest-driven app benchmarks in this folder use it
(bench/app_training_speed.py, bench/estimate_accuracy.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings

from tests.qt_helpers import new_window

TIMEOUT_MS = 900_000


def open_clip_in_app(qtbot, tmp_path: Path, clip: Path, mask: Path):
    """A main window with the shipped parents, opened on a copy of the image-sequence folder
    `clip` and ready to train -> (window, {0: the mask's object (H, W) uint8 0/1})."""
    folder = tmp_path / "clip"
    shutil.copytree(clip, folder)
    labels = {0: (np.array(Image.open(mask)) > 0).astype(np.uint8)}
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = new_window(qtbot, settings)
    win.engine._weights = "parent"  # the shipped parents, as the app runs
    win.resize(1400, 900)
    win.show()
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(folder))
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    return win, labels
