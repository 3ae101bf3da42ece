"""Frame sources: a video file, an image folder or a printf pattern, decoded on demand.

Every source gives `len(source)`, `source.read(i) -> (H, W, 3) uint8 RGB`, `source.size` (W, H),
`source.fps` and `source.stems` (one output name per frame). Decoded frames sit in a small LRU
cache so a long clip is never held in memory whole.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from core.errors import RotoshotError
from core.plates import PLATE_EXTENSIONS, DisplayTransform, plate_info, read_plate

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".dpx", ".cin", ".hdr",
)  # fmt: skip
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")


# Decoded frames kept per source: ~200 frames at 854x480, ~40 at 1080p, ~10 at 4K.
DEFAULT_CACHE_BYTES = 256 << 20


def frame_numbers(stems: list[str]) -> list[int]:
    """The frame number an artist knows each frame by: the number that ends each file name
    (plate.1001.exr -> 1001) when every name ends in one and they increase; else 1, 2, 3..."""
    numbers = []
    for stem in stems:
        match = re.search(r"(\d+)$", stem)
        if match is None:
            return list(range(1, len(stems) + 1))
        numbers.append(int(match.group(1)))
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        return list(range(1, len(stems) + 1))
    return numbers


class FrameSource:
    """Base class: random access to RGB frames with an LRU cache of at most `cache_bytes` of
    decoded frames (at least one frame; thread-safe)."""

    def __init__(self, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self.path: str = ""
        self.fps: float = 25.0
        self.size: tuple[int, int] = (0, 0)  # (width, height)
        self.stems: list[str] = []

    def __len__(self) -> int:
        return len(self.stems)

    @functools.cached_property
    def numbers(self) -> list[int]:
        """Each frame's number as the artist knows it (core.video.frame_numbers)."""
        return frame_numbers(self.stems)

    @functools.cached_property
    def gaps(self) -> list[int]:
        """Frame numbers missing between the first and the last (plate.1003 absent between
        1002 and 1004): a sequence with holes is reported, never silently closed up."""
        numbers = self.numbers
        if not numbers:
            return []
        present = set(numbers)
        return [n for n in range(numbers[0], numbers[-1]) if n not in present][:1000]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def width(self) -> int:
        return self.size[0]

    def read(self, frame_idx: int) -> np.ndarray:
        """Frame `frame_idx` as (H, W, 3) uint8 RGB (a read-only cached array)."""
        if not 0 <= frame_idx < len(self):
            raise RotoshotError(f"frame {frame_idx} is out of range (clip has {len(self)} frames)")
        with self._lock:
            frame = self._cache.get(frame_idx)
            if frame is not None:
                self._cache.move_to_end(frame_idx)
                return frame
            frame = self._decode(frame_idx)
            if frame.shape[1::-1] != self.size:
                raise RotoshotError(
                    f"frame {frame_idx} is {frame.shape[1]}x{frame.shape[0]}, "
                    f"the clip is {self.size[0]}x{self.size[1]}"
                )
            frame.setflags(write=False)
            self._cache[frame_idx] = frame
            self._cached_bytes += frame.nbytes
            while self._cached_bytes > self._cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
            return frame

    def _decode(self, frame_idx: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (a no-op for image sequences)."""


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; 16-bit and float images are scaled to 8 bits."""
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode copes with non-ASCII paths
    try:
        image = (
            cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH) if data.size else None
        )
    except cv2.error:  # e.g. a header claiming a size over OpenCV's limit
        image = None
    if image is None:
        raise RotoshotError(f"cannot read image {path}")
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def _check_frame_sizes(files: list[str], size: tuple[int, int]) -> None:
    """RotoshotError naming the first frame whose size differs from `size` (W, H). Reads only
    each file's header (PIL opens lazily); a format PIL cannot identify is checked when read."""
    from PIL import Image, UnidentifiedImageError

    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                frame_size = image.size
        except (UnidentifiedImageError, OSError, SyntaxError):  # SyntaxError: a broken PNG
            continue
        if frame_size != size:
            raise RotoshotError(
                f"frame {index + 1} ({Path(path).name}) is {frame_size[0]}x{frame_size[1]} but the "
                f"clip's first frame is {size[0]}x{size[1]}: every frame of a clip must be one size"
            )


def _check_plate_sizes(files: list[str], size: tuple[int, int]) -> None:
    """As _check_frame_sizes, for plates (OpenImageIO reads each header only)."""
    for index, path in enumerate(files):
        if Path(path).suffix.lower() not in PLATE_EXTENSIONS:
            continue
        frame_size = plate_info(path).size
        if frame_size != size:
            raise RotoshotError(
                f"frame {index + 1} ({Path(path).name}) is {frame_size[0]}x{frame_size[1]} but the "
                f"clip's first frame is {size[0]}x{size[1]}: every frame of a clip must be one size"
            )


class ImageSequenceSource(FrameSource):
    """Frames from a list of image files (a folder sorted by name, or a printf/glob pattern).
    EXR/DPX/Cineon/HDR plates are read through OpenImageIO and shown display-referred through
    OpenColorIO (core.plates): `input_space` None = guessed from the first file's header;
    `colour_config` an OCIO config file (None: $OCIO, else the built-in one)."""

    def __init__(
        self,
        files: list[str],
        *,
        path: str,
        fps: float = 25.0,
        input_space: str | None = None,
        colour_config: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.display = None  # core.plates.DisplayTransform of a plate sequence
        self.input_space = ""
        if not files:
            raise RotoshotError(f"no images found in {path}")
        self.files = files
        self.path = path
        self.fps = fps
        self.stems = [Path(f).stem for f in files]
        if len(set(self.stems)) != len(self.stems):
            seen: dict[str, str] = {}
            for f, stem in zip(files, self.stems, strict=True):
                if stem in seen:
                    raise RotoshotError(
                        f"{Path(seen[stem]).name} and {Path(f).name} are two frames with one "
                        f"name: the mattes are named after the frames, so keep one of them"
                    )
                seen[stem] = f
        if Path(files[0]).suffix.lower() in PLATE_EXTENSIONS:
            info = plate_info(files[0])
            self.input_space = input_space or info.space
            self.display = DisplayTransform(self.input_space, colour_config)
            self.size = info.size
            _check_plate_sizes(files, self.size)
        else:
            first = read_image_rgb(files[0])
            self.size = (first.shape[1], first.shape[0])
            _check_frame_sizes(files, self.size)

    def _decode(self, frame_idx: int) -> np.ndarray:
        path = self.files[frame_idx]
        if Path(path).suffix.lower() in PLATE_EXTENSIONS:
            display = self.display or DisplayTransform(plate_info(path).space)
            return display.apply(read_plate(path))
        return read_image_rgb(path)


class VideoFileSource(FrameSource):
    """Frames of a movie (ProRes, DNxHD, H.264/5, ...) through PyAV, frame-accurate.

    Frame i is the i-th frame in presentation order. The index of every frame's timestamp comes
    from the packets (demuxed once, not decoded). A read seeks to the keyframe before the asked
    timestamp and decodes up to it; a read of the next frame goes on decoding without a seek.
    (OpenCV's frame-number seek, used before, returned the wrong frame in files with B-frames.)
    """

    def __init__(self, path: str, **kwargs) -> None:
        import av

        super().__init__(**kwargs)
        self.path = path
        try:
            self._container = av.open(path)
            if not self._container.streams.video:
                raise RotoshotError(f"{path} has no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            stamps = [p.pts for p in self._container.demux(self._stream) if p.size]
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise RotoshotError(f"cannot open video {path}: {exc}") from None
        if not stamps or any(t is None for t in stamps):
            raise RotoshotError(f"cannot decode video {path}: its frames carry no timestamps")
        self._pts = sorted(stamps)
        self._index = {t: i for i, t in enumerate(self._pts)}
        self._frames = None  # the decoder's frame iterator, positioned after frame _next_idx - 1
        self._next_idx = -1
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 25.0
        first = self._decode(0)
        self.size = (first.shape[1], first.shape[0])
        pad = max(5, len(str(len(self._pts) - 1)))
        self.stems = [f"{i:0{pad}d}" for i in range(len(self._pts))]

    def _seek(self, target: int) -> None:
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)

    def _frame_at(self, target: int):
        """Decode on to the frame of timestamp `target`; None when the decoder passes it or
        ends first (a seek that landed after it)."""
        for frame in self._frames:
            if frame.pts is not None and frame.pts >= target:
                return frame if frame.pts == target else None
        return None

    def _decode(self, frame_idx: int) -> np.ndarray:
        import av

        target = self._pts[frame_idx]
        try:
            frame = None
            if self._frames is not None and frame_idx == self._next_idx:
                frame = self._frame_at(target)  # the next frame: no seek
            # Some containers (MPEG-TS) seek inexactly, landing after the frame: seek again
            # from further back, in the end from the start.
            second = 1 / self._stream.time_base if self._stream.time_base else 1
            for back_s in (0, 1, 4, 16, None):
                if frame is not None:
                    break
                self._seek(0 if back_s is None else max(0, int(target - back_s * second)))
                frame = self._frame_at(target)
        except (av.FFmpegError, ValueError) as exc:
            self._frames = None
            raise RotoshotError(f"cannot decode frame {frame_idx} of {self.path}: {exc}") from None
        if frame is None:
            self._frames = None
            raise RotoshotError(f"cannot decode frame {frame_idx} of {self.path}")
        self._next_idx = frame_idx + 1
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self._container.close()


def _files_from_pattern(pattern: str) -> list[str]:
    """Expand a printf pattern (`frame.%04d.png`) or a glob (`frame.*.png`) into sorted files."""
    if re.search(r"%0?\d*d", pattern):
        globbed = re.sub(r"%0?\d*d", "*", pattern)
        parts = re.split(r"%0?\d*d", pattern)
        regex = re.compile(re.escape(parts[0]) + r"(\d+)" + re.escape(parts[1]) + "$")
        matches = []
        for f in glob.glob(globbed):
            m = regex.match(f)
            if m:
                matches.append((int(m.group(1)), f))
        return [f for _, f in sorted(matches)]
    return sorted(glob.glob(pattern))


def open_frames(
    path: str | os.PathLike,
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    input_space: str | None = None,
    colour_config: str | None = None,
) -> FrameSource:
    """Open a video file, an image folder (sorted by name) or a printf/glob pattern; a plate
    sequence's colour (input_space, colour_config) as ImageSequenceSource says.

    Raises RotoshotError with a one-line message when nothing readable is there.
    """
    path = str(path)
    colour = {"input_space": input_space, "colour_config": colour_config}
    if os.path.isdir(path):
        files = sorted(str(p) for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        return ImageSequenceSource(files, path=path, cache_bytes=cache_bytes, **colour)
    # A path that exists is that file, even with "%", "*" or "?" in a folder's name.
    if not os.path.exists(path) and any(ch in path for ch in "*?%"):
        files = _files_from_pattern(path)
        return ImageSequenceSource(files, path=path, cache_bytes=cache_bytes, **colour)
    if not os.path.exists(path):
        raise RotoshotError(f"no such file or folder: {path}")
    if not os.path.isfile(path):  # a FIFO or device would block the decoder forever
        raise RotoshotError(f"{path} is not a regular file or folder")
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSequenceSource([path], path=path, cache_bytes=cache_bytes, **colour)
    return VideoFileSource(path, cache_bytes=cache_bytes)
