"""How well does a per-frame confidence score find the bad frames? (issue #13, part 1)

    .venv/bin/python bench/confidence_calibration.py [--sequences blackswan,goat]

On the DAVIS-2016 dev split at Fast (first frame's ground truth as the keyframe, every other
frame segmented), each candidate score is computed per frame from what segmentation produces
anyway, and compared with the frame's true J by Spearman rank correlation: pooled over all
frames, and the mean of the per-sequence correlations. Higher is better (a confident frame
has a high J). Prints a Markdown table for docs/BENCHMARKS.md.

Candidates: `band` (1 - share of the object's pixels with p in 0.2-0.8: core.confidence's
score), `temporal` (the smaller IoU of the frame's mask with its two neighbours' masks),
`area` (1 - relative jump of the mask's area against its neighbours'), `keyframe area ratio`
(the smaller of area/keyframe area and its inverse), and products of them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.confidence import object_confidences  # noqa: E402
from core.farm.render import RenderTarget, ShotRenderer  # noqa: E402
from core.farm.shots import ShotSpec, prepare_shot, train_shot  # noqa: E402
from core.metrics import region_similarity  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "davis2016-dev"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def sequence_scores(name: str, tmp: Path) -> dict[str, list[float]]:
    """Per frame (1..T-1): true J and every candidate score of one dev sequence."""
    frames = DEV / "JPEGImages" / "480p" / name
    gts = sorted((DEV / "Annotations" / "480p" / name).glob("*.png"))
    shot = prepare_shot(ShotSpec(frames=str(frames), annotations=(f"0:{gts[0]}",)))
    payload, _ = train_shot(shot)
    renderer = ShotRenderer(payload, RenderTarget(str(frames), str(tmp)))
    masks, bands, shipped = [], [], []
    key = cv2.imread(str(gts[0]), cv2.IMREAD_GRAYSCALE) > 0
    for i in range(len(gts)):
        result = renderer.segmenter.segment_frame(i)
        masks.append(result.labels > 0)
        bands.append(object_confidences(result.probs)[0][0])  # the band factor alone
        shipped.append(object_confidences(result.probs, [key.mean()])[0][0])
    names = ("J", "band", "temporal", "area", "key_area", "shipped")
    out: dict[str, list[float]] = {k: [] for k in names}
    key_area = max(1, int((cv2.imread(str(gts[0]), cv2.IMREAD_GRAYSCALE) > 0).sum()))
    for i in range(1, len(gts)):
        gt = cv2.imread(str(gts[i]), cv2.IMREAD_GRAYSCALE) > 0
        neighbours = [masks[j] for j in (i - 1, i + 1) if 0 <= j < len(masks)]
        area = masks[i].sum()
        around = np.mean([m.sum() for m in neighbours])
        out["J"].append(region_similarity(masks[i], gt))
        out["band"].append(bands[i])
        out["shipped"].append(shipped[i])
        out["temporal"].append(min(iou(masks[i], m) for m in neighbours))
        out["area"].append(1.0 - abs(area - around) / max(area, around, 1))
        out["key_area"].append(min(area / key_area, key_area / max(area, 1)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", default="", help="comma-separated (default: all dev)")
    args = parser.parse_args()
    names = (
        args.sequences.split(",")
        if args.sequences
        else sorted(p.name for p in (DEV / "JPEGImages" / "480p").iterdir())
    )
    started = time.perf_counter()
    per_sequence = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            per_sequence[name] = sequence_scores(name, Path(tmp))
    candidates = {
        "band": lambda s: np.array(s["band"]),
        "temporal": lambda s: np.array(s["temporal"]),
        "area": lambda s: np.array(s["area"]),
        "band x temporal": lambda s: np.array(s["band"]) * np.array(s["temporal"]),
        "keyframe area ratio": lambda s: np.array(s["key_area"]),
        "band x sqrt(keyframe area ratio)": lambda s: (
            np.array(s["band"]) * np.sqrt(np.array(s["key_area"]))
        ),
        "band x keyframe area ratio^0.25": lambda s: (
            np.array(s["band"]) * np.array(s["key_area"]) ** 0.25
        ),
        "shipped: core.confidence with the keyframe's area": lambda s: np.array(s["shipped"]),
        "band x temporal x area": lambda s: (
            np.array(s["band"]) * np.array(s["temporal"]) * np.array(s["area"])
        ),
    }
    pooled_j = np.concatenate([s["J"] for s in per_sequence.values()])
    frames = len(pooled_j)
    print(
        f"{len(names)} dev sequences, {frames} frames, Fast; {time.perf_counter() - started:.0f} s"
    )
    print(
        "| score | Spearman, pooled | Spearman, mean per sequence | worst-10% frames found (J of the 10% least confident vs all) |"
    )
    print("|---|---|---|---|")
    for label, score_of in candidates.items():
        pooled = np.concatenate([score_of(s) for s in per_sequence.values()])
        rho = spearmanr(pooled, pooled_j).statistic
        per = [spearmanr(score_of(s), s["J"]).statistic for s in per_sequence.values()]
        per = [r for r in per if np.isfinite(r)]
        flagged = pooled_j[np.argsort(pooled)[: max(1, frames // 10)]]
        print(
            f"| {label} | {rho:.3f} | {np.mean(per):.3f} | "
            f"mean J {flagged.mean():.3f} vs {pooled_j.mean():.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
