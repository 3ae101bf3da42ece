"""The headless CLI: happy paths and one clear error line (exit 2, no traceback) for bad input."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import run_cli, segment_one
from tests.synthetic import iou, make_clip, write_image_folder, write_mask

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames, labels = make_clip(num_frames=8, height=96, width=128, num_objects=2, seed=4)
    write_image_folder(folder / "frames", frames)
    write_mask(folder / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    write_mask(folder / "two.png", labels[0])  # label map with ids 1 and 2
    write_mask(folder / "empty.png", np.zeros((96, 128), np.uint8))
    write_mask(folder / "small.png", np.full((48, 64), 255, np.uint8))
    (folder / "bad.mp4").write_bytes(b"not a video at all")
    return folder, labels


def test_segment_single_object(clip_dir, tmp_path, capsys):
    folder, labels = clip_dir
    out = tmp_path / "out"
    code, _, err = segment_one(folder, out, capsys)
    assert code == 0, err
    files = sorted(out.glob("*.png"))
    assert [f.stem for f in files] == [f"frame_{i:05d}" for i in range(8)]
    mattes = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]
    assert all(m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255} for m in mattes)
    assert np.mean([iou(m > 0, labels[i] == 1) for i, m in enumerate(mattes)]) > 0.75


def test_segment_multi_object_label_map(clip_dir, tmp_path, capsys):
    folder, labels = clip_dir
    out = tmp_path / "out"
    code, _, err = run_cli(
        [
            "segment",
            str(folder / "frames"),
            "--annotation",
            f"0:{folder / 'two.png'}",
            "--out",
            str(out),
            "--weights",
            "imagenet",
        ],
        capsys,
    )
    assert code == 0, err
    label_map = cv2.imread(str(out / "frame_00005.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(label_map)) <= {0, 1, 2}
    for object_id in (1, 2):
        matte = cv2.imread(str(out / str(object_id) / "frame_00005.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(matte > 0, label_map == object_id)
        assert iou(matte > 0, labels[5] == object_id) > 0.6


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_frames", "no such file"),
        ("missing_mask", "mask file not found"),
        ("size_mismatch", "64x48 but the frames are 128x96"),
        ("empty_mask", "empty"),
        ("index_out_of_range", "out of range"),
        ("bad_index", "not a frame index"),
        ("unreadable_video", "cannot"),
        ("no_annotation", "at least one --annotation"),
    ],
)
def test_segment_bad_input_gives_one_clear_line(clip_dir, tmp_path, capsys, case, message):
    folder, _ = clip_dir
    frames, mask = str(folder / "frames"), str(folder / "one.png")
    args = {
        "missing_frames": [str(folder / "nope"), "--annotation", f"0:{mask}"],
        "missing_mask": [frames, "--annotation", f"0:{folder / 'nope.png'}"],
        "size_mismatch": [frames, "--annotation", f"0:{folder / 'small.png'}"],
        "empty_mask": [frames, "--annotation", f"0:{folder / 'empty.png'}"],
        "index_out_of_range": [frames, "--annotation", f"8:{mask}"],
        "bad_index": [frames, "--annotation", f"first:{mask}"],
        "unreadable_video": [str(folder / "bad.mp4"), "--annotation", f"0:{mask}"],
        "no_annotation": [frames],
    }[case]
    code, _, err = run_cli(["segment", *args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rotoshot: error:"), err
    assert message in lines[0]
    assert "Traceback" not in err


def test_evaluate_prints_davis_table(tmp_path, capsys):
    gt = tmp_path / "gt"
    pred = tmp_path / "pred"
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    for i in range(4):
        write_mask(gt / f"{i:05d}.png", mask)
        write_mask(pred / f"{i:05d}.png", mask if i != 2 else np.zeros_like(mask))
    code, out, _ = run_cli(["evaluate", str(pred), str(gt)], capsys)
    assert code == 0
    # frames 1 and 2 are scored (first/last excluded): J = (1 + 0) / 2
    assert "J mean 50.0" in out and "F mean 50.0" in out and "J&F 50.0" in out


def test_evaluate_missing_predictions(tmp_path, capsys):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_mask(gt / "00000.png", np.zeros((8, 8), np.uint8))
    pred.mkdir()
    code, _, err = run_cli(["evaluate", str(pred), str(gt)], capsys)
    assert code == 2 and "predictions missing" in err


def test_cli_as_a_real_process_has_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "segment",
            str(tmp_path / "nothing.mp4"),
            "--annotation",
            "0:x.png",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"rotoshot: error: no such file or folder: {tmp_path / 'nothing.mp4'}"
    )


def test_segment_without_fine_tuning(clip_dir, tmp_path, capsys):
    folder, _ = clip_dir
    out = tmp_path / "out"
    code, _, err = segment_one(folder, out, capsys, "--steps", "0")
    assert code == 0, err
    assert len(list(out.glob("*.png"))) == 8
