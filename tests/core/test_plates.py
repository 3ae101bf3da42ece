"""VFX plates: small generated EXR (half, multi-part, data window) and DPX sequences numbered from
1001 read back exactly; colour made display-referred as a compositor's viewer shows it."""

import numpy as np
import OpenImageIO as oiio
import pytest

from core.errors import RotoshotError
from core.plates import CINEON, LINEAR, SRGB, DisplayTransform, plate_info, read_plate
from core.video import open_frames


def write_plate(path, pixels, fmt, **attributes):
    """pixels (H, W, C) float32 -> a plate file of `fmt` (an OIIO type)."""
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, fmt)
    for name, value in attributes.items():
        spec.attribute(name.replace("__", ":"), value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(pixels)
    out.close()


def srgb_encode(linear):
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def test_linear_exr_sequence_from_1001_reads_display_referred(tmp_path):
    rng = np.random.default_rng(0)
    linear = rng.random((3, 12, 16, 3)).astype(np.float32) ** 2.2
    linear[:, 0, 0] = 0.18  # mid grey
    for i, frame in enumerate(linear):
        write_plate(tmp_path / f"plate.{1001 + i}.exr", frame, oiio.HALF)
    source = open_frames(tmp_path)
    assert source.numbers == [1001, 1002, 1003] and source.stems[0] == "plate.1001"
    assert source.input_space == LINEAR and source.size == (16, 12) and not source.gaps
    frame = source.read(1)
    assert frame.dtype == np.uint8 and frame.shape == (12, 16, 3)
    assert abs(int(source.read(0)[0, 0, 0]) - round(0.461 * 255)) <= 1  # 0.18 -> ~0.46
    half = linear[1].astype(np.float16).astype(np.float32)
    expected = np.round(srgb_encode(half) * 255)
    assert np.abs(frame.astype(int) - expected).max() <= 1

    # The same picture as an 8-bit sRGB PNG reads the same (what the network was trained on).
    from PIL import Image

    png = tmp_path / "png"
    png.mkdir()
    Image.fromarray(expected.astype(np.uint8)).save(png / "plate.1002.png")
    assert np.abs(open_frames(png).read(0).astype(int) - frame.astype(int)).max() <= 1


def test_multi_part_exr_and_data_window(tmp_path):
    path = tmp_path / "parts.exr"
    specs = [oiio.ImageSpec(8, 6, 3, oiio.HALF), oiio.ImageSpec(8, 6, 1, oiio.FLOAT)]
    specs[1].channelnames = ("Z",)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), specs)
    out.write_image(np.full((6, 8, 3), 0.5, np.float32))
    out.open(str(path), specs[1], "AppendSubimage")
    out.write_image(np.full((6, 8, 1), 9.0, np.float32))
    out.close()
    assert np.allclose(read_plate(path), 0.5)  # the first part, its R G B

    overscan = tmp_path / "window.exr"
    spec = oiio.ImageSpec(4, 2, 4, oiio.FLOAT)
    spec.channelnames = ("R", "G", "B", "A")
    spec.x, spec.y = 1, 1
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 6, 4
    out = oiio.ImageOutput.create(str(overscan))
    assert out.open(str(overscan), spec)
    out.write_image(np.ones((2, 4, 4), np.float32))
    out.close()
    plate = read_plate(overscan)
    assert plate.shape == (4, 6, 3) and plate_info(overscan).size == (6, 4)
    assert plate[1:3, 1:5].min() == 1 and plate[0].max() == 0 and plate[:, 0].max() == 0


def test_dpx_10_bit_reads_exactly_and_cineon_grey_is_mid_grey(tmp_path):
    codes = np.arange(6 * 8 * 3, dtype=np.float32).reshape(6, 8, 3) * 7 % 1024
    write_plate(tmp_path / "log.1001.dpx", codes / 1023, oiio.UINT16, oiio__BitsPerSample=10)
    info = plate_info(tmp_path / "log.1001.dpx")
    assert info.bits == 10 and info.space == CINEON  # DPX without a video transfer: log
    assert np.array_equal(np.round(read_plate(tmp_path / "log.1001.dpx") * 1023), codes)
    grey = np.full((4, 4, 3), 470 / 1023, np.float32)  # Cineon code 470 is 18 % grey
    write_plate(tmp_path / "grey.dpx", grey, oiio.UINT16, oiio__BitsPerSample=10)
    shown = DisplayTransform(CINEON).apply(read_plate(tmp_path / "grey.dpx"))
    assert abs(int(shown[0, 0, 0]) - round(0.461 * 255)) <= 2
    assert DisplayTransform(SRGB).apply(np.full((1, 1, 3), 0.5, np.float32))[0, 0, 0] == 128


def test_a_gap_in_the_numbering_is_reported(tmp_path):
    for number in (1001, 1002, 1004, 1005):
        write_plate(tmp_path / f"shot.{number}.exr", np.zeros((4, 4, 3), np.float32), oiio.HALF)
    source = open_frames(tmp_path)
    assert source.gaps == [1003] and source.numbers == [1001, 1002, 1004, 1005]


def test_bad_plates_are_one_clear_error(tmp_path):
    (tmp_path / "broken.0001.exr").write_bytes(b"not an exr")
    with pytest.raises(RotoshotError, match="cannot read image"):
        open_frames(tmp_path)
    with pytest.raises(RotoshotError, match="unknown input colour space"):
        DisplayTransform("Kodachrome")
    write_plate(tmp_path / "a.exr", np.zeros((4, 4, 3), np.float32), oiio.HALF)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_plate(mixed / "m.1001.exr", np.zeros((4, 4, 3), np.float32), oiio.HALF)
    write_plate(mixed / "m.1002.exr", np.zeros((5, 4, 3), np.float32), oiio.HALF)
    with pytest.raises(RotoshotError, match="one size"):
        open_frames(mixed)


def test_cli_segments_a_linear_exr_plate_and_keeps_its_numbers(tmp_path, capsys):
    from tests.helpers import run_cli
    from tests.synthetic import make_clip

    frames, labels = make_clip(num_frames=4, height=48, width=64, seed=2)
    plates = tmp_path / "plates"
    plates.mkdir()
    for i, frame in enumerate(frames):
        linear = (frame.astype(np.float32) / 255) ** 2.2  # roughly back to scene-linear
        number = 1001 + i + (i >= 3)  # 1001, 1002, 1003, 1005: one missing
        write_plate(plates / f"plate.{number}.exr", linear, oiio.HALF)
    from PIL import Image

    Image.fromarray((labels[0] == 1).astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        ["segment", str(plates), "--annotation", f"0:{tmp_path / 'mask.png'}", "--out",
         str(out), "--weights", "imagenet", "--steps", "20"],
        capsys,
    )  # fmt: skip
    assert code == 0, stdout
    assert "Linear Rec.709" in stdout and "1004 are missing" in stdout
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["plate.1001.png", "plate.1002.png", "plate.1003.png", "plate.1005.png"]


def test_cineon_encoding_reads_back_as_the_same_display_picture():
    from core.plates import linear_to_cineon

    linear = np.array([[[0.0, 0.18, 1.0], [0.05, 0.5, 2.0]]], np.float32)
    codes = linear_to_cineon(linear)
    assert abs(linear_to_cineon(np.float32(1.0)) - 685 / 1023) < 1e-6  # Kodak's white point
    shown_log = DisplayTransform(CINEON).apply(codes.astype(np.float32))
    shown_linear = DisplayTransform(LINEAR).apply(linear)
    assert np.abs(shown_log.astype(int) - shown_linear.astype(int)).max() <= 1
