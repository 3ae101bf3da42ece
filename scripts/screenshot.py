"""Start the real app (run it under Xvfb), open the demo clip, paint, train, save a screenshot.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py docs/screenshot.png

The strokes are real mouse events on the canvas, following the demo object's known shape; the
screenshot is taken on a frame the network segmented (not a painted one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--show-frame", type=int, default=40)
    parser.add_argument("--quality", type=float, default=0.0)
    parser.add_argument(
        "--while-second-model",
        action="store_true",
        help="at Best: grab while the second model trains (the first model's results streaming)",
    )
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import numpy as np
    from PySide6.QtCore import QPointF, QStandardPaths, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    QStandardPaths.setTestModeEnabled(True)  # a scratch autosave location, not the user's
    app = QApplication(sys.argv[:1])
    import shutil

    from app.main_window import MainWindow
    from app.project_controller import autosave_folder, data_dir
    from core.demo import demo_frame, ensure_demo_clip

    window = MainWindow(device="cpu")
    window.resize(1500, 900)
    window.show()
    clip = ensure_demo_clip(data_dir() / "demo")
    # Start from a fresh shot: an autosave of an earlier run would restore its strokes/results.
    shutil.rmtree(autosave_folder(str(clip)), ignore_errors=True)
    ready = []
    window.engine.model_ready.connect(lambda *a: ready.append(a))
    window.open_path(str(clip))

    def wait_until(predicate, seconds):
        end = time.time() + seconds
        while not predicate() and time.time() < end:
            app.processEvents()  # a script driving the app from outside, not app code
            time.sleep(0.01)
        return predicate()

    # model_ready reaches this lambda directly; the window's own (queued) handler, which
    # restores a saved model and lets training start, runs on a later event-loop turn.
    wait_until(lambda: ready and window.train_controller.engine_ready, 60)
    window.train_panel.auto_train.setChecked(False)
    window.train_panel.slider.setValue(int(args.quality * 100))
    canvas = window.canvas
    _, mask = demo_frame(0)
    ys, xs = np.nonzero(mask)
    canvas.set_brush_size(10)
    for y in range(ys.min() + 4, ys.max() - 3, 8):
        row = xs[ys == y]
        points = [canvas.mapFromScene(QPointF(x, y)) for x in (row.min() + 5, row.max() - 5)]
        QTest.mousePress(canvas.viewport(), Qt.LeftButton, pos=points[0])
        QTest.mouseMove(canvas.viewport(), points[1])
        QTest.mouseRelease(canvas.viewport(), Qt.LeftButton, pos=points[1])
    window.document.set_frame(args.show_frame)
    finished, idle = [], []
    window.engine.training_finished.connect(lambda *_: finished.append(1))
    window.engine.segmentation_idle.connect(lambda: idle.append(1) if finished else None)
    second = []
    window.engine.training_progress.connect(lambda p: second.append(p) if p.model == 1 else None)
    window.train_controller.train()
    if args.while_second_model:
        wait_until(lambda: len(second) > 150, 600)
    else:
        wait_until(lambda: idle, 600)  # every frame segmented by the final model
    window.document.set_frame(args.show_frame)
    wait_until(lambda: False, 0.5)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
