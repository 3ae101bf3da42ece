"""Frame sources: folders, patterns, video files, the LRU cache and bad input."""

import cv2
import numpy as np
import pytest

from core.errors import RotoshotError
from core.video import open_frames
from tests.synthetic import make_clip, write_image_folder


@pytest.fixture(scope="module")
def frames():
    return make_clip(num_frames=6, height=64, width=80)[0]


def test_image_folder_sorted_by_name(tmp_path, frames):
    write_image_folder(tmp_path, frames)
    source = open_frames(tmp_path)
    assert len(source) == 6 and source.size == (80, 64)
    assert source.stems[0] == "frame_00000"
    assert np.array_equal(source.read(3), frames[3])  # PNG is lossless, RGB order kept


def test_printf_and_glob_patterns(tmp_path, frames):
    write_image_folder(tmp_path, frames)
    assert len(open_frames(tmp_path / "frame_%05d.png")) == 6
    assert len(open_frames(str(tmp_path / "frame_*.png"))) == 6


def test_video_file_random_access(tmp_path, frames):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (80, 64))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    source = open_frames(path)
    assert len(source) == 6 and source.size == (80, 64)
    in_order = [source.read(i).astype(int) for i in range(6)]
    source._cache.clear()
    out_of_order = {i: source.read(i).astype(int) for i in (4, 1, 5, 0)}
    for i, frame in out_of_order.items():
        assert np.abs(frame - in_order[i]).mean() < 1.0  # same decoded frame whichever order
        assert np.abs(frame - frames[i]).mean() < 12  # lossy codec, but the right frame


def test_lru_cache_is_bounded(tmp_path, frames):
    write_image_folder(tmp_path, frames)
    frame_bytes = frames[0].nbytes
    source = open_frames(tmp_path, cache_bytes=2 * frame_bytes + frame_bytes // 2)
    for i in range(6):
        source.read(i)
    assert len(source._cache) == 2  # sized in bytes: two frames fit, not three
    assert np.array_equal(source.read(0), frames[0])  # evicted frames decode again


@pytest.mark.parametrize("name", ["missing.mp4", "missing_folder"])
def test_missing_input(tmp_path, name):
    with pytest.raises(RotoshotError, match="no such file"):
        open_frames(tmp_path / name)


def test_unreadable_video_and_empty_folder(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(RotoshotError):
        open_frames(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RotoshotError, match="no images"):
        open_frames(empty)


def test_out_of_range_frame(tmp_path, frames):
    write_image_folder(tmp_path, frames)
    with pytest.raises(RotoshotError, match="out of range"):
        open_frames(tmp_path).read(6)


def test_frame_numbers_come_from_the_file_names():
    from core.video import frame_numbers

    assert frame_numbers(["plate.1001", "plate.1002", "plate.1004"]) == [1001, 1002, 1004]
    assert frame_numbers(["00000", "00001"]) == [0, 1]  # DAVIS names start at 0
    assert frame_numbers(["a", "b", "c"]) == [1, 2, 3]  # no numbers: counted from 1
    assert frame_numbers(["x.0005", "x.0002"]) == [1, 2]  # not increasing: counted from 1


def numbered_frame(i: int) -> np.ndarray:
    """A 96x64 frame showing `i` (0..63) in six big binary blocks: survives lossy codecs."""
    image = np.full((64, 96, 3), 40, np.uint8)
    for bit in range(6):
        if (i >> bit) & 1:
            image[16:48, bit * 16 : (bit + 1) * 16] = 220
    return image


def number_of(image: np.ndarray) -> int:
    blocks = [image[24:40, b * 16 + 4 : (b + 1) * 16 - 4].mean() for b in range(6)]
    return sum(1 << b for b, level in enumerate(blocks) if level > 130)


def write_movie(path, codec: str, options: dict, count: int = 64, pix_fmt: str = "yuv420p"):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, pix_fmt
        stream.options = options
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


GOP = "keyint=12:min-keyint=12:scenecut=0"


@pytest.mark.parametrize(
    "name, codec, options, pix_fmt",
    [
        ("b_frames.mp4", "libx264", {"x264-params": f"bframes=3:b-adapt=0:{GOP}"}, "yuv420p"),
        ("open_gop.mov", "libx264", {"x264-params": f"bframes=3:open-gop=1:{GOP}"}, "yuv420p"),
        ("transport.ts", "libx264", {"x264-params": f"bframes=3:{GOP}"}, "yuv420p"),
        ("hevc.mkv", "libx265", {"x265-params": "bframes=4:keyint=12:log-level=error"}, "yuv420p"),
        ("prores.mov", "prores_ks", {"profile": "3"}, "yuv422p10le"),
    ],
)
def test_random_access_into_a_movie_returns_the_asked_frame(
    tmp_path, name, codec, options, pix_fmt
):
    write_movie(tmp_path / name, codec, options, pix_fmt=pix_fmt)
    source = open_frames(tmp_path / name)
    assert len(source) == 64 and source.size == (96, 64)
    order = list(np.random.default_rng(1).permutation(64))
    assert [number_of(source.read(int(i))) for i in order] == [int(i) for i in order]
    source._cache.clear()
    assert [number_of(source.read(i)) for i in range(64)] == list(range(64))  # and in order
