"""DAVIS-2016 benchmark: first-frame mask in, every frame out, scored with DAVIS J and F.

Each sequence runs as its own `main.py segment` process and is timed as a whole (start-up, model
loading, fine-tuning, segmentation, writing PNGs): seconds/frame = total wall time / total frames.

    .venv/bin/python bench/davis_bench.py --data ../shared/data/davis2016-dev --quality 0
    .venv/bin/python bench/davis_bench.py --data ../shared/data/davis2016-dev --baseline copy-first
    .venv/bin/python bench/davis_bench.py --data ../shared/data/davis2016-dev --first strokes

`--first box` gives only the first mask's bounding box (`main.py segment --box`: the mask-guided
network's first mask becomes the keyframe). `--keyframes N` gives the ground truth of N evenly spaced frames (the first among them), as an
artist who has painted several frames would; `--first strokes` gives the first frame as a stroke robot's hint strokes (bench/stroke_robot.py)
instead of the full mask: what an artist who paints a few strokes gets.

Use the dev split only for measuring; never train on it.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.davis_split import davis_sequences  # noqa: E402
from core.annotations import read_label_mask  # noqa: E402
from core.guidance import bounding_box  # noqa: E402
from core.metrics import evaluate_pair, format_report, region_similarity  # noqa: E402
from core.video import IMAGE_EXTENSIONS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="DAVIS-layout folder")
    parser.add_argument("--quality", type=float, default=0.0)
    parser.add_argument("--weights", default="parent", help="parent | imagenet | checkpoint path")
    parser.add_argument(
        "--gate", type=int, default=None, help="temporal gate px (default: engine's)"
    )
    parser.add_argument("--steps", type=int, default=None, help="fine-tune steps (0: parent alone)")
    parser.add_argument("--sequences", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--baseline", choices=["copy-first"], help="score a baseline instead")
    parser.add_argument("--out", default="", help="prediction folder (default bench/out/<label>)")
    parser.add_argument("--label", default="", help="name of this run in the summary")
    parser.add_argument("--extra", default="", help="extra arguments for main.py segment")
    parser.add_argument(
        "--first",
        choices=["mask", "strokes", "box"],
        default="mask",
        help="first-frame annotation: the full mask, the stroke robot's hint strokes, or the "
        "mask's bounding box (a box prompt)",
    )
    parser.add_argument(
        "--keyframes",
        type=int,
        default=1,
        help="ground-truth masks given: the first frame and N-1 more, evenly spaced",
    )
    args = parser.parse_args()

    image_root, gt_root, sequences = davis_sequences(args.data, args.sequences)
    label = args.label or (args.baseline or f"{Path(args.weights).stem}_q{args.quality:g}")
    if args.first != "mask" and not args.label:
        label += f"_{args.first}"
    out_root = Path(args.out) if args.out else ROOT / "bench" / "out" / label
    if out_root.exists():
        shutil.rmtree(out_root)
    out_root.mkdir(parents=True)

    scores, first_j, total_time, total_frames = [], [], 0.0, 0
    for seq in sequences:
        frames = sorted(
            p for p in (image_root / seq).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS
        )
        first_mask = gt_root / seq / (frames[0].stem + ".png")
        out_dir = out_root / seq
        started = time.perf_counter()
        if args.baseline == "copy-first":
            out_dir.mkdir()
            for frame in frames:
                shutil.copyfile(first_mask, out_dir / f"{frame.stem}.png")
        else:
            if args.first == "strokes":
                first = ["--strokes", f"0:{write_robot_strokes(first_mask, out_root / '_strokes')}"]
            elif args.first == "box":
                x0, y0, x1, y1 = bounding_box(read_label_mask(first_mask) > 0)
                first = ["--box", f"0:{x0},{y0},{x1},{y1}"]
            else:
                first = []
                for index in keyframe_indices(len(frames), args.keyframes):
                    first += [
                        "--annotation",
                        f"{index}:{gt_root / seq / (frames[index].stem + '.png')}",
                    ]
            command = [
                sys.executable,
                str(ROOT / "main.py"),
                "segment",
                str(image_root / seq),
                *first,
                "--out",
                str(out_dir),
                "--quality",
                str(args.quality),
                "--weights",
                args.weights,
                "--device",
                "cpu",
            ]
            if args.gate is not None:
                command += ["--gate", str(args.gate)]
            if args.steps is not None:
                command += ["--steps", str(args.steps)]
            command += args.extra.split()
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                sys.stderr.write(result.stderr)
                return result.returncode
        elapsed = time.perf_counter() - started
        score = evaluate_pair(out_dir, gt_root / seq, seq)
        scores.append(score)
        # The annotated frame's own matte (the DAVIS score leaves the first frame out).
        first_j.append(
            region_similarity(
                read_label_mask(out_dir / f"{frames[0].stem}.png") > 0,
                read_label_mask(first_mask) > 0,
            )
        )
        total_time += elapsed
        total_frames += len(frames)
        print(
            f"{seq:<22} {len(frames):>4} frames {elapsed:7.1f} s  J&F {score.JF * 100:5.1f}"
            f"  first-frame J {first_j[-1] * 100:5.1f}",
            flush=True,
        )

    print(format_report(scores))
    j = sum(s.J.mean for s in scores) / len(scores) * 100
    f = sum(s.F.mean for s in scores) / len(scores) * 100
    summary = {
        "label": label,
        "first": args.first,
        "quality": args.quality,
        "weights": args.weights,
        "gate": args.gate,
        "steps": args.steps,
        "keyframes": args.keyframes,
        "sequences": len(scores),
        "frames": total_frames,
        "J": round(j, 1),
        "F": round(f, 1),
        "JF": round((j + f) / 2, 1),
        "first_frame_J": round(sum(first_j) / len(first_j) * 100, 1),
        "s_per_frame": round(total_time / max(1, total_frames), 3),
        "total_s": round(total_time, 1),
        # The largest resident set of any segment process (Linux reports KiB).
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }
    print(json.dumps(summary))
    (out_root / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


def keyframe_indices(num_frames: int, count: int) -> list[int]:
    """The first frame and `count` - 1 more, evenly spaced: 0, T/N, 2T/N, ... (distinct)."""
    return sorted({round(i * num_frames / max(1, count)) for i in range(max(1, count))})


def write_robot_strokes(mask_path: Path, folder: Path) -> Path:
    """The stroke robot's strokes for a ground-truth mask, as a strokes PNG in `folder`."""
    from bench.stroke_robot import robot_strokes
    from core.annotations import read_label_mask, strokes_to_image
    from core.export import write_png_atomic

    foreground, painted = robot_strokes(read_label_mask(mask_path) > 0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{mask_path.parent.name}.png"
    write_png_atomic(path, strokes_to_image(foreground, painted))
    return path


if __name__ == "__main__":
    sys.exit(main())
