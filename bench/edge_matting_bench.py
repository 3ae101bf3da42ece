"""Edge matting (core.edge_matting): its cost per frame at 480p, 1080p and 4K, and a crop to
look at.

    .venv/bin/python bench/edge_matting_bench.py [--sequence breakdance --frame 12 --band 6]
        [--crop docs/edge_matting.png]

Fine-tunes at Fast on the sequence's first-frame ground truth (core.shot.session, as the CLI
does), segments `--frame`, finishes that object's probability as a soft (16-bit/EXR) export
does, then mattes the edge band from the frame's colours. The frame and the probability are
upscaled (bicubic / bilinear) for the 1080p and 4K rows, as bench/make_plates.py does. Prints
seconds (min of 3) and the mean absolute change of alpha in the band; writes a side-by-side crop
(frame | soft export | edge matting) when --crop is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/davis2016-dev"))
    parser.add_argument("--sequence", default="breakdance")
    parser.add_argument("--frame", type=int, default=12)
    parser.add_argument("--band", type=int, default=6)
    parser.add_argument("--crop", default="", help="write the side-by-side crop here (PNG)")
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import cv2
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from core.annotations import AnnotationStore, read_label_mask
    from core.edge_matting import matte_edges
    from core.matte import FinishSettings, finish_matte
    from core.model.build import build_model
    from core.shot.presets import Preset
    from core.shot.session import ShotSession
    from core.video import open_frames

    data = Path(args.data)
    source = open_frames(data / "JPEGImages/480p" / args.sequence)
    truth = read_label_mask(data / "Annotations/480p" / args.sequence / "00000.png") > 0
    store = AnnotationStore(source.size)
    store.set(1, 0, truth)
    parent, info = build_model()
    session = ShotSession(source, parent, info)
    for _ in session.train(session.train_job(store, Preset.FAST, preview=False)):
        pass
    probs = session.segmenter().segment_frame(args.frame).probs[0]
    image = source.read(args.frame)
    soft = finish_matte(probs, FinishSettings(), soft=True)
    matte_edges(soft, image, args.band)  # first call: pymatting's kernels load

    print(f"{args.sequence} frame {args.frame}, band {args.band} px")
    print("| plate | s (min of 3) | mean |change| of alpha in the band |")
    print("|---|---|---|")
    for label, width in (("480p", 0), ("1080p", 1920), ("4K UHD", 3840)):
        frame, alpha = image, soft
        if width:
            height = round(image.shape[0] * width / image.shape[1])
            frame = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
            alpha = finish_matte(
                cv2.resize(probs, (width, height), interpolation=cv2.INTER_LINEAR),
                FinishSettings(),
                soft=True,
            )
        band = round(args.band * frame.shape[1] / image.shape[1])
        times = []
        for _ in range(3):
            start = time.perf_counter()
            matted = matte_edges(alpha, frame, band)
            times.append(time.perf_counter() - start)
        changed = np.abs(matted - alpha)
        print(
            f"| {label} ({band} px band) | {min(times):.2f} | {changed[changed > 0].mean():.3f} |"
        )

    if args.crop:
        matted = matte_edges(soft, image, args.band)
        half = 60
        # Centred where matting changed the matte most (summed over the crop's size).
        change = cv2.blur(np.abs(matted - soft), (2 * half, 2 * half))
        cy, cx = np.unravel_index(int(np.argmax(change)), change.shape)
        y0 = min(max(0, cy - half), image.shape[0] - 2 * half)
        x0 = min(max(0, cx - half), image.shape[1] - 2 * half)
        window = (slice(y0, y0 + 2 * half), slice(x0, x0 + 2 * half))

        def grey(a):
            return cv2.cvtColor((a[window] * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)

        tiles = [image[window], grey(soft), grey(matted)]
        strip = np.concatenate([cv2.resize(t, (360, 360), interpolation=cv2.INTER_NEAREST)
                                for t in tiles], axis=1)  # fmt: skip
        cv2.imwrite(args.crop, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
        print(f"crop ({x0},{y0}) 120x120 px, enlarged 3x: {args.crop}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
