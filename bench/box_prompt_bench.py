"""Box prompts on the dev split's first frames: the mask-guided network vs OpenCV GrabCut.

The box is the ground-truth mask's bounding box (what an artist drags around the object), grown
by `--margin` of its size on each side. Both methods get the same box; the score is the mask IoU
against the ground truth (core.metrics.region_similarity), per sequence and on average, with
the seconds each took.

    .venv/bin/python bench/box_prompt_bench.py --data ../shared/data/davis2016-dev

Use the dev split only for measuring; never train on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.davis_split import davis_sequences  # noqa: E402
from core.annotations import read_label_mask  # noqa: E402
from core.box_prompt import box_to_mask, check_box, grabcut_mask  # noqa: E402
from core.guidance import bounding_box  # noqa: E402
from core.metrics import region_similarity  # noqa: E402
from core.model.build import build_model  # noqa: E402
from core.video import IMAGE_EXTENSIONS, open_frames  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="DAVIS-layout folder")
    parser.add_argument("--weights", default="guided", help="guided | a guided checkpoint path")
    parser.add_argument("--sequences", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--margin", type=float, default=0.0, help="box growth per side (share)")
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()

    image_root, gt_root, sequences = davis_sequences(args.data, args.sequences)
    model, info = build_model(weights=args.weights)
    if info.warning:
        print(f"warning: {info.warning}")
    rows = []
    for seq in sequences:
        source = open_frames(image_root / seq)
        first = sorted(p for p in (image_root / seq).iterdir() if p.suffix in IMAGE_EXTENSIONS)[0]
        truth = read_label_mask(gt_root / seq / (first.stem + ".png")) > 0
        x0, y0, x1, y1 = bounding_box(truth)
        mx, my = args.margin * (x1 - x0), args.margin * (y1 - y0)
        box = check_box((x0 - mx, y0 - my, x1 + mx, y1 + my), source.size)
        started = time.perf_counter()
        net_mask, how = box_to_mask(model, source, 0, box)
        net_s = time.perf_counter() - started
        started = time.perf_counter()
        cut_mask = grabcut_mask(source.read(0), box)
        cut_s = time.perf_counter() - started
        row = {
            "sequence": seq,
            "network_iou": round(region_similarity(net_mask, truth) * 100, 1),
            "network_by": how,
            "network_s": round(net_s, 2),
            "grabcut_iou": round(region_similarity(cut_mask, truth) * 100, 1),
            "grabcut_s": round(cut_s, 2),
        }
        rows.append(row)
        print(
            f"{seq:<22} network {row['network_iou']:5.1f} ({how}, {net_s:4.2f} s)"
            f"   grabcut {row['grabcut_iou']:5.1f} ({cut_s:4.2f} s)",
            flush=True,
        )
    mean_net = sum(r["network_iou"] for r in rows) / len(rows)
    mean_cut = sum(r["grabcut_iou"] for r in rows) / len(rows)
    summary = {"margin": args.margin, "network_iou": round(mean_net, 1)}
    summary["grabcut_iou"] = round(mean_cut, 1)
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
