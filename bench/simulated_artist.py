"""Quality per artist effort: a simulated artist corrects one frame per round (issue #13, part 3).

    .venv/bin/python bench/simulated_artist.py --robot frame --chooser tool [--rounds 5]
        [--quality 0] [--sequences blackswan,goat] [--json OUT.json]

On each DAVIS-2016 dev sequence the artist starts from the first frame's ground-truth mask. Each
round the tool trains as the app does (the first run from the parent, every later one a
correction's update from the current weights: `ShotSession.train_job(..., correction=True)`),
segments every frame, and the artist picks a frame (`--chooser tool`: the tool's least confident
frame, the app's `N`; `oracle`: the frame of lowest true J), then corrects it with a robot
(bench/artist_robots.py: `frame` paints the ground truth, `stroke` fixes the largest missed and
wrong regions). J and F are the DAVIS measures of the frames the tool would export (keyframes
keep their painted masks; first and last frame excluded), mean over sequences.

Reported per round: J&F, the seconds of training (the whole run, the app's preview included),
and the correction latency: from the correction being committed to the first model's result on
the frame after it (the app's preview of the update + one frame's segmentation, in process; the
app adds its own overhead). Prints a Markdown table
for docs/BENCHMARKS.md. Use the dev split only for measuring; never train on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.artist_robots import ROBOTS  # noqa: E402
from core.annotations import AnnotationStore, read_label_mask  # noqa: E402
from core.confidence import KeyframeAreas, frame_confidence, least_confident  # noqa: E402
from core.correction_neighbours import NeighbourSamples  # noqa: E402
from core.corrections import Correction  # noqa: E402
from core.metrics import boundary_f_measure, region_similarity  # noqa: E402
from core.shot.presets import Preset, preset_for  # noqa: E402
from core.shot.session import ShotModel, ShotSession  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "davis2016-dev"
OBJECT = 1  # the one object id of a DAVIS-2016 sequence


@dataclass(frozen=True)
class Round:
    """One round of a sequence: keyframes: annotated frames when it was scored; J, F: DAVIS
    means in [0, 1]; train_s: this round's training; latency_s: correction -> result on the
    next frame (nan in round 0); chosen: the frame the artist corrects next (-1: none)."""

    keyframes: int
    J: float
    F: float
    train_s: float
    latency_s: float
    chosen: int


def scored_frames(count: int) -> range:
    """The frames DAVIS scores: all but the first and last (all when there are two or fewer)."""
    return range(1, count - 1) if count > 2 else range(count)


def simulate(
    session: ShotSession,
    truths: list[np.ndarray],
    robot: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]],
    chooser: str,
    rounds: int,
    preset: Preset = Preset.FAST,
    weighted: bool = True,
) -> Iterator[Round]:
    """Rounds 0..`rounds` of one sequence: the first frame's truth as keyframe, then one
    correction per round. truths: (H, W) bool per frame of `session.source`; chooser: "tool" or
    "oracle"; weighted: a robot's partial correction is kept as the app keeps it
    (core.corrections: the pixels it did not paint weigh less in training, those the model was
    unsure of nothing), else as a plain full mask (before corrections were weighted)."""
    store = AnnotationStore(session.source.size)
    store.set(OBJECT, 0, truths[0])
    next_frame: int | None = None
    for round_idx in range(rounds + 1):
        started = time.perf_counter()
        job = session.train_job(store, preset, correction=round_idx > 0)
        latency_s = float("nan")
        for event in session.train(job):
            # The first model out (the app's preview) is what the artist sees change first.
            if isinstance(event, ShotModel) and next_frame is not None and np.isnan(latency_s):
                session.segmenter().segment_frame(next_frame)
                latency_s = time.perf_counter() - started
        train_s = time.perf_counter() - started
        segmenter = session.segmenter()
        results = {f: segmenter.segment_frame(f) for f in range(len(truths))}
        masks = {f: r.labels == OBJECT for f, r in results.items()}
        j = {f: region_similarity(masks[f], truths[f]) for f in masks}
        scored = scored_frames(len(truths))
        f_measure = np.mean([boundary_f_measure(masks[f], truths[f]) for f in scored])
        if chooser == "oracle":
            scores = j
        else:
            areas = KeyframeAreas.of([[(f, store.get(OBJECT, f)) for f in store.frames()]])
            scores = {f: frame_confidence(r.probs, areas.at(f)) for f, r in results.items()}
        chosen = least_confident(scores, skip=store.frames()) if round_idx < rounds else None
        yield Round(
            len(store.frames()),
            float(np.mean([j[f] for f in scored])),
            float(f_measure),
            train_s,
            latency_s,
            -1 if chosen is None else chosen,
        )
        if chosen is None:
            return
        corrected, painted = robot(masks[chosen], truths[chosen])
        correction = None
        if weighted and painted is not None:  # as the app keeps an edited result
            correction = Correction.start(results[chosen].probs[0]).painted_over(painted)
        store.set(OBJECT, chosen, corrected, correction=correction)
        neighbours = [f for f in (chosen + 1, chosen - 1) if 0 <= f < len(truths)]
        next_frame = next((f for f in neighbours if f not in store.frames()), None)


def main() -> int:
    from core.model.build import build_model
    from core.video import open_frames

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robot", choices=sorted(ROBOTS), default="frame")
    parser.add_argument("--chooser", choices=["tool", "oracle"], default="tool")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quality", type=float, default=0.0)
    parser.add_argument("--sequences", default="", help="comma-separated (default: all dev)")
    parser.add_argument("--data", default=str(DEV))
    parser.add_argument("--json", default="", help="also write the per-sequence rounds here")
    parser.add_argument(
        "--corrections",
        choices=["weighted", "full"],
        default="weighted",
        help="keep a stroke robot's correction as the app does (weighted: core.corrections) or "
        "as a plain full mask (full: every pixel taught as truth, as before)",
    )
    parser.add_argument(
        "--neighbours",
        choices=["on", "off"],
        default="off",
        help="the frames around a correction learn from it (core.correction_neighbours; off in "
        "the app: it did not win)",
    )
    args = parser.parse_args()
    data = Path(args.data)
    image_root, gt_root = data / "JPEGImages" / "480p", data / "Annotations" / "480p"
    names = (
        args.sequences.split(",")
        if args.sequences
        else sorted(p.name for p in image_root.iterdir())
    )
    parent, info = build_model(weights="parent")
    preset = preset_for(args.quality)
    per_sequence: dict[str, list[Round]] = {}
    started = time.perf_counter()
    for name in names:
        source = open_frames(str(image_root / name))
        truths = [read_label_mask(p) > 0 for p in sorted((gt_root / name).glob("*.png"))]
        session = ShotSession(source, parent, info)
        if args.neighbours == "on":
            session.correction_neighbours = NeighbourSamples()
        rounds = list(
            simulate(
                session,
                truths,
                ROBOTS[args.robot],
                args.chooser,
                args.rounds,
                preset,
                weighted=args.corrections == "weighted",
            )
        )
        per_sequence[name] = rounds
        line = " ".join(f"{(r.J + r.F) * 50:5.1f}" for r in rounds)
        print(
            f"{name:<20} J&F by keyframes: {line}   chose {[r.chosen for r in rounds]}", flush=True
        )
    print(
        f"\n{len(names)} sequences, robot {args.robot}, chooser {args.chooser}, "
        f"corrections {args.corrections}, "
        f"{preset.value}; {time.perf_counter() - started:.0f} s\n"
    )
    print(
        "| keyframes | J | F | J&F | training s (mean per sequence) | correction → next frame s |"
    )
    print("|---|---|---|---|---|---|")
    depth = min(len(r) for r in per_sequence.values())
    for k in range(depth):
        at = [rounds[k] for rounds in per_sequence.values()]
        j, f = np.mean([r.J for r in at]) * 100, np.mean([r.F for r in at]) * 100
        latencies = [r.latency_s for r in at if np.isfinite(r.latency_s)]
        latency = f"{np.mean(latencies):.2f}" if latencies else "–"
        train = np.mean([r.train_s for r in at])
        print(
            f"| {at[0].keyframes} | {j:.1f} | {f:.1f} | {(j + f) / 2:.1f} | {train:.1f} | {latency} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({n: [asdict(r) for r in rs] for n, rs in per_sequence.items()}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
