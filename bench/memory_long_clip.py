"""Resident memory of the whole app while it segments a long clip and the user scrubs it.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/memory_long_clip.py [--frames 1000]
        [--width 1920 --height 1080] [--minutes 12]

A generated clip (the demo clip's frames upscaled, JPEG) is opened in the app window
(offscreen), the object is painted on frame 0 at the Fast setting with auto-train, and while the
engine trains and segments, the "user" scrubs: a jump to a random frame every 0.5 s and a sweep
through 30 frames every 5 s. Every second the process RSS (/proc, the whole app with Qt and
torch), the frames done and the bytes of results held in memory are recorded. Prints a JSON
summary with the curve (one point every 10 s) for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.process_stats import rss_mb  # noqa: E402


def write_clip(folder: Path, num_frames: int, size: tuple[int, int]):
    """num_frames JPEGs of the demo clip at `size` (W, H); returns (folder, frame-0 mask)."""
    import cv2

    from core.demo import demo_frame

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jpg"))) != num_frames:
        for t in range(num_frames):
            image, _ = demo_frame(t % 60)
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            path = folder / f"plate.{1001 + t:05d}.jpg"
            cv2.imwrite(
                str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
            )
    _, mask = demo_frame(0)
    mask = cv2.resize(mask.astype("uint8"), size, interpolation=cv2.INTER_NEAREST) > 0
    return folder, mask


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/rotoshot-memory-bench")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--minutes", type=float, default=12.0, help="stop after this long")
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import torch
    from PySide6.QtCore import QEventLoop, QStandardPaths, QTimer
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(2)
    QStandardPaths.setTestModeEnabled(True)
    _qt_app = QApplication(sys.argv[:1])  # kept alive for the whole run
    from app.main_window import MainWindow
    from app.project_controller import autosave_folder

    folder, mask = write_clip(
        Path(args.work) / f"clip{args.frames}_{args.width}x{args.height}",
        args.frames,
        (args.width, args.height),
    )
    import shutil

    shutil.rmtree(autosave_folder(str(folder)), ignore_errors=True)
    window = MainWindow(device="cpu")
    window.resize(1400, 850)
    window.show()

    def spin(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    ready = []
    window.engine.model_ready.connect(lambda *a: ready.append(a))
    window.open_path(str(folder))
    while not (ready and window.train_controller.engine_ready):
        spin(0.1)
    doc = window.document
    window.train_panel.slider.setValue(0)
    window.train_panel.auto_train.setChecked(True)
    rss_open = rss_mb()

    idle = []
    window.engine.segmentation_idle.connect(lambda: idle.append(time.perf_counter()))
    rng = random.Random(0)
    t0 = time.perf_counter()
    doc.commit_mask(doc.active_object_id, 0, mask, "Brush stroke")
    curve, peak = [], rss_open
    last_jump = last_sweep = 0.0
    while True:
        now = time.perf_counter() - t0
        if now - last_jump >= 0.5:
            doc.set_frame(rng.randrange(args.frames))
            last_jump = now
        if now - last_sweep >= 5.0:
            start = rng.randrange(max(1, args.frames - 30))
            for f in range(start, start + 30):
                doc.set_frame(f)
                spin(0.01)
            last_sweep = now
        spin(1.0 - (time.perf_counter() - t0 - now) % 1.0)
        rss = rss_mb()
        peak = max(peak, rss)
        done = sum(1 for f in range(args.frames) if doc.result_state(f) == 1)
        curve.append((round(time.perf_counter() - t0), round(rss), done, doc.results.memory_bytes))
        finished = idle and window.train_controller.current_job is None and done == args.frames
        if finished or time.perf_counter() - t0 > args.minutes * 60:
            break
    window.close()
    summary = {
        "frames": args.frames,
        "size": f"{args.width}x{args.height}",
        "rss_after_open_mb": round(rss_open),
        "rss_peak_mb": round(peak),
        "frames_segmented": curve[-1][2],
        "seconds": curve[-1][0],
        "result_memory_mb_at_end": round(curve[-1][3] / 1e6),
        "curve_every_10s_(s,rss_mb,frames_done,result_mb)": [
            (s, r, d, round(b / 1e6)) for s, r, d, b in curve[::10]
        ],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
