"""Farm throughput (issue #16): one long shot at Fast rendered in one process, and as Ray
tasks on a local cluster with 1 and 2 workers, with the per-chunk overheads.

    .venv/bin/python bench/farm_bench.py --frames 500 --chunk 50

The shot is a DAVIS train-split sequence looped to --frames frames (links to its JPEGs in a
temp folder), trained once on its first frame; what is measured is speed, not quality. Prints
a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.farm.frames import chunks_of  # noqa: E402
from core.farm.render import RenderTarget  # noqa: E402
from core.farm.shots import ShotSpec, prepare_shot, render_frames, train_shot  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "davis2016-train"


def looped_shot(folder: Path, sequence: str, count: int) -> tuple[Path, Path]:
    """`count` frames plate.1001.jpg... linking to the sequence's frames in a loop."""
    images = sorted((DATA / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
    clip = folder / "clip"
    clip.mkdir()
    for i in range(count):
        os.symlink(images[i % len(images)], clip / f"plate.{1001 + i}.jpg")
    return clip, DATA / "Annotations" / "480p" / sequence / "00000.png"


def run(payload, clip: Path, out: Path, chunks, *, on_ray: bool, threads: int) -> dict:
    out.mkdir()
    target = RenderTarget(str(clip), str(out), threads=threads)
    started = time.perf_counter()
    first = None
    reports = []
    stems = [p.stem for p in sorted(clip.iterdir())]  # as core.video names a folder's frames
    for report in render_frames(payload, target, chunks, stems, on_ray=on_ray):
        first = first or time.perf_counter() - started
        reports.append(report)
    total = time.perf_counter() - started
    frames = sum(len(r.frames) for r in reports)
    # A worker builds its renderer once, on its first chunk: the largest setup time per process.
    per_worker: dict[int, float] = {}
    for r in reports:
        per_worker[r.pid] = max(per_worker.get(r.pid, 0.0), r.setup_s)
    setups = list(per_worker.values())
    per_frame = [r.render_s / len(r.frames) for r in reports]
    return {
        "seconds": total,
        "fps": frames / total,
        "first_chunk_s": first,
        "workers": len({r.pid for r in reports}),
        "setup_s": statistics.mean(setups) if setups else 0.0,
        "setups": len(setups),
        "s_per_frame_in_chunk": statistics.median(per_frame),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--sequence", default="bear")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory(prefix="rotoshot-farm-") as tmp:
        clip, mask = looped_shot(Path(tmp), args.sequence, args.frames)
        started = time.perf_counter()
        shot = prepare_shot(ShotSpec(frames=str(clip), annotations=(f"0:{mask}",)))
        payload, info = train_shot(shot)
        train_s = time.perf_counter() - started
        chunks = chunks_of(list(range(args.frames)), args.chunk)
        rows = []
        torch.set_num_threads(os.cpu_count() or 1)
        rows.append(
            (
                "one process, 2 threads",
                run(payload, clip, Path(tmp) / "local", chunks, on_ray=False, threads=0),
            )
        )
        if not args.skip_ray:
            import ray

            from core.farm.ray_runner import start_ray, stop_ray

            for workers in (1, 2):
                t = time.perf_counter()
                start_ray("auto", num_cpus=workers)
                init_s = time.perf_counter() - t
                t = time.perf_counter()
                ray.get(ray.put(payload))
                put_s = time.perf_counter() - t
                result = run(
                    payload, clip, Path(tmp) / f"ray{workers}", chunks, on_ray=True, threads=1
                )
                result["ray_init_s"], result["put_s"] = init_s, put_s
                rows.append((f"Ray, {workers} worker(s) x 1 thread", result))
                stop_ray()
    cpu = platform.processor() or platform.machine()
    print(f"{args.frames} frames of {args.sequence} (looped), chunk {args.chunk}, Fast, "
          f"working {info.working_size[0]}x{info.working_size[1]}; training {train_s:.0f} s; "
          f"{os.cpu_count()} CPUs ({cpu})")  # fmt: skip
    print(
        "| run | frames/s | total s | first chunk out s | workers | setup per worker s | s/frame inside a chunk | Ray start s | model put s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['fps']:.2f} | {r['seconds']:.1f} | {r['first_chunk_s']:.1f} | "
            f"{r['workers']} | {r['setup_s']:.2f} | {r['s_per_frame_in_chunk']:.3f} | "
            f"{r.get('ray_init_s', 0):.1f} | {r.get('put_s', 0):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
