"""Start the real app (run it under Xvfb), open the demo clip, paint, train, save a screenshot.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py docs/screenshot.png
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py docs/hints.png \
        --clip ../shared/data/davis2016-dev/JPEGImages/480p/parkour --hints --show-frame 0

--hints paints as an artist does with Strokes as Hints on: two strokes across the object and a
loop of background strokes around it (right button), instead of filling the object row by row.
--clip takes a DAVIS sequence (its first ground-truth mask guides the strokes).

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
    parser.add_argument("--clip", help="a DAVIS JPEGImages sequence folder (default: the demo)")
    parser.add_argument("--hints", action="store_true", help="a few strokes, not a full fill")
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
    if args.clip:
        from core.annotations import read_label_mask

        clip = Path(args.clip)
        first = sorted(clip.glob("*.jpg"))[0].stem
        truth = read_label_mask(
            Path(str(clip).replace("JPEGImages", "Annotations")) / f"{first}.png"
        )
    else:
        clip = ensure_demo_clip(data_dir() / "demo")
        truth = demo_frame(0)[1]
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
    ys, xs = np.nonzero(truth)
    canvas.set_brush_size(10)

    def stroke(points, button=Qt.LeftButton):
        points = [canvas.mapFromScene(QPointF(x, y)) for x, y in points]
        QTest.mousePress(canvas.viewport(), button, pos=points[0])
        for point in points[1:]:
            QTest.mouseMove(canvas.viewport(), point)
        QTest.mouseRelease(canvas.viewport(), button, pos=points[-1])

    if args.hints:
        cy, cx = int(ys.mean()), int(xs.mean())
        row, column = xs[ys == cy], ys[xs == cx]
        stroke([(row.min() + 8, cy), (row.max() - 8, cy)])
        stroke([(cx, column.min() + 8), (cx, column.max() - 8)])
        height, width = truth.shape
        top, bottom = max(6, ys.min() - 30), min(height - 6, ys.max() + 30)
        left, right = max(6, xs.min() - 30), min(width - 6, xs.max() + 30)
        loop = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
        stroke(loop, Qt.RightButton)
    else:
        window.canvas.set_paint_hints(False)  # the whole object, filled row by row
        for y in range(ys.min() + 4, ys.max() - 3, 8):
            row = xs[ys == y]
            stroke([(row.min() + 5, y), (row.max() - 5, y)])
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
