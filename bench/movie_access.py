"""Movie reading (issue #14): frame-accurate random access through PyAV against OpenCV's
frame-number seek, on a 1080p H.264 movie with B-frames and as MPEG-TS.

    .venv/bin/python bench/movie_access.py --frames 120

The movie is a DAVIS train-split sequence upscaled to 1920x1080 with each frame's index
stamped in a corner, encoded by libx264 (3 B-frames, a keyframe every 24 frames). It reports
sequential and random read speed and how many random reads returned another frame.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.video import VideoFileSource  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "davis2016-train" / "JPEGImages" / "480p"


def stamp(image: np.ndarray, i: int) -> np.ndarray:
    for bit in range(10):
        image[0:64, bit * 64 : (bit + 1) * 64] = 230 if (i >> bit) & 1 else 20
    return image


def read_stamp(image: np.ndarray) -> int:
    return sum(1 << b for b in range(10) if image[16:48, b * 64 + 16 : b * 64 + 48].mean() > 125)


def make_movie(path: Path, sequence: str, count: int) -> None:
    images = sorted((DATA / sequence).glob("*.jpg"))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {
            "x264-params": "bframes=3:keyint=24:min-keyint=24:scenecut=0",
            "crf": "20",
        }
        for i in range(count):
            rgb = cv2.cvtColor(cv2.imread(str(images[i % len(images)])), cv2.COLOR_BGR2RGB)
            rgb = stamp(cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_LINEAR), i)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


class OpenCVReader:
    """What Rotoshot used before: OpenCV's FFMPEG backend, seeking by frame number."""

    def __init__(self, path: Path) -> None:
        self.capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        self.next = 0

    def read(self, i: int) -> np.ndarray:
        if i != self.next:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = self.capture.read()
        self.next = i + 1
        return frame


def measure(reader_factory, count: int, order: list[int]) -> dict:
    reader = reader_factory()
    started = time.perf_counter()
    sequential_wrong = sum(read_stamp(reader.read(i)) != i for i in range(count))
    sequential = (time.perf_counter() - started) / count
    reader = reader_factory()
    started = time.perf_counter()
    random_wrong = sum(read_stamp(reader.read(i)) != i for i in order)
    return {
        "sequential_s": sequential,
        "random_s": (time.perf_counter() - started) / len(order),
        "wrong": sequential_wrong + random_wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--sequence", default="bear")
    args = parser.parse_args()
    order = random.Random(0).sample(range(args.frames), min(40, args.frames))
    with tempfile.TemporaryDirectory() as tmp:
        mp4 = Path(tmp) / "shot.mp4"
        make_movie(mp4, args.sequence, args.frames)
        ts = Path(tmp) / "shot.ts"
        with av.open(str(mp4)) as src, av.open(str(ts), "w") as dst:
            out = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = out
                    dst.mux(packet)
        print(
            f"{args.frames} frames 1920x1080 H.264 (3 B-frames, GOP 24); {len(order)} random reads"
        )
        print("| container | reader | sequential s/frame | random s/frame | wrong frames |")
        print("|---|---|---|---|---|")
        for movie in (mp4, ts):
            for name, factory in (
                ("PyAV (core.video)", lambda m=movie: VideoFileSource(str(m), cache_bytes=0)),
                ("OpenCV frame seek", lambda m=movie: OpenCVReader(m)),
            ):
                r = measure(factory, args.frames, order)
                print(
                    f"| {movie.suffix} | {name} | {r['sequential_s']:.4f} | "
                    f"{r['random_s']:.4f} | {r['wrong']} of {args.frames + len(order)} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
