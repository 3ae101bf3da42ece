"""`--mode` and `--box` on the command line (issue #12): the guided modes render a clip, a box
becomes a keyframe, and bad boxes or modes give one clear line."""

import numpy as np
import pytest

from core.box_prompt import box_to_mask, check_box, grabcut_mask, parse_box_spec
from core.errors import RotoshotError
from core.farm.model_file import load_model_file
from core.guidance import bounding_box
from core.model.build import GUIDED_PARENT_WEIGHTS, build_model, save_checkpoint
from tests.helpers import ArraySource, run_cli
from tests.synthetic import iou, make_clip, write_image_folder, write_mask


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guided_clip")
    frames, labels = make_clip(num_frames=6, height=96, width=128, seed=5)
    write_image_folder(folder / "frames", frames)
    write_mask(folder / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    # A guided network for the CLI runs: the plain parent with the guidance channel added.
    model, _ = build_model(weights="parent")
    model.make_guided()
    save_checkpoint(model, folder / "guided.pt")
    return folder, frames, labels


@pytest.mark.parametrize("mode", ["refine", "propagate"])
def test_guided_modes_render_every_frame(clip_dir, tmp_path, capsys, mode):
    folder, _, labels = clip_dir
    out = tmp_path / "out"
    args = ["segment", str(folder / "frames"), "--annotation", f"0:{folder / 'one.png'}"]
    args += ["--out", str(out), "--mode", mode, "--weights", str(folder / "guided.pt")]
    code, _, err = run_cli([*args, "--steps", "30"], capsys)
    assert code == 0, err
    mattes = sorted(out.glob("*.png"))
    assert len(mattes) == 6


def test_a_model_file_remembers_its_mode(clip_dir, tmp_path, capsys):
    folder, _, _ = clip_dir
    model_path = tmp_path / "shot.rsm"
    args = ["train", str(folder / "frames"), "--annotation", f"0:{folder / 'one.png'}"]
    args += ["--model", str(model_path), "--mode", "propagate"]
    code, _, err = run_cli([*args, "--weights", str(folder / "guided.pt"), "--steps", "5"], capsys)
    assert code == 0, err
    assert load_model_file(model_path)[1].mode == "propagate"


def test_plain_weights_refuse_a_guided_mode(clip_dir, tmp_path, capsys):
    folder, _, _ = clip_dir
    args = ["segment", str(folder / "frames"), "--annotation", f"0:{folder / 'one.png'}"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "o"), "--mode", "refine",
                            "--weights", "imagenet"], capsys)  # fmt: skip
    assert code == 2 and "needs mask-guided weights" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mode", "sideways"], "unknown --mode 'sideways'"),
        (["--box", "0:200,10,300,50"], "outside the 128x96 frame"),
        (["--box", "0:40,30,40,60"], "is empty"),
        (["--box", "0:60,30,20,60"], "is empty"),
        (["--box", "0:10,10,12,12"], "smaller than"),
        (["--box", "0:1,2,3"], "four numbers"),
        (["--box", "zero:1,2,3,4"], "expected IDX:x0,y0,x1,y1"),
        (["--box", "9:10,10,50,50"], "the clip has 6 frames"),
        (["--box", "0:10,10,50,50", "--box", "0:12,10,50,50"], "two boxes"),
        (["--box", "0:10,10,50,50@0"], "object ids are 1..255"),
    ],
)
def test_bad_box_or_mode_gives_one_clear_line(clip_dir, tmp_path, capsys, extra, message):
    folder, _, _ = clip_dir
    args = ["segment", str(folder / "frames"), "--out", str(tmp_path / "o"), *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rotoshot: error:"), err
    assert message in lines[0]


def test_box_parsing_clips_to_the_frame():
    assert check_box((-5, -3, 50, 40), (128, 96)) == (0, 0, 50, 40)
    assert parse_box_spec("3:10,20,60,70@2", (128, 96)) == (3, 2, (10, 20, 60, 70))
    with pytest.raises(RotoshotError):
        check_box((0, 0, 0, 0), (128, 96))


def _object_box(label, margin=4):
    x0, y0, x1, y1 = bounding_box(label)
    return x0 - margin, y0 - margin, x1 + margin, y1 + margin


def test_grabcut_baseline_finds_a_clear_object():
    frames, labels = make_clip(num_frames=1, height=96, width=128, seed=7)
    mask = grabcut_mask(frames[0], _object_box(labels[0] == 1))
    assert iou(mask, labels[0] == 1) > 0.7


@pytest.mark.skipif(not GUIDED_PARENT_WEIGHTS.exists(), reason="no shipped guided parent")
def test_box_to_mask_with_the_shipped_guided_parent():
    # A plate-like size: the network sees at stride 4, and on 96-px toy frames its mask fills
    # the box (IoU ~0.6 there).
    frames, labels = make_clip(num_frames=3, height=288, width=384, seed=7)
    model, info = build_model(weights="guided")
    assert info.warning == ""
    scores = []
    for t in range(3):
        truth = labels[t] == 1
        mask, how = box_to_mask(model, ArraySource(frames), t, _object_box(truth, margin=8))
        assert how == "network"
        scores.append(iou(mask, truth))
    assert np.mean(scores) >= 0.8, scores


def test_a_box_mask_does_not_depend_on_which_way_the_frame_faces(clip_dir):
    """The first mask averages the frame and its mirror image, so mirroring the frame and the
    box mirrors the mask (a single pass's errors differ between the two)."""
    folder, frames, labels = clip_dir
    model, _ = build_model(weights=str(folder / "guided.pt"))
    truth = labels[1] == 1
    x0, y0, x1, y1 = _object_box(truth, margin=4)
    width = frames.shape[2]
    mirrored = np.ascontiguousarray(frames[:, :, ::-1])
    mask, _ = box_to_mask(model, ArraySource(frames), 1, (x0, y0, x1, y1))
    flipped, _ = box_to_mask(model, ArraySource(mirrored), 1, (width - x1, y0, width - x0, y1))
    assert mask.any()
    assert iou(flipped[:, ::-1], mask) > 0.99


def test_box_becomes_the_keyframe_of_a_shot(clip_dir, tmp_path, capsys):
    folder, _, labels = clip_dir
    out = tmp_path / "out"
    box = ",".join(str(v) for v in _object_box(labels[2] == 1))
    args = ["segment", str(folder / "frames"), "--box", f"2:{box}", "--out", str(out)]
    code, _, err = run_cli([*args, "--steps", "30"], capsys)
    assert code == 0, err
    assert len(list(out.glob("*.png"))) == 6


def test_a_propagate_model_renders_any_range_as_the_whole_shot(clip_dir, tmp_path, capsys):
    """Farm tasks of a propagate model are whole chains; a range rendered alone walks its chain
    from the keyframe, so its mattes equal the whole shot's."""
    from core.annotations import read_label_mask

    folder, _, labels = clip_dir
    write_mask(tmp_path / "five.png", (labels[5] == 1).astype(np.uint8) * 255)
    model_path = tmp_path / "shot.rsm"
    args = ["train", str(folder / "frames"), "--annotation", f"0:{folder / 'one.png'}"]
    args += ["--annotation", f"5:{tmp_path / 'five.png'}", "--model", str(model_path)]
    code, _, err = run_cli([*args, "--mode", "propagate", "--steps", "5"], capsys)
    assert code == 0, err
    whole, part = tmp_path / "whole", tmp_path / "part"
    render = ["segment", str(folder / "frames"), "--model", str(model_path), "--out"]
    assert run_cli([*render, str(whole), "--chunk", "1"], capsys)[0] == 0
    assert run_cli([*render, str(part), "--frames", "3-4"], capsys)[0] == 0
    assert sorted(p.name for p in part.glob("*.png")) == ["frame_00003.png", "frame_00004.png"]
    for name in ("frame_00003.png", "frame_00004.png"):
        assert np.array_equal(read_label_mask(part / name), read_label_mask(whole / name))
