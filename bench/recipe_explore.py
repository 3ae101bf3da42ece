"""Try a fine-tune recipe change on the dev split in one process (accuracy; time as measured here).

    .venv/bin/python bench/recipe_explore.py --data ../shared/data/davis2016-dev \
        --quality 0.5 --set dream=0.5 [--sequences blackswan,car-shadow] [--label NAME]

Per sequence: the shipped parent, `config_for_quality(Q)` with the `--set` overrides (any
FineTuneConfig field with a number value), first-frame mask in, every frame segmented with the
slider's inference settings for Q; masks under bench/out/<label>/, per-sequence and mean DAVIS
J&F printed. Whole-process timing of a shipped recipe is davis_bench.py's job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--quality", type=float, default=0.0)
    parser.add_argument("--set", action="append", default=[], help="FIELD=NUMBER override")
    parser.add_argument("--sequences", default="")
    parser.add_argument("--label", default="recipe")
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
    from core.segmentation import FrameAnnotation, segment, segment_config_for_quality
    from core.training import TrainingSample, config_for_quality, fine_tune
    from core.video import open_frames

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = float(value) if "." in value else int(value)
    config = config_for_quality(args.quality, **overrides)
    image_root, gt_root, sequences = davis_sequences(args.data, args.sequences)
    out_root = ROOT / "bench" / "out" / args.label
    scores, train_s, infer_s, frames_total = [], 0.0, 0.0, 0
    for seq in sequences:
        source = open_frames(image_root / seq)
        mask = read_label_mask(first_frame_mask_path(image_root, gt_root, seq)) > 0
        sample = TrainingSample(np.array(source.read(0)), mask[None], np.ones(1, bool))
        model, _ = build_model(weights="parent")
        started = time.perf_counter()
        for _ in fine_tune(model, [sample], config):
            pass
        train_s += time.perf_counter() - started
        annotations = {0: FrameAnnotation(mask[None], np.ones(1, bool))}
        out_dir = out_root / seq
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for result in segment(
            model,
            source,
            range(len(source)),
            annotations=annotations,
            config=segment_config_for_quality(args.quality),
        ):
            matte = (result.labels > 0).astype(np.uint8) * 255
            write_png_atomic(out_dir / f"{source.stems[result.frame_idx]}.png", matte)
        infer_s += time.perf_counter() - started
        frames_total += len(source)
        scores.append(evaluate_pair(out_dir, gt_root / seq, seq))
        print(f"{seq:20s} {len(source):4d} frames  J&F {scores[-1].JF * 100:5.1f}", flush=True)
    summary = {
        "label": args.label,
        "quality": args.quality,
        "overrides": overrides,
        "sequences": len(sequences),
        "J": round(float(np.mean([s.J.mean for s in scores])) * 100, 1),
        "F": round(float(np.mean([s.F.mean for s in scores])) * 100, 1),
        "JF": round(float(np.mean([s.JF for s in scores])) * 100, 1),
        "train_s_per_sequence": round(train_s / len(sequences), 1),
        "infer_s_per_frame": round(infer_s / frames_total, 3),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
