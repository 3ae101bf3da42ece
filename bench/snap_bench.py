"""Contour snapping on the dev split: J, F, J&F and added seconds/frame, snapping on vs off.

Post-processes an existing prediction folder (from davis_bench.py), so both rows score the same
network output:

    .venv/bin/python bench/snap_bench.py --data ../shared/data/davis2016-dev --pred bench/out/parent_q0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.annotations import read_label_mask  # noqa: E402
from core.contours import SnapSettings, snap_to_contours  # noqa: E402
from core.metrics import evaluate_sequence  # noqa: E402
from core.video import read_image_rgb  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--pred", required=True)
    parser.add_argument("--superpixel-area", type=int, default=SnapSettings().superpixel_area)
    args = parser.parse_args()
    data, pred = Path(args.data), Path(args.pred)
    settings = SnapSettings(superpixel_area=args.superpixel_area)
    rows = {"off": [], "on": []}
    snap_time, frames_total = 0.0, 0
    for seq_dir in sorted(p for p in (data / "JPEGImages" / "480p").iterdir() if p.is_dir()):
        gts, raws, snaps = [], [], []
        for image_path in sorted(seq_dir.glob("*.jpg")):
            gt = (
                read_label_mask(
                    data / "Annotations" / "480p" / seq_dir.name / f"{image_path.stem}.png"
                )
                > 0
            )
            raw = read_label_mask(pred / seq_dir.name / f"{image_path.stem}.png") > 0
            started = time.perf_counter()
            snapped = snap_to_contours(raw, read_image_rgb(image_path), settings)
            snap_time += time.perf_counter() - started
            frames_total += 1
            gts.append(gt)
            raws.append(raw)
            snaps.append(snapped)
        rows["off"].append(evaluate_sequence(seq_dir.name, raws, gts))
        rows["on"].append(evaluate_sequence(seq_dir.name, snaps, gts))
        print(
            f"{seq_dir.name:<22} off {rows['off'][-1].JF * 100:5.1f}  on {rows['on'][-1].JF * 100:5.1f}",
            flush=True,
        )
    summary = {}
    for key, scores in rows.items():
        j = sum(s.J.mean for s in scores) / len(scores) * 100
        f = sum(s.F.mean for s in scores) / len(scores) * 100
        summary[key] = {"J": round(j, 1), "F": round(f, 1), "JF": round((j + f) / 2, 1)}
    summary["snap_s_per_frame"] = round(snap_time / max(1, frames_total), 3)
    summary["superpixel_area"] = settings.superpixel_area
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
