"""Kill -9 while painting, autosaving, saving a model, caching results and exporting: every
released keyframe is there after reopening and every file decodes (the short version of
bench/kill_harness.py, whose long run is reported in docs/RELIABILITY.md)."""

import cv2
import numpy as np

from bench.kill_harness import Journal, check, run_harness


def test_killed_workers_lose_no_released_stroke_and_leave_no_damaged_file(tmp_path):
    result = run_harness(rounds=4, seed=7, max_delay=1.0, root=tmp_path)
    assert result["problems"] == []
    assert result["rounds"] == 4
    assert result["saves completed"] > 20  # the workers really were writing when killed
    assert result["keyframes present"] > 0


def test_the_check_sees_a_lost_stroke_and_a_damaged_file(tmp_path):
    run_harness(rounds=1, seed=3, max_delay=0.5, root=tmp_path)
    project, export = tmp_path / "shot", tmp_path / "export"
    stems = [p.stem for p in sorted((tmp_path / "clip").iterdir())]
    journal = Journal()
    check(project, export, journal, stems)  # a fresh journal learns what is on disk
    assert check(project, export, journal, stems)["problems"] == []

    keyframe = next((project / "annotations").rglob("*.png"))
    image = cv2.imread(str(keyframe), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(keyframe), np.where(image > 0, 0, 255).astype(np.uint8))  # a stroke lost
    (export / "half.png").write_bytes(cv2.imencode(".png", np.ones((9, 9), np.uint8))[1][:40])
    problems = check(project, export, journal, stems)["problems"]
    assert any(f"key:{keyframe.parent.name}:" in p and "holds" in p for p in problems)
    assert any("does not decode" in p and "half.png" in p for p in problems)

    keyframe.write_bytes(b"")  # 0 bytes: skipped on open, named
    assert any("skipped" in p for p in check(project, export, journal, stems)["problems"])
