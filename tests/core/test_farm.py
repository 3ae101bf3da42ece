"""Farm rendering without Ray: model files, frame ranges, chunks, scores, render queues."""

import json

import cv2
import numpy as np
import pytest
import torch

from core.errors import RotoshotError
from core.farm.frames import chunks_of, parse_frame_range
from core.farm.model_file import load_model_file
from tests.helpers import run_cli
from tests.synthetic import make_clip, write_image_folder, write_mask


def make_plate(folder, num_frames=10, seed=4):
    """A two-object clip numbered plate.1001.png... and frame 0's label mask."""
    frames, labels = make_clip(num_frames=num_frames, height=64, width=96, num_objects=2, seed=seed)
    write_image_folder(folder / "clip", frames)
    for i, path in enumerate(sorted((folder / "clip").iterdir())):
        path.rename(path.with_name(f"plate.{1001 + i}.png"))
    write_mask(folder / "mask.png", labels[0].astype(np.uint8))
    return folder / "clip", folder / "mask.png"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder, clip, model file) of a shot trained once for the module."""
    folder = tmp_path_factory.mktemp("farm")
    clip, mask = make_plate(folder)
    model = folder / "models" / "shot.rsm"
    args = ["train", str(clip), "--annotation", f"0:{mask}", "--weights", "imagenet"]
    assert __import__("main").main([*args, "--steps", "30", "--model", str(model)]) == 0
    return folder, clip, model


def read_outputs(out):
    return {p.relative_to(out).as_posix(): cv2.imread(str(p), -1) for p in out.rglob("*.png")}


def test_frame_ranges_read_like_an_artist_writes_them():
    numbers = [1001, 1002, 1004, 1005]  # 1003 is missing from the plate
    assert parse_frame_range("1001-1005", numbers) == [0, 1, 2, 3]
    assert parse_frame_range("1002, 1004-1005", numbers) == [1, 2, 3]
    for bad, message in [
        ("1000-1002", "outside the clip"),
        ("1005-1001", "ends before"),
        ("10a", "FIRST-LAST"),
        ("1003", "none of these"),
        ("", "FIRST-LAST"),
    ]:
        with pytest.raises(RotoshotError, match=message):
            parse_frame_range(bad, numbers)
    assert chunks_of(list(range(7)), 3) == [(0, 1, 2), (3, 4, 5), (6,)]


def test_a_model_file_is_self_contained_and_refuses_a_tampered_copy(trained, tmp_path):
    _, _, model = trained
    payload, info = load_model_file(model)
    assert info.object_ids == (1, 2) and info.plate_size == (96, 64) and info.preset == "Fast"
    assert set(payload["annotations"]) == {"0"}  # the keyframe travels with the model
    torch.load(model, weights_only=True)  # plain tensors and containers only

    tampered = torch.load(model, weights_only=True)
    tampered["extra"]["object_ids"] = [1, 3]
    torch.save(tampered, tmp_path / "edited.rsm")
    with pytest.raises(RotoshotError, match="checksum"):
        load_model_file(tmp_path / "edited.rsm")
    weights = torch.load(model, weights_only=True)
    next(iter(weights["state_dict"].values())).view(-1)[0] += 1.0
    torch.save(weights, tmp_path / "weights.rsm")
    with pytest.raises(RotoshotError, match="checksum"):
        load_model_file(tmp_path / "weights.rsm")
    (tmp_path / "cut.rsm").write_bytes(model.read_bytes()[:5000])
    with pytest.raises(RotoshotError):
        load_model_file(tmp_path / "cut.rsm")


def test_a_range_in_chunks_equals_the_whole_clip_and_updates_its_scores(trained, capsys):
    folder, clip, model = trained
    whole, ranged = folder / "whole", folder / "ranged"
    base = ["segment", str(clip), "--model", str(model)]
    assert run_cli([*base, "--out", str(whole)], capsys)[0] == 0
    code, out, _ = run_cli(
        [*base, "--frames", "1003-1006", "--chunk", "3", "--out", str(ranged)], capsys
    )
    assert code == 0 and "rendered 4/4 frames" in out
    outputs = read_outputs(ranged)
    expected = {
        k: v
        for k, v in read_outputs(whole).items()
        if any(s in k for s in ("1003", "1004", "1005", "1006"))
    }
    assert sorted(outputs) == sorted(expected) and len(outputs) == 12  # label map + 2 mattes
    for name, image in outputs.items():
        assert np.array_equal(image, expected[name]), name
    rows = (ranged / "scores.csv").read_text().splitlines()
    assert rows[0] == "frame,object,score,area" and len(rows) == 1 + 4 * 2
    assert all(0.0 <= float(r.split(",")[2]) <= 1.0 for r in rows[1:])

    # re-rendering a range rewrites those frames and their scores, the others stay
    assert run_cli([*base, "--frames", "1006-1007", "--out", str(ranged)], capsys)[0] == 0
    frames = [int(r.split(",")[0]) for r in (ranged / "scores.csv").read_text().splitlines()[1:]]
    assert frames == sorted(frames) and sorted(set(frames)) == [1003, 1004, 1005, 1006, 1007]
    assert not [p for p in ranged.rglob(".*")]  # no temp files left


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--frames", "1001-2000"], "outside the clip"),
        (["--frames", "first-last"], "FIRST-LAST"),
        (["--annotation", "0:x.png"], "give no --annotation"),
    ],
)
def test_bad_farm_options_are_one_line(trained, capsys, extra, message):
    folder, clip, model = trained
    args = ["segment", str(clip), "--model", str(model), "--out", str(folder / "o"), *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_a_chunk_of_no_frames_is_refused_by_the_parser(trained, capsys):
    folder, clip, model = trained
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["segment", str(clip), "--model", str(model), "--out", "o", "--chunk", "0"], capsys)
    assert exit_info.value.code == 2 and "out of range" in capsys.readouterr().err


def test_a_model_file_of_another_plate_size_is_refused(trained, tmp_path, capsys):
    _, _, model = trained
    frames, _ = make_clip(num_frames=3, height=48, width=64, seed=1)
    write_image_folder(tmp_path / "other", frames)
    args = ["segment", str(tmp_path / "other"), "--model", str(model), "--out", str(tmp_path / "o")]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "trained on 96x64 frames" in err


def test_export_writes_a_frame_range_by_frame_numbers(tmp_path, capsys):
    from tests.helpers import make_project

    folder, _ = make_project(tmp_path)
    out = tmp_path / "exported"
    code, _, err = run_cli(["export", str(folder), "--out", str(out), "--frames", "2-4"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (out / "1_hero").iterdir()) == [
        "frame_00002.png", "frame_00003.png", "frame_00004.png"
    ]  # fmt: skip
    code, _, err = run_cli(["export", str(folder), "--out", str(out), "--frames", "1-2,4"], capsys)
    assert code == 2 and "unbroken range" in err


def test_a_render_queue_renders_every_good_shot_and_reports_the_bad_one(tmp_path, capsys):
    clip, mask = make_plate(tmp_path, num_frames=5, seed=2)
    queue = {
        "shots": [
            {"name": "good", "frames": "clip", "annotations": ["0:mask.png"], "out": "r/good",
             "steps": 20, "weights": "imagenet", "frames_range": "1002-1004"},
            {"name": "bad", "frames": "clip", "annotations": ["0:missing.png"], "out": "r/bad"},
        ]
    }  # fmt: skip
    (tmp_path / "queue.json").write_text(json.dumps(queue))
    code, out, _ = run_cli(["render-queue", str(tmp_path / "queue.json")], capsys)
    assert code == 1
    assert "good  3 frames of 2 object(s)" in out and "bad   failed to train" in out
    assert sorted(p.name for p in (tmp_path / "r" / "good").glob("*.png")) == [
        "plate.1002.png", "plate.1003.png", "plate.1004.png"
    ]  # fmt: skip
    load_model_file(tmp_path / "r" / "good" / "model.rsm")  # each shot keeps its model

    (tmp_path / "broken.json").write_text('{"shots": [{"name": "x"}]}')
    code, _, err = run_cli(["render-queue", str(tmp_path / "broken.json")], capsys)
    assert code == 2 and 'no "out" folder' in err
