"""Write a DAVIS-layout folder's JPEG frames as scene-linear half-float EXR plates (the sRGB
encoding undone through OpenColorIO), annotations copied, for the plate benchmark:

    .venv/bin/python bench/make_exr_plates.py ../shared/data/davis2016-dev /tmp/davis-exr
    .venv/bin/python bench/davis_bench.py --data /tmp/davis-exr --quality 0 --label exr_q0

Write the copy outside the repository (the data never goes into it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="DAVIS-layout folder (JPEGImages/480p, Annotations/480p)")
    parser.add_argument("out", help="where to write the EXR copy (outside the repository)")
    args = parser.parse_args()

    import OpenImageIO as oiio
    import PyOpenColorIO as ocio

    from core.plates import BUILTIN_CONFIG, LINEAR, SRGB
    from core.video import read_image_rgb

    config = ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
    to_linear = config.getProcessor(SRGB, LINEAR).getDefaultCPUProcessor()
    data, out = Path(args.data), Path(args.out)
    shutil.copytree(data / "Annotations", out / "Annotations", dirs_exist_ok=True)
    for sequence in sorted((data / "JPEGImages" / "480p").iterdir()):
        target = out / "JPEGImages" / "480p" / sequence.name
        target.mkdir(parents=True, exist_ok=True)
        for jpeg in sorted(sequence.glob("*.jpg")):
            linear = read_image_rgb(jpeg).astype(np.float32) / 255.0
            to_linear.applyRGB(linear)
            height, width = linear.shape[:2]
            path = target / f"{jpeg.stem}.exr"
            image = oiio.ImageOutput.create(str(path))
            image.open(str(path), oiio.ImageSpec(width, height, 3, oiio.HALF))
            image.write_image(linear)
            image.close()
        print(sequence.name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
