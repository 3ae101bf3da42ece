"""Guards against a Qt binding that corrupts reference counts (PySide6 6.12.0 on Python 3.11
dropped a reference to None on every void call until the interpreter aborted)."""

import sys

from PySide6.QtWidgets import QWidget


def test_void_calls_keep_none_refcount(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None)
    for _ in range(2000):
        widget.setWindowTitle("Rotoshot")
    assert sys.getrefcount(None) - before > -100
