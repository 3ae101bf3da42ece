"""Test-time augmentation at the quality end: one fine-tune per sequence, several inference modes.

    .venv/bin/python bench/tta_explore.py --data ../shared/data/davis2016-dev \
        --sequences blackswan,car-shadow --steps 300 --views 16 --refine-steps 100

In-process (no whole-process timing; use davis_bench.py for that): fine-tunes once per sequence
with the given head recipe, then segments every frame with each inference mode (plain, mirror,
mirror + scales 0.75/1/1.25), writes the masks under bench/out/<label>/<mode>/ and prints DAVIS
J&F per mode with the inference seconds/frame measured here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = {
    "plain": dict(scales=(1.0,), flip=False),
    "flip": dict(scales=(1.0,), flip=True),
    "flip_3scales": dict(scales=(0.75, 1.0, 1.25), flip=True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sequences", default="")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--refine-steps", type=int, default=30)
    parser.add_argument("--label", default="tta")
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from bench.davis_split import davis_sequences, first_frame_mask_path
    from core.annotations import read_label_mask
    from core.export import write_png_atomic
    from core.metrics import evaluate_pair
    from core.model.build import build_model
    from core.segmentation import DEFAULT_GATE_PX, FrameAnnotation, SegmentConfig, segment
    from core.training import TrainingSample, config_for_quality, fine_tune
    from core.video import open_frames

    image_root, gt_root, sequences = davis_sequences(args.data, args.sequences)
    out_root = ROOT / "bench" / "out" / args.label
    scores = {mode: [] for mode in MODES}
    seconds = {mode: 0.0 for mode in MODES}
    frames_total = 0
    for seq in sequences:
        source = open_frames(image_root / seq)
        mask = read_label_mask(first_frame_mask_path(image_root, gt_root, seq)) > 0
        model, _ = build_model(weights="parent")
        config = config_for_quality(
            0, steps=args.steps, views_per_frame=args.views, refine_steps=args.refine_steps
        )
        sample = TrainingSample(np.array(source.read(0)), mask[None], np.ones(1, bool))
        for _ in fine_tune(model, [sample], config):
            pass
        annotations = {0: FrameAnnotation(mask[None], np.ones(1, bool))}
        frames_total += len(source)
        for mode, options in MODES.items():
            out_dir = out_root / mode / seq
            out_dir.mkdir(parents=True, exist_ok=True)
            seg_config = SegmentConfig(temporal_gate_px=DEFAULT_GATE_PX, **options)
            started = time.perf_counter()
            for result in segment(
                model, source, range(len(source)), annotations=annotations, config=seg_config
            ):
                matte = (result.labels > 0).astype(np.uint8) * 255
                write_png_atomic(out_dir / f"{source.stems[result.frame_idx]}.png", matte)
            seconds[mode] += time.perf_counter() - started
            scores[mode].append(evaluate_pair(out_dir, gt_root / seq, seq))
            print(f"{seq:20s} {mode:14s} J&F {scores[mode][-1].JF * 100:5.1f}", flush=True)
    summary = {}
    for mode in MODES:
        jf = float(np.mean([s.JF for s in scores[mode]])) * 100
        summary[mode] = {
            "JF": round(jf, 1),
            "infer_s_per_frame": round(seconds[mode] / frames_total, 3),
        }
    print(json.dumps({"label": args.label, "recipe": vars(args), "modes": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
