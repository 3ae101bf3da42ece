"""Unit costs behind the presets' cost estimate (core.shot.presets.UnitCosts), measured here.

    .venv/bin/python bench/step_costs.py [--data ../shared/data/davis2016-dev --sequence blackswan]
        [--weights parent|parent-large|PATH]

Runs each preset's plan through core.shot.session.ShotSession on the first frame of one DAVIS
sequence (854x480, first-frame mask) with the steps capped (per-step cost does not depend on the
count), reads the seconds of each kind of work from the progress the run reports, and times one
inference pass and the temporal gate. Prints a JSON line of UnitCosts fields to paste into
core/shot/presets.py (`DEV_MACHINE_COSTS`) and docs/BENCHMARKS.md, and the estimate against the
measured time of an uncapped Fast run. Every recipe runs on the one network `--weights` names
(the larger parent's costs: `--weights parent-large`; core.shot.presets.LARGE_PARENT_COST_RATIOS
are its units over the standard parent's, measured one run after the other).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/davis2016-dev"))
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--weights", default="parent", help="parent, parent-large or a path")
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from core.annotations import AnnotationStore, read_label_mask
    from core.jobs import TrainProgress
    from core.model.build import build_model
    from core.segmentation import SegmentConfig, Segmenter
    from core.shot.presets import Preset, recipe_for
    from core.shot.session import ShotSession
    from core.video import open_frames

    source = open_frames(Path(args.data) / "JPEGImages/480p" / args.sequence)
    mask = read_label_mask(Path(args.data) / "Annotations/480p" / args.sequence / "00000.png") > 0
    store = AnnotationStore(source.size)
    store.set(1, 0, mask)
    parent, info = build_model(weights=args.weights)

    def run(preset, cap):
        def recipes(p):
            return recipe_for(p).with_overrides(steps=cap)

        session = ShotSession(source, parent, info, recipes=recipes)
        job = session.train_job(store, preset, preview=False)
        ticks = []
        started = time.perf_counter()
        for event in session.train(job):
            if isinstance(event, TrainProgress):
                ticks.append((time.perf_counter() - started, event))
        return ticks, time.perf_counter() - started

    def per_step(ticks, keep):
        times = [t for t, p in ticks if keep(p)]
        return statistics.median(np.diff(times)) if len(times) > 2 else float("nan")

    fast, fast_s = run(Preset.FAST, recipe_for(Preset.FAST).members[0].steps)
    prep = [t for t, p in fast if p.phase == "preparing"]
    views = len(prep)
    encode_view = prep[-1] / views
    head_step = per_step(fast, lambda p: p.phase == "training" and p.stage == "")
    refine_step = per_step(fast, lambda p: p.stage == "edges")
    best, _ = run(Preset.BEST, 60)
    all_step = per_step(best, lambda p: p.model == 1 and p.phase == "training")

    model = parent.eval()
    model.set_num_objects(1)
    image = source.read(10)
    one = Segmenter(model, source, config=SegmentConfig())
    one.predict_image(image)
    t = time.perf_counter()
    for _ in range(5):
        one.predict_image(image)
    inference_pass = (time.perf_counter() - t) / 5
    gated = Segmenter(model, source, config=SegmentConfig(temporal_gate_px=40))
    plain = Segmenter(model, source, config=SegmentConfig())
    for s in (gated, plain):
        for f in range(3):
            s.segment_frame(f)  # fills the raw caches: what follows times the gate alone
    t = time.perf_counter()
    for f in range(1, 3):
        gated.segment_frame(f)
    t_gated = time.perf_counter() - t
    t = time.perf_counter()
    for f in range(1, 3):
        plain.segment_frame(f)
    gate = max(0.0, (t_gated - (time.perf_counter() - t)) / 2)

    from core.shot.presets import UnitCosts

    units = UnitCosts(
        encode_view=round(encode_view, 3),
        head_step=round(head_step, 4),
        refine_step=round(refine_step, 4),
        all_step=round(all_step, 3),
        inference_pass=round(inference_pass, 3),
        gate=round(gate, 3),
    )
    from core.shot.plan import CostModel, plan

    estimate = CostModel(source.size, units).estimate(
        recipe_for(Preset.FAST),
        plan(recipe_for(Preset.FAST), models_trained=0, correction=False, preview=False),
        1,
        len(source),
    )
    print(
        json.dumps(
            {
                "units": dataclasses.asdict(units),
                "views_encoded": views,
                "fast_train_measured_s": round(fast_s, 1),
                "fast_train_estimated_s": round(estimate.train_s, 1),
                "cpu_bf16": bool(one.use_bf16),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
