"""The engine's own QThread: started with the Engine moved into it, stopped cleanly (the
engine retires in its thread after its current job), and Python's garbage collection kept to
the UI thread while it runs."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QMetaObject, QObject, Qt, QThread

from app.engine import Engine


def collect_garbage_in_ui_thread() -> None:
    """Switch Python's automatic cyclic garbage collection to a timer of the UI thread (once per
    application; pyqtgraph's GarbageCollector). Otherwise a collection can start in the engine
    thread and free a Qt object of the UI thread there: Qt cannot unregister that object's
    timers from another thread, and the UI thread then crashes (SIGSEGV in
    QTimerInfoList::activateTimers, seen in the test suite)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app = QCoreApplication.instance()
    if app is not None and getattr(app, "_rotoshot_collector", None) is None:
        app._rotoshot_collector = GarbageCollector(interval=1.0)


class EngineThread(QObject):
    """Starts the Engine in its own QThread and stops it cleanly."""

    _live: list[QThread] = []  # started and not yet stopped (tests check none leak)

    @classmethod
    def live_threads(cls) -> list[QThread]:
        return list(cls._live)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_in_ui_thread()
        self.engine = engine
        self.thread = QThread()
        EngineThread._live.append(self.thread)
        self.thread.setObjectName("rotoshot-engine")
        engine.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        """Retire the engine in its thread (`Engine.retire`, queued after the current job) and
        wait for the thread to end."""
        if self.thread.isRunning():
            QMetaObject.invokeMethod(self.engine, "retire", Qt.QueuedConnection)
            if not self.thread.wait(30_000):
                self.thread.quit()
                self.thread.wait(5_000)
        if self.thread in EngineThread._live and not self.thread.isRunning():
            EngineThread._live.remove(self.thread)
