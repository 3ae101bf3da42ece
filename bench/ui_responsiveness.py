"""UI responsiveness while the engine trains and segments (run offscreen, whole app in-process).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/ui_responsiveness.py [--quality Q]
        [--keyframes 2] [--busy N]

Measures, on a generated 480p clip:
1. event-loop stalls on the UI thread (a 5 ms heartbeat timer; stall = lateness) while a
   fast-end training and the segmentation of a 100-frame clip run in the engine thread;
2. first annotation -> network overlay on the visible (unpainted) frame;
3. correction stroke -> the corrected visible frame redrawn, and -> the retrained model's result
   on the next visible frame;
4. resident memory while scrubbing through a 1,000-frame clip (frames decoded on demand);
5. the encode stage's share of the first training run (caching augmented views of the keyframes:
   "Encoding annotated frames" in the panel). --keyframes 2 paints frames 0 and 99; --busy N runs
   N busy processes beside the app (a machine shared with other work) to tell contention from
   work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.process_stats import rss_mb  # noqa: E402


def write_clip(folder: Path, num_frames: int) -> Path:
    import cv2

    from core.demo import demo_frame

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jpg"))) != num_frames:
        for t in range(num_frames):
            image, _ = demo_frame(t % 60)
            cv2.imwrite(str(folder / f"f.{t:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/rotoshot-ui-bench")
    parser.add_argument("--weights", default="parent")
    parser.add_argument("--quality", type=float, default=0.0, help="the speed/quality slider")
    parser.add_argument("--keyframes", type=int, default=1, choices=[1, 2])
    parser.add_argument("--busy", type=int, default=0, help="busy processes beside the app")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--adaptive", action="store_true", help="let the engine use fewer threads under load"
    )
    args = parser.parse_args()
    import subprocess

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]

    import main as entry

    entry.tune_allocator()
    import numpy as np
    import torch
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QStandardPaths, QTimer
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(args.threads)
    QStandardPaths.setTestModeEnabled(True)
    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.project_controller import autosave_folder
    from core.demo import demo_frame

    work = Path(args.work)
    clip100 = write_clip(work / "clip100", 100)
    import shutil

    shutil.rmtree(autosave_folder(str(clip100)), ignore_errors=True)

    window = MainWindow(device="cpu", max_threads=args.threads if args.adaptive else 0)
    window.engine._weights = args.weights
    window.resize(1400, 850)
    window.show()

    def spin(predicate, timeout_s):
        """Run the app's event loop until predicate() (checked every 10 ms) or the timeout.

        A real QEventLoop, as in the app, which sleeps when idle: a driver polling
        processEvents() in a loop would steal a core from the engine's two torch threads.
        """
        end = time.perf_counter() + timeout_s
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(10)
        poll.timeout.connect(
            lambda: loop.quit() if predicate() or time.perf_counter() > end else None
        )
        poll.start()
        if not predicate():
            loop.exec()
        poll.stop()
        return predicate()

    ready = []
    window.engine.model_ready.connect(lambda *a: ready.append(a))
    window.open_path(str(clip100))
    spin(lambda: ready and window.train_controller.engine_ready, 60)

    # Heartbeat: a 5 ms timer; lateness of each tick is the event-loop stall.
    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick():
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - 5.0))
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(tick)

    doc = window.document
    window.train_panel.slider.setValue(int(round(args.quality * 100)))
    window.train_panel.auto_train.setChecked(True)
    visible = 50
    results = {}
    arrivals: dict[int, float] = {}
    doc.result_changed.connect(
        lambda f: arrivals.setdefault((doc.model_version, f), time.perf_counter())
    )
    idle = []
    window.engine.segmentation_idle.connect(lambda: idle.append(time.perf_counter()))

    progress = []
    window.engine.training_progress.connect(progress.append)
    run_times = []
    window.engine.training_started.connect(lambda: run_times.append([time.perf_counter()]))
    window.engine.training_finished.connect(lambda *a: run_times[-1].append(time.perf_counter()))
    heartbeat.start()
    _, mask = demo_frame(0)
    t0 = time.perf_counter()
    if args.keyframes == 2:
        _, last_mask = demo_frame(99 % 60)
        doc.undo_stack.beginMacro("Two keyframes")
        doc.commit_mask(doc.active_object_id, 99, last_mask, "Brush stroke")
    doc.commit_mask(doc.active_object_id, 0, mask, "Brush stroke")  # the artist's first keyframe
    if args.keyframes == 2:
        doc.undo_stack.endMacro()
    doc.set_frame(visible)  # ...and looks at another frame
    spin(lambda: any(f == visible for (_v, f) in arrivals), 120)
    first_overlay = min(t for (v, f), t in arrivals.items() if f == visible) - t0
    spin(lambda: idle and window.train_controller.current_job is None, 900)
    all_done = idle[-1] - t0
    heartbeat.stop()
    stalls = np.array(lateness)
    results["stall_p50_ms"] = round(float(np.percentile(stalls, 50)), 1)
    results["stall_p99_ms"] = round(float(np.percentile(stalls, 99)), 1)
    results["stall_max_ms"] = round(float(stalls.max()), 1)
    results["heartbeats"] = int(len(stalls))
    results["first_annotation_to_visible_overlay_s"] = round(first_overlay, 2)
    results["first_annotation_to_all_100_frames_s"] = round(all_done, 1)
    # encode stage: each fine-tune's "preparing" ticks carry its own elapsed time; a plan step
    # is told apart by its step offset (the step count when it started)
    encode: dict[int, float] = {}
    for p in progress:
        if p.phase == "preparing":
            encode[p.step] = max(encode.get(p.step, 0.0), p.elapsed_s)
    finished_runs = [t for t in run_times if len(t) == 2]
    train_s = finished_runs[-1][1] - finished_runs[-1][0] if finished_runs else float("nan")
    results["training_run_s"] = round(train_s, 1)
    results["encode_s"] = round(sum(encode.values()), 1)
    results["encode_share_of_training"] = round(sum(encode.values()) / train_s, 2)
    progress.clear()

    # Correction: erase a blob on the visible frame; time until that frame redraws (it is an
    # annotation now), then until the retrained model's result arrives on the next frame.
    redrawn = []
    doc.annotation_changed.connect(
        lambda _o, f: redrawn.append(time.perf_counter()) if f == visible else None
    )
    version_before = doc.model_version
    correction, _, painted = doc.editable_keyframe(doc.active_object_id, visible, hints=True)
    stroke = np.zeros(correction.shape, bool)
    stroke[:40, :40] = stroke[200:230, 400:430] = True
    correction[:40, :40] = False
    correction[200:230, 400:430] = True
    painted = painted.painted_over(stroke) if painted is not None else None  # as the brush does
    arrivals.clear()
    t1 = time.perf_counter()
    doc.commit_mask(doc.active_object_id, visible, correction, "Brush stroke", correction=painted)
    spin(lambda: redrawn, 5)
    results["correction_to_visible_frame_redrawn_s"] = round(redrawn[0] - t1, 3)
    doc.set_frame(visible + 1)
    spin(lambda: any(v > version_before and f == visible + 1 for (v, f) in arrivals), 120)
    hits = [t for (v, f), t in arrivals.items() if v > version_before and f == visible + 1]
    results["correction_to_retrained_next_frame_s"] = round(min(hits) - t1, 2) if hits else None

    # Memory on a long clip: scrub 1,000 frames (decoded on demand, LRU-cached).
    clip1000 = write_clip(work / "clip1000", 1000)
    window.train_controller.stop()
    ready.clear()
    window.open_path(str(clip1000))
    spin(lambda: ready and window.train_controller.engine_ready, 60)
    rss_start = rss_mb()
    peak = rss_start
    for f in range(0, 1000, 3):
        doc.set_frame(f)
        app.processEvents()
        peak = max(peak, rss_mb())
    results["rss_after_open_1000_mb"] = round(rss_start)
    results["rss_peak_scrubbing_1000_mb"] = round(peak)
    window.close()
    for process in busy:
        process.kill()
    results.update(
        quality=args.quality,
        keyframes=args.keyframes,
        busy_processes=args.busy,
        torch_threads=args.threads,
        adaptive_threads=args.adaptive,
    )
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
