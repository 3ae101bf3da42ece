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
