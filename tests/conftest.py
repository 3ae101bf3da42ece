"""Test-wide set-up: headless Qt (before any Qt import) and a small, fixed torch thread count."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

# One thread: test workloads are tiny images, and a second busy-waiting OpenMP thread competes
# with the Qt thread (and with anything else running on a 2-core machine).
torch.set_num_threads(1)


def _deliver_blocker_callbacks_in_the_ui_thread() -> None:
    """pytest-qt's waitSignal connects its callback as a plain function, which PySide runs in
    the emitting thread: for the engine's signals that is the engine thread, where the callback
    stops the blocker's QTimer. Qt cannot stop a timer from another thread, the timer stays
    registered after the blocker is freed, and a later event-loop turn crashed the suite
    (SIGSEGV in QTimerInfoList::activateTimers). Here a callback arriving in another thread is
    handed to the UI thread through a queued signal, as the app's own controllers receive the
    engine's signals."""
    import threading

    from PySide6.QtCore import QObject, Signal
    from pytestqt.wait_signal import MultiSignalBlocker, SignalBlocker

    class _ToUiThread(QObject):
        call = Signal(object)

        def __init__(self) -> None:
            super().__init__()  # created here, in the UI (main) thread
            self.call.connect(self._run)

        def _run(self, callback) -> None:
            callback()

    relay = _ToUiThread()

    def in_ui_thread(method):
        def wrapper(self, *args):
            if threading.current_thread() is threading.main_thread():
                return method(self, *args)
            relay.call.emit(lambda: method(self, *args))
            return None

        return wrapper

    SignalBlocker._quit_loop_by_signal = in_ui_thread(SignalBlocker._quit_loop_by_signal)
    MultiSignalBlocker._unique_signal_emitted = in_ui_thread(
        MultiSignalBlocker._unique_signal_emitted
    )
    tests_relay.append(relay)  # kept alive for the session


tests_relay: list = []
_deliver_blocker_callbacks_in_the_ui_thread()
