"""Explore what could lift the Balanced setting on the dev split, in-process: each sequence's
model learns its first frame's ground truth (as `bench/davis_bench.py` does), every frame's
probabilities (after the temporal gate, at 854x480) are kept, and post-processes of them are
scored with DAVIS J and F (core.metrics).

    .venv/bin/python bench/probability_explore.py --probs /tmp/probs_bal
    .venv/bin/python bench/probability_explore.py --probs /tmp/probs_wide --dream-scale 0.6,2.2
    .venv/bin/python bench/probability_explore.py --probs /tmp/probs_on --online 2 [--spread]
    .venv/bin/python bench/probability_explore.py --probs /tmp/probs_bal --score-only \
        --post plain,flow1_1,flow1_0.5,flow2_0.5,crf_80_13_10,crf_50_5_5

Post-processes (`--post`): `plain` thresholds the probabilities at 0.5; `flowK_W` averages a
frame's probabilities with those of the frames within K of it, each warped to it along OpenCV's
DIS optical flow and weighted W (the frame itself weighs 1); `crf_SXY_SRGB_COMPAT` is a fully
connected CRF (Kraehenbuehl & Koltun; the `pydensecrf2` package, `pip install pydensecrf2`,
not a dependency of Rotoshot) with a 3 px Gaussian term and a bilateral term of those
parameters, 5 iterations. Times printed are post-process seconds per frame on this machine.

Use the dev split only for measuring; never train on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.annotations import AnnotationStore, read_label_mask  # noqa: E402
from core.metrics import boundary_f_measure, region_similarity  # noqa: E402
from core.video import open_frames  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "davis2016-dev"
OBJECT = 1


def dump_probabilities(args: argparse.Namespace, names: list[str], data: Path) -> None:
    """Train each sequence's Balanced model on its first frame and save its probabilities as
    `<probs>/<sequence>.npy`, (frames, H, W) float16 in [0, 1]."""
    from core.augment import DreamConfig
    from core.model.build import build_model
    from core.shot.online import OnlineConfig, online_rounds
    from core.shot.presets import Preset, recipe_for
    from core.shot.session import ShotSession

    scale = tuple(float(x) for x in args.dream_scale.split(","))

    def recipes(preset: Preset):
        return recipe_for(preset).with_overrides(dream_config=DreamConfig(object_scale=scale))

    parent, info = build_model(weights="parent")
    out = Path(args.probs)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        started = time.perf_counter()
        source = open_frames(str(data / "JPEGImages" / "480p" / name))
        truths = truths_of(data, name)
        session = ShotSession(source, parent, info, recipes=recipes)
        store = AnnotationStore(source.size)
        store.set(OBJECT, 0, truths[0])
        job = session.train_job(store, Preset.BALANCED, preview=False)
        for _ in session.train(job):
            pass
        if args.online:
            # --spread: the rounds' frames reach the end of the shot instead of the next 24.
            per_round = OnlineConfig().frames_per_round
            stride = max(3, (len(truths) - 1) // (args.online * per_round)) if args.spread else 3
            config = OnlineConfig(rounds=args.online, stride=stride)
            for _ in online_rounds(session, job, config):
                pass
        segmenter = session.segmenter()
        probs = np.stack([segmenter.segment_frame(f).probs[0] for f in range(len(truths))])
        np.save(out / f"{name}.npy", probs.astype(np.float16))
        print(f"{name:<20} {time.perf_counter() - started:5.0f} s", flush=True)


def truths_of(data: Path, name: str) -> list[np.ndarray]:
    """The sequence's ground-truth masks, (H, W) bool per frame."""
    folder = data / "Annotations" / "480p" / name
    return [read_label_mask(p) > 0 for p in sorted(folder.glob("*.png"))]


def warp_to(probs: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`probs` (H, W) float32 of another frame, sampled where `flow` (H, W, 2) from this frame
    says each pixel went."""
    height, width = probs.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        probs, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def dense_crf(image: np.ndarray, probs: np.ndarray, sxy: float, srgb: float, compat: float):
    """The object's marginal (H, W) float32 after 5 mean-field iterations of a fully connected
    CRF on image (H, W, 3) uint8 and unary probs (H, W) float32 in [0, 1]."""
    import pydensecrf.densecrf as dcrf  # optional: only this exploration uses it

    height, width = probs.shape
    crf = dcrf.DenseCRF2D(width, height, 2)
    p = np.clip(probs, 1e-4, 1 - 1e-4)
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(np.stack([1 - p, p]).reshape(2, -1))))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    rgb = np.array(image, dtype=np.uint8, order="C", copy=True)
    crf.addPairwiseBilateral(sxy=sxy, srgb=srgb, rgbim=rgb, compat=compat)
    return np.array(crf.inference(5)).reshape(2, height, width)[1]


def score(args: argparse.Namespace, names: list[str], data: Path) -> None:
    """Print J, F and J&F per sequence and post-process, then their means over sequences."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    posts = args.post.split(",")
    means: dict[str, list[tuple[float, float]]] = {p: [] for p in posts}
    for name in names:
        probs = np.load(Path(args.probs) / f"{name}.npy").astype(np.float32)
        source = open_frames(str(data / "JPEGImages" / "480p" / name))
        images = [np.asarray(source.read(i)) for i in range(len(probs))]
        greys = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in images]
        truths = truths_of(data, name)
        flows: dict[tuple[int, int], np.ndarray] = {}  # (this frame, other) -> (H, W, 2)
        count = len(probs)
        for post in posts:
            started = time.perf_counter()
            js, fs = [], []
            for i in range(1, count - 1):  # DAVIS leaves out the first and last frame
                p = probs[i]
                if post.startswith("flow"):
                    reach, weight = post[4:].split("_")
                    total, weights = p.copy(), 1.0
                    for d in range(1, int(reach) + 1):
                        for j in (i - d, i + d):
                            if 0 <= j < count:
                                if (i, j) not in flows:
                                    flows[(i, j)] = dis.calc(greys[i], greys[j], None)
                                total += float(weight) * warp_to(probs[j], flows[(i, j)])
                                weights += float(weight)
                    p = total / weights
                elif post.startswith("crf"):
                    _, sxy, srgb, compat = post.split("_")
                    p = dense_crf(images[i], p, float(sxy), float(srgb), float(compat))
                mask = p > 0.5
                js.append(region_similarity(mask, truths[i]))
                fs.append(boundary_f_measure(mask, truths[i]))
            j, f = float(np.mean(js)) * 100, float(np.mean(fs)) * 100
            means[post].append((j, f))
            seconds = (time.perf_counter() - started) / max(1, count - 2)
            print(
                f"{name:<20} {post:<14} J {j:5.1f} F {f:5.1f} J&F {(j + f) / 2:5.1f}"
                f"  {seconds:.3f} s/frame",
                flush=True,
            )
    for post, rows in means.items():
        j, f = np.mean([r[0] for r in rows]), np.mean([r[1] for r in rows])
        print(f"mean {post:<14} J {j:.1f} F {f:.1f} J&F {(j + f) / 2:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEV))
    parser.add_argument("--probs", required=True, help="folder of the saved probabilities")
    parser.add_argument("--score-only", action="store_true", help="score saved probabilities")
    parser.add_argument("--dream-scale", default="0.6,1.5", help="dreamed views' zoom range")
    parser.add_argument("--online", type=int, default=0, help="online rounds after training")
    parser.add_argument("--spread", action="store_true", help="online frames reach the end")
    parser.add_argument("--post", default="plain", help="comma-separated post-processes")
    parser.add_argument("--sequences", default="", help="comma-separated (default: all)")
    args = parser.parse_args()
    data = Path(args.data)
    names = args.sequences.split(",") if args.sequences else None
    names = names or sorted(p.name for p in (data / "JPEGImages" / "480p").iterdir())
    if not args.score_only:
        dump_probabilities(args, names, data)
    score(args, names, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
