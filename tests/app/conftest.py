"""pytest-qt set-up: offscreen Qt (tests/conftest.py), isolated settings/paths, no leaked threads."""

import pytest
from PySide6.QtCore import QSettings, QStandardPaths, QThread

from tests.qt_helpers import TIMEOUT_MS, new_window
from tests.synthetic import make_clip, write_image_folder

QStandardPaths.setTestModeEnabled(True)  # autosave/demo folders go to a test location


@pytest.fixture(autouse=True)
def no_leaked_threads(qapp):
    """Fail any test that leaves a QThread running (an engine not stopped)."""
    yield
    from app.engine_thread import EngineThread

    leaked = [t for t in EngineThread.live_threads() if t.isRunning()]
    for thread in leaked:
        thread.quit()
        thread.wait(5000)
    assert not leaked, f"{len(leaked)} QThread(s) left running"
    assert QThread.currentThread() is qapp.thread()


@pytest.fixture
def clip_folder(tmp_path):
    frames, labels = make_clip(num_frames=10, height=96, width=128, seed=5)
    folder = tmp_path / "clip"
    write_image_folder(folder, frames)
    return folder, labels


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings, clip_folder):
    win = new_window(qtbot, settings)
    win.resize(900, 600)
    win.show()
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(clip_folder[0]))
    # the window's own (queued) model_ready handler lets training start
    qtbot.waitUntil(lambda: win.train_controller.engine_ready, timeout=TIMEOUT_MS)
    yield win
    win.close()
