"""Quality end: does averaging two different fine-tunes beat either one?

    .venv/bin/python bench/ensemble_explore.py --data ../shared/data/davis2016-dev \
        [--sequences blackswan,car-shadow] [--label ensemble]

In-process (no whole-process timing; use davis_bench.py for that). Per sequence, from the
shipped parent: model A = the slider's Balanced recipe (head 300 steps on 16 cached views +
refinement 100), model B = the whole-network recipe (320 px crops, 500 steps). The Best
setting now ships their mean (core.training.member_configs_for_quality). Every
frame is segmented with each (mirrored pass included, as the slider does from 1/3 on) and the
raw probabilities kept; then each variant (A, B, mean of A and B) goes through the same temporal
gate and threshold as the engine, masks are written under bench/out/<label>/<variant>/ and
DAVIS J&F is printed per variant, with the fine-tune and inference seconds measured here.
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
    parser.add_argument("--sequences", default="")
    parser.add_argument("--label", default="ensemble")
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
    from core.segmentation import FrameAnnotation, Segmenter, segment_config_for_quality
    from core.training import TrainingSample, config_for_quality, fine_tune
    from core.video import open_frames

    class StoredSegmenter(Segmenter):
        """The engine's gate and threshold applied to probabilities computed beforehand."""

        def __init__(self, probs, *a, **kw):
            super().__init__(*a, **kw)
            self._stored = probs

        def raw_probs(self, frame_idx):
            return self._stored[frame_idx].astype(np.float32)

    image_root, gt_root, sequences = davis_sequences(args.data, args.sequences)
    out_root = ROOT / "bench" / "out" / args.label
    variants = ("A", "B", "mean")
    scores = {v: [] for v in variants}
    timing = {"train_A": 0.0, "train_B": 0.0, "infer_A": 0.0, "infer_B": 0.0}
    frames_total = 0
    seg_config = segment_config_for_quality(1.0)
    for seq in sequences:
        source = open_frames(image_root / seq)
        mask = read_label_mask(first_frame_mask_path(image_root, gt_root, seq)) > 0
        sample = TrainingSample(np.array(source.read(0)), mask[None], np.ones(1, bool))
        annotations = {0: FrameAnnotation(mask[None], np.ones(1, bool))}
        frames_total += len(source)
        probs = {}
        for name, quality in (("A", 0.5), ("B", 1.0)):
            model, _ = build_model(weights="parent")
            started = time.perf_counter()
            for _ in fine_tune(model, [sample], config_for_quality(quality)):
                pass
            timing[f"train_{name}"] += time.perf_counter() - started
            started = time.perf_counter()
            segmenter = Segmenter(model, source, annotations=annotations, config=seg_config)
            probs[name] = [
                segmenter.predict(source.read(i)).astype(np.float16) for i in range(len(source))
            ]
            timing[f"infer_{name}"] += time.perf_counter() - started
        probs["mean"] = [
            ((a.astype(np.float32) + b.astype(np.float32)) / 2).astype(np.float16)
            for a, b in zip(probs["A"], probs["B"], strict=True)
        ]
        for variant in variants:
            out_dir = out_root / variant / seq
            out_dir.mkdir(parents=True, exist_ok=True)
            segmenter = StoredSegmenter(
                probs[variant], model, source, annotations=annotations, config=seg_config
            )
            for i in range(len(source)):
                result = segmenter.segment_frame(i)
                matte = (result.labels > 0).astype(np.uint8) * 255
                write_png_atomic(out_dir / f"{source.stems[i]}.png", matte)
            scores[variant].append(evaluate_pair(out_dir, gt_root / seq, seq))
        line = "  ".join(f"{v} {scores[v][-1].JF * 100:5.1f}" for v in variants)
        print(f"{seq:20s} {len(source):4d} frames  {line}", flush=True)
    summary = {
        v: {
            "J": round(float(np.mean([s.J.mean for s in scores[v]])) * 100, 1),
            "F": round(float(np.mean([s.F.mean for s in scores[v]])) * 100, 1),
            "JF": round(float(np.mean([s.JF for s in scores[v]])) * 100, 1),
        }
        for v in variants
    }
    timing = {k: round(t, 1) for k, t in timing.items()}
    print(json.dumps({"label": args.label, "frames": frames_total, "variants": summary, **timing}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
