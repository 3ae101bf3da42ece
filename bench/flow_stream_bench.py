"""Does a second stream on optical-flow magnitude help? (issue #12, MaskTrack+Flow; a script,
not a test.)

    .venv/bin/python bench/flow_stream_bench.py [--quality 0] [--motion raw|relative]
        [--sequences blackswan,goat]

On each DAVIS-2016 dev sequence, with the first frame's ground-truth mask, two models are
fine-tuned from the shipped parent as `main.py segment` would: one on the RGB frames, one on
their flow-magnitude images (core.flow_stream.FlowImageSource). Every frame is then segmented
three ways: RGB alone (what ships), flow alone, and the two streams' probabilities averaged
(core.flow_stream.TwoStreamSegmenter). Prints DAVIS J, F and J&F (first and last frame
excluded, mean over sequences) and the seconds each part took. Use the dev split only for
measuring; never train on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.annotations import AnnotationStore, read_label_mask  # noqa: E402
from core.flow_stream import FlowImageSource, TwoStreamSegmenter  # noqa: E402
from core.metrics import evaluate_sequence  # noqa: E402
from core.shot.presets import preset_for  # noqa: E402
from core.shot.session import ShotSession  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "davis2016-dev"
OBJECT = 1
WAYS = ("rgb", "flow", "both")


def trained_session(source, parent, info, truth: np.ndarray, preset) -> tuple[ShotSession, float]:
    """A session on `source` fine-tuned on frame 0's mask `truth`; (session, seconds)."""
    started = time.perf_counter()
    session = ShotSession(source, parent, info)
    store = AnnotationStore(source.size)
    store.set(OBJECT, 0, truth)
    for _ in session.train(session.train_job(store, preset, preview=False)):
        pass
    return session, time.perf_counter() - started


def main() -> int:
    from core.model.build import build_model
    from core.video import open_frames

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEV))
    parser.add_argument("--quality", type=float, default=0.0)
    parser.add_argument("--sequences", default="", help="comma-separated; default: all")
    parser.add_argument(
        "--motion",
        choices=["raw", "relative"],
        default="raw",
        help="flow magnitude as it is (MaskTrack) or after the camera's motion is taken out",
    )
    args = parser.parse_args()
    image_root = Path(args.data) / "JPEGImages" / "480p"
    gt_root = Path(args.data) / "Annotations" / "480p"
    names = [n for n in args.sequences.split(",") if n] or sorted(
        p.name for p in image_root.iterdir()
    )
    parent, info = build_model(weights="parent")
    preset = preset_for(args.quality)
    scores = {way: [] for way in WAYS}
    seconds = {"rgb train": 0.0, "flow train": 0.0, "rgb": 0.0, "flow": 0.0, "both": 0.0}
    frames_total = 0
    for name in names:
        source = open_frames(str(image_root / name))
        truths = [read_label_mask(p) > 0 for p in sorted((gt_root / name).glob("*.png"))]
        rgb, t_rgb = trained_session(source, parent, info, truths[0], preset)
        flow_images = FlowImageSource(source, relative=args.motion == "relative")
        flow, t_flow = trained_session(flow_images, parent, info, truths[0], preset)
        seconds["rgb train"] += t_rgb
        seconds["flow train"] += t_flow
        model = rgb.model
        both = TwoStreamSegmenter(
            list(model.networks),
            source,
            annotations=model.annotations,
            config=rgb.recipe(model.preset).segment,
            working=rgb.working,
            flow=flow.segmenter(),
        )
        segmenters = {"rgb": rgb.segmenter(), "flow": flow.segmenter(), "both": both}
        line = []
        for way in WAYS:  # "both" reuses the flow stream's cached probabilities
            started = time.perf_counter()
            preds = [segmenters[way].segment_frame(f).labels == OBJECT for f in range(len(truths))]
            seconds[way] += time.perf_counter() - started
            score = evaluate_sequence(name, preds, truths)
            scores[way].append(score)
            line.append(f"{way} {score.JF * 100:5.1f}")
        frames_total += len(truths)
        print(f"{name:<20} J&F " + "  ".join(line), flush=True)
    print(
        f"\n{len(names)} sequences, {frames_total} frames, {preset.value}, {args.motion} motion\n"
    )
    print("| stream | J | F | J&F |")
    print("|---|---|---|---|")
    for way in WAYS:
        j = np.mean([s.J.mean for s in scores[way]]) * 100
        f = np.mean([s.F.mean for s in scores[way]]) * 100
        print(f"| {way} | {j:.1f} | {f:.1f} | {(j + f) / 2:.1f} |")
    print(
        "\nseconds: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
        + ' ("both" runs the RGB network again and reuses the flow stream\'s cached'
        " probabilities where its cache still holds them)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
