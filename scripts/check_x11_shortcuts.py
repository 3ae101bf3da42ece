"""Press the window's multi-key shortcuts through a real X11 keyboard and check what they did.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/check_x11_shortcuts.py

Needs Xvfb and xdotool (Debian: `apt-get install xvfb xdotool`). The offscreen platform the test
suite uses has no X11 key mapper, so it cannot show what made these keys ambiguous on Linux
(Shift+. arrives as ">" with Shift, which also matched a registered "Shift+."); this script sends
the keys through XTEST to the focused window. Exit code 1 if any key did not do its job.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import numpy as np
    from PySide6.QtCore import QStandardPaths, QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    messages: list[str] = []
    qInstallMessageHandler(lambda _mode, _ctx, message: messages.append(message))
    QStandardPaths.setTestModeEnabled(True)
    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from tests.synthetic import make_clip, write_image_folder

    clip = Path(tempfile.mkdtemp()) / "clip"
    frames, _ = make_clip(num_frames=30, height=96, width=128, seed=5)
    write_image_folder(clip, frames)
    window = MainWindow(device="cpu")
    window.show()
    window.open_path(str(clip))
    doc = window.document
    # key, expected frame from 15, whether it redoes, expected in/out range afterwards
    full = (0, 29)
    checks = [("shift+period", 25, False, full), ("shift+comma", 5, False, full)]
    checks += [("period", 16, False, full), ("ctrl+shift+z", 15, True, full)]
    checks += [("ctrl+y", 15, True, full), ("alt+i", 15, False, (15, 29))]
    checks += [("alt+o", 15, False, (15, 15)), ("alt+x", 15, False, full)]
    failures = []

    def run() -> None:
        subprocess.run(["xdotool", "windowfocus", "--sync", str(int(window.winId()))], check=False)
        window.canvas.setFocus()
        for key, frame, redoes, work_range in checks:
            doc.set_frame(15)
            if redoes:
                doc.commit_mask(doc.active_object_id, 3, np.ones((96, 128), bool), "stroke")
                doc.undo_stack.undo()
            before = doc.undo_stack.index()
            messages.clear()
            subprocess.run(["xdotool", "key", key], check=True)
            end = time.time() + 0.5
            while time.time() < end:
                app.processEvents()
            redone = doc.undo_stack.index() != before
            ambiguous = [m for m in messages if "mbiguous" in m]
            in_out = doc.work_range()
            ok = doc.current_frame == frame and redone == redoes and in_out == work_range
            ok = ok and not ambiguous
            print(
                f"{key:<14} frame {doc.current_frame:>2} redo {redone!s:<5} range {in_out} "
                f"{ambiguous or ''}"
            )
            if not ok:
                failures.append(key)
        app.quit()

    QTimer.singleShot(1500, run)
    app.exec()
    window.close()
    print("all shortcuts fired" if not failures else f"FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
