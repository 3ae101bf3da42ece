"""Write a DAVIS-layout folder as the plates artists bring: upscaled to 1080p or 4K and/or as
scene-linear half-float EXR (the sRGB encoding undone through OpenColorIO) or 10-bit log DPX
(the same linear values Cineon-encoded), with the annotations upscaled to match, for the plate
benchmarks:

    .venv/bin/python bench/make_plates.py ../shared/data/davis2016-dev /tmp/davis-exr
    .venv/bin/python bench/make_plates.py ../shared/data/davis2016-dev /tmp/davis-1080 \
        --width 1920 --format jpg
    .venv/bin/python bench/davis_bench.py --data /tmp/davis-1080 --quality 0 --label q0_1080

With `--inset 3840` the frames are not scaled but set, centred, into a mid-grey 3840x2160
canvas: a small object in a large plate, for the region-of-interest benchmark (the region is
the inset, printed at the end):

    .venv/bin/python bench/make_plates.py ../shared/data/davis2016-dev /tmp/davis-inset4k \
        --inset 3840 --format jpg

Frames are upscaled bicubically, masks bilinearly then thresholded at half (smooth edges, as an
artist's matte of the larger plate would be). Write the copy outside the repository (the data
never goes into it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _scaled(image: np.ndarray, width: int, interpolation: int) -> np.ndarray:
    if width <= 0 or width == image.shape[1]:
        return image
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _inset(image: np.ndarray, width: int, fill: int) -> np.ndarray:
    """`image` centred in a `width` x (width * 9 / 16) canvas of `fill` (unscaled)."""
    if width <= 0:
        return image
    height = width * 9 // 16
    y0, x0 = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas = np.full((height, width, *image.shape[2:]), fill, image.dtype)
    canvas[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]] = image
    return canvas


def _write_exr(path: Path, rgb: np.ndarray, to_linear) -> None:
    import OpenImageIO as oiio

    linear = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    to_linear.applyRGB(linear)
    height, width = linear.shape[:2]
    image = oiio.ImageOutput.create(str(path))
    image.open(str(path), oiio.ImageSpec(width, height, 3, oiio.HALF))
    image.write_image(linear)
    image.close()


def _write_dpx(path: Path, rgb: np.ndarray, to_linear) -> None:
    import OpenImageIO as oiio

    from core.plates import linear_to_cineon

    linear = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    to_linear.applyRGB(linear)
    codes = linear_to_cineon(linear).astype(np.float32)
    height, width = codes.shape[:2]
    spec = oiio.ImageSpec(width, height, 3, oiio.UINT16)
    spec.attribute("oiio:BitsPerSample", 10)
    image = oiio.ImageOutput.create(str(path))
    image.open(str(path), spec)
    image.write_image(codes)
    image.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="DAVIS-layout folder (JPEGImages/480p, Annotations/480p)")
    parser.add_argument("out", help="where to write the copy (outside the repository)")
    parser.add_argument("--width", type=int, default=0, help="upscale to this width (0: keep)")
    parser.add_argument("--format", choices=["exr", "dpx", "jpg"], default="exr")
    parser.add_argument("--sequences", help="comma-separated subset (default: all)")
    parser.add_argument(
        "--inset", type=int, default=0, help="set frames unscaled into a grey canvas this wide"
    )
    args = parser.parse_args()

    import PyOpenColorIO as ocio

    from core.plates import BUILTIN_CONFIG, LINEAR, SRGB
    from core.video import read_image_rgb

    config = ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
    to_linear = config.getProcessor(SRGB, LINEAR).getDefaultCPUProcessor()
    data, out = Path(args.data), Path(args.out)
    wanted = set(args.sequences.split(",")) if args.sequences else None
    for sequence in sorted((data / "JPEGImages" / "480p").iterdir()):
        if wanted is not None and sequence.name not in wanted:
            continue
        frames = out / "JPEGImages" / "480p" / sequence.name
        masks = out / "Annotations" / "480p" / sequence.name
        frames.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        for jpeg in sorted(sequence.glob("*.jpg")):
            rgb = _inset(
                _scaled(read_image_rgb(jpeg), args.width, cv2.INTER_CUBIC), args.inset, 128
            )
            if args.format == "exr":
                _write_exr(frames / f"{jpeg.stem}.exr", rgb, to_linear)
            elif args.format == "dpx":
                _write_dpx(frames / f"{jpeg.stem}.dpx", rgb, to_linear)
            else:
                bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(frames / f"{jpeg.stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        for png in sorted((data / "Annotations" / "480p" / sequence.name).glob("*.png")):
            mask = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            mask = _inset(_scaled(mask, args.width, cv2.INTER_LINEAR), args.inset, 0)
            cv2.imwrite(str(masks / png.name), np.where(mask > 127, 255, 0).astype(np.uint8))
        print(sequence.name, flush=True)
    if args.inset:
        height, width = mask.shape[:2]
        inset = _scaled(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE), args.width, cv2.INTER_LINEAR)
        y0, x0 = (height - inset.shape[0]) // 2, (width - inset.shape[1]) // 2
        print(f"inset region: --roi {x0},{y0},{x0 + inset.shape[1]},{y0 + inset.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
