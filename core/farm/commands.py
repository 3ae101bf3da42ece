"""The farm-friendly commands behind main.py: `train`, `segment` (trained here or `--model`,
all frames or `--frames`, locally or `--ray`) and `render-queue`.

Each `run_*` takes the parsed arguments and returns the exit code; bad input is one
RotoshotError, raised before anything trains or renders.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from core.cli import prepare_output_folder, report
from core.errors import RotoshotError
from core.farm.frames import chunks_of, parse_frame_range
from core.farm.model_file import ShotInfo, annotations_of, load_model_file, save_model_file
from core.farm.render import SCORES_FILE, RenderTarget
from core.farm.shots import ShotSpec, prepare_shot, render_frames, train_shot
from core.shot.guided import chain_chunks, keyframes_of
from core.video import FrameSource, open_frames

log = logging.getLogger(__name__)


def spec_from_args(args, clip: str) -> ShotSpec:
    """A ShotSpec of the shot options (main.add_shot_arguments); `clip` a project folder (one
    with project.json) or the clip itself."""
    is_project = Path(clip, "project.json").is_file()
    return ShotSpec(
        frames="" if is_project else clip,
        project=clip if is_project else "",
        annotations=tuple(args.annotation),
        strokes=tuple(args.strokes),
        boxes=tuple(getattr(args, "box", None) or ()),
        mode=getattr(args, "mode", "osvos"),
        online=getattr(args, "online", 0),
        labels=args.labels,
        quality=args.quality,
        steps=args.steps,
        working_size=args.working_size,
        edges=args.edges,
        roi=getattr(args, "roi", None) or "",
        gate=args.gate,
        input_space=args.input_space or "",
        ocio=args.ocio or "",
        weights=args.weights,
        device=args.device,
        backend=args.backend,
    )


def announce_source(source: FrameSource) -> None:
    """Say what the user should know of a clip: its colour and missing frames."""
    if getattr(source, "input_space", ""):
        report(f"plate colour: {source.input_space}, shown as sRGB")
    if source.gaps:
        missing = ", ".join(str(n) for n in source.gaps[:10])
        more = f" and {len(source.gaps) - 10} more" if len(source.gaps) > 10 else ""
        report(f"warning: frames {missing}{more} are missing from the sequence")


def frames_to_render(args, source: FrameSource) -> list[int]:
    """Frame indices of `--frames` (all when absent)."""
    if getattr(args, "frame_range", None):
        return parse_frame_range(args.frame_range, source.numbers)
    return list(range(len(source)))


def render_with_progress(
    payload: dict,
    target: RenderTarget,
    frames: list[int],
    stems: list[str],
    *,
    chunk: int,
    on_ray: bool,
    cpus_per_task: int,
    label: str = "",
) -> int:
    """Render `frames` in chunks of `chunk` (as Ray tasks when `on_ray`), with one progress line
    about every tenth of the frames (prefixed by `label`). Returns the frames rendered."""
    done, step = 0, max(1, len(frames) // 10)
    started = time.perf_counter()
    keyframes = keyframes_of(annotations_of(payload))
    if payload["extra"].get("mode") == "propagate" and keyframes:
        chunks = chain_chunks(frames, keyframes)  # whole chains: each frame needs the one before
        log.info("propagate mode: %d chains as farm tasks (--chunk does not cut them)", len(chunks))
    else:
        chunks = chunks_of(frames, chunk)
    for chunk_report in render_frames(
        payload, target, chunks, stems, on_ray=on_ray, cpus_per_task=cpus_per_task
    ):
        before, done = done, done + len(chunk_report.frames)
        if done // step != before // step or done == len(frames):
            elapsed = time.perf_counter() - started
            report(f"{label}rendered {done}/{len(frames)} frames ({elapsed:.0f} s)")
    return done


def start_ray_if_asked(args) -> None:
    if getattr(args, "ray", None):
        from core.farm.ray_runner import start_ray

        start_ray(args.ray, num_cpus=args.ray_cpus)


def render_target(args, info: ShotInfo, out: Path) -> RenderTarget:
    """Where workers read the clip (an absolute path) and write; threads per task."""
    return RenderTarget(
        source_path=os.path.abspath(args.frames),
        out=str(out.resolve()),
        input_space=args.input_space or "",
        colour_config=args.ocio or "",
        device=args.device,
        backend=args.backend,
        threads=args.cpus_per_task if getattr(args, "ray", None) else 0,
    )


def run_segment(args) -> int:
    """`segment FRAMES (--annotation ... | --model M.rsm) [--frames A-B] --out DIR [--ray]`."""
    started = time.perf_counter()
    if args.model:
        if args.annotation or args.strokes or getattr(args, "box", None):
            raise RotoshotError(
                "--model renders a trained model: give no --annotation/--strokes/--box"
            )
        payload, info = load_model_file(args.model)
        source = open_frames(
            args.frames,
            input_space=args.input_space or info.input_space or None,
            colour_config=args.ocio or info.colour_config or None,
        )
        announce_source(source)
        frames = frames_to_render(args, source)
        out = prepare_output_folder(args.out)
        start_ray_if_asked(args)
        report(f"model of {len(info.object_ids)} object(s): ids {list(info.object_ids)}")
    else:
        shot = prepare_shot(spec_from_args(args, args.frames))
        source = shot.source
        announce_source(source)
        frames = frames_to_render(args, source)
        out = prepare_output_folder(args.out)
        report(f"{len(shot.object_ids)} object(s) in the annotations: ids {list(shot.object_ids)}")
        start_ray_if_asked(args)
        payload, info = train_shot(shot)
    source.close()
    render_with_progress(
        payload,
        render_target(args, info, out),
        frames,
        source.stems,
        chunk=args.chunk,
        on_ray=bool(args.ray),
        cpus_per_task=args.cpus_per_task,
    )
    elapsed = time.perf_counter() - started
    log.info("segmented %d frames in %.1f s", len(frames), elapsed)
    return 0


def run_train(args) -> int:
    """`train PROJECT_OR_FRAMES [--annotation ...] --model OUT.rsm`: fine-tune, write the file."""
    shot = prepare_shot(spec_from_args(args, args.clip))
    announce_source(shot.source)
    model = Path(args.model)
    if model.is_dir():
        raise RotoshotError(f"--model {model} is a folder: name the file to write")
    prepare_output_folder(model.parent)
    report(f"{len(shot.object_ids)} object(s): ids {list(shot.object_ids)}")
    payload, info = train_shot(shot)
    save_model_file(model, payload)
    report(
        f"model written to {model} ({info.preset}, working size "
        f"{info.working_size[0]}x{info.working_size[1]}, sha256 {payload['sha256'][:12]})"
    )
    return 0


def run_render_queue(args) -> int:
    """`render-queue QUEUE.json [--ray auto]`: every shot trained once and rendered; a failed
    shot does not stop the others; a summary at the end (exit 1 when any failed)."""
    from core.farm.queue import read_queue, render_queue

    shots = read_queue(args.queue)
    start_ray_if_asked(args)
    results = render_queue(shots, args)
    width = max(len(r.name) for r in results)
    report("summary:")
    for result in results:
        report(f"  {result.name:<{width}}  {result.summary}")
    failed = sum(not r.ok for r in results)
    report(f"{len(results) - failed} of {len(results)} shot(s) rendered; scores in {SCORES_FILE}")
    return 1 if failed else 0
