"""Masks read as the user meant them, and one clear line for bad command-line input
(reliability issue findings, each a regression test)."""

import cv2
import numpy as np
import pytest
from PIL import Image

from core.annotations import read_label_mask
from core.errors import RotoshotError
from core.video import open_frames
from tests.helpers import run_cli
from tests.synthetic import make_clip, write_image_folder, write_mask


def disk(height=60, width=80, radius=18):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.hypot(yy - height / 2, xx - width / 2) < radius


def test_the_alpha_of_an_rgba_mask_is_the_matte(tmp_path):
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere: read without alpha, all foreground
    rgba[..., 3] = disk() * 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    labels = read_label_mask(tmp_path / "m.png")
    assert np.array_equal(labels > 0, disk()) and labels.max() == 1


def test_an_anti_aliased_mask_is_one_object(tmp_path):
    big = disk(240, 320, 72).astype(np.uint8) * 255
    smooth = cv2.resize(big, (80, 60), interpolation=cv2.INTER_AREA)  # grey edge pixels
    assert len(np.unique(smooth)) > 10
    write_mask(tmp_path / "aa.png", smooth)
    labels = read_label_mask(tmp_path / "aa.png")
    assert labels.max() == 1 and abs(int((labels > 0).sum()) - int(disk().sum())) < 40
    cv2.imwrite(
        str(tmp_path / "m.jpg"), disk().astype(np.uint8) * 255, [cv2.IMWRITE_JPEG_QUALITY, 70]
    )
    assert read_label_mask(tmp_path / "m.jpg").max() == 1  # JPEG noise is not 12 objects


def test_a_real_label_map_keeps_its_objects(tmp_path):
    labels = np.zeros((60, 80), np.uint8)
    labels[5:25, 5:30], labels[30:55, 40:75] = 1, 2
    write_mask(tmp_path / "l.png", labels)
    assert sorted(np.unique(read_label_mask(tmp_path / "l.png"))) == [0, 1, 2]
    smooth = cv2.GaussianBlur(disk().astype(np.uint8) * 200, (5, 5), 0)
    write_mask(tmp_path / "s.png", smooth)
    assert read_label_mask(tmp_path / "s.png", labels=True).max() > 1  # --labels: every value


def test_a_huge_mask_is_one_clear_error(tmp_path):
    Image.new("1", (20000, 10000)).save(tmp_path / "huge.png")
    with pytest.raises(RotoshotError, match="cannot read mask"):
        read_label_mask(tmp_path / "huge.png")


# A 25x24 PNG with one byte damaged in its image data, as the loaders' fuzz test generated it.
DAMAGED_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d494844520000001900000018010000000027ce6b6b0000007c494441"
    "54789c01780087ff00e07ff60002fc21188002c15ae20004197a24000296371200007765e2000137"
    "fa163904583ccfe6027ece1c00008b8d1b000010bf418002e2f59c000001be4000013942f5100226"
    "7fea0001fde9b9e102a916130004bbf5f50001e132b1bc02fba329000451d9d80001c40cd2de0051"
    "df160001f113c6b69e182b7dbf9cfab70000000049454e44ae426082"
)


def test_a_png_with_a_damaged_chunk_is_one_clear_error(tmp_path):
    """PIL raises SyntaxError ("broken PNG file"), not OSError, for this one while the pixels
    load."""
    (tmp_path / "bad.png").write_bytes(DAMAGED_PNG)
    with pytest.raises(RotoshotError, match="cannot read mask"):
        read_label_mask(tmp_path / "bad.png")


def test_two_files_for_one_frame_name_are_refused(tmp_path):
    frames, _ = make_clip(num_frames=3, height=48, width=64, seed=1)
    write_image_folder(tmp_path / "shot", frames)
    cv2.imwrite(str(tmp_path / "shot" / "frame_00001.jpg"), frames[1])
    with pytest.raises(RotoshotError, match="frame_00001"):
        open_frames(tmp_path / "shot")


def test_a_folder_with_percent_in_its_name_is_not_a_pattern(tmp_path):
    folder = tmp_path / "take 100%"
    frames, _ = make_clip(num_frames=3, height=48, width=64, seed=1)
    write_image_folder(folder, frames)
    assert len(open_frames(folder)) == 3
    single = folder / "frame_00000.png"
    assert len(open_frames(single)) == 1  # an existing file inside it is that file


@pytest.fixture
def shot(tmp_path):
    frames, labels = make_clip(num_frames=3, height=48, width=64, seed=2)
    write_image_folder(tmp_path / "frames", frames)
    write_mask(tmp_path / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    return tmp_path


def segment(shot, *extra):
    mask = shot / "one.png"
    return ["segment", str(shot / "frames"), "--annotation", f"0:{mask}", *extra]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "FILE"], "is a file"),
        (["--out", "FILE/below"], "cannot create"),
    ],
)
def test_a_bad_out_is_refused_before_any_training(shot, capsys, args, message):
    (shot / "FILE").write_text("not a folder")
    args = [a.replace("FILE", str(shot / "FILE")) for a in args]
    code, out, err = run_cli(segment(shot, *args, "--weights", "imagenet"), capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert "object(s)" not in out  # refused right after reading the masks, before any training


def test_the_cli_says_how_many_objects_it_found(shot, capsys):
    code, out, err = run_cli(
        segment(shot, "--out", str(shot / "out"), "--steps", "0", "--weights", "imagenet"), capsys
    )
    assert code == 0, err
    assert "1 object(s)" in out


@pytest.mark.parametrize(
    "argv",
    [["--threads", "-1", "evaluate", "a", "b"], ["export", "p", "--out", "o", "--temporal", "9"]],
)
def test_numbers_out_of_range_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(argv, capsys)
    assert exit_info.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_an_indexed_png_with_one_object_is_object_1(tmp_path):
    image = Image.fromarray(disk().astype(np.uint8) * 7, "P")  # palette index 7
    image.putpalette([0, 0, 0] * 7 + [255, 0, 0] + [0, 0, 0] * 248)
    image.save(tmp_path / "p.png")
    labels = read_label_mask(tmp_path / "p.png")
    assert labels.max() == 1 and np.array_equal(labels > 0, disk())


def test_a_fifo_as_the_clip_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(RotoshotError, match="not a regular file"):
        open_frames(fifo)


def test_an_image_whose_header_claims_a_huge_size_is_one_clear_error(tmp_path):
    """A TIFF (named .png) claiming a height over OpenCV's limit: found by the fuzz test."""
    from core.video import read_image_rgb

    data = (
        b"II*\x00\x08\x00\x00\x00\x08\x00\x00\x01\x04\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x01"
        b"\x04\x00\x01\x00\x00\x00\x11\x00\xff\x00\x03\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00"
        b"\x06\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x11\x01\x04\x00\x01\x00\x00\x00n\x00\x00"
        b"\x00\x16\x01\x04\x00\x01\x00\x00\x00\x11\x00\x00\x00\x17\x01\x04\x00\x01\x00\x00\x00\x11"
        b"\x00\x00\x00\x1c\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x80\x80\x80"
        b"\x00\x00\x00\x00\x00\x00\x80\x80\x80\x80\x80\x80\x80\x80"
    )
    (tmp_path / "a.png").write_bytes(data)
    with pytest.raises(RotoshotError, match="cannot read image"):
        read_image_rgb(tmp_path / "a.png")
