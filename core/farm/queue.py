"""Render queues: several shots, each trained once and rendered in chunks, locally or on Ray.

A queue file is JSON: {"shots": [entry, ...]}, an entry
    {"name": "sh010", "frames": "plates/sh010", "annotations": ["0:sh010_mask.png"],
     "out": "renders/sh010", "quality": 0, "frames_range": "1001-1100"}
or {"name": ..., "project": "projects/sh020", "out": ...}. Optional: "strokes", "labels",
"working_size", "edges", "roi", "steps", "input_space", "ocio", "chunk". Relative paths are taken from
the queue file's folder. On Ray, a shot's training is one task needing a whole machine's CPUs;
its chunks are tasks of --cpus-per-task CPUs. A shot that fails is reported and the others go on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path

from core.cli import prepare_output_folder, report
from core.errors import RotoshotError
from core.farm.commands import render_with_progress
from core.farm.frames import parse_frame_range
from core.farm.model_file import save_model_file
from core.farm.render import RenderTarget
from core.farm.shots import ShotSpec, prepare_shot, train_shot
from core.video import frame_numbers

QUEUE_MODEL = "model.rsm"  # each shot's model file, written beside its mattes


@dataclass(frozen=True)
class QueuedShot:
    """One queue entry: its name, ShotSpec, output folder, frame range ("" all), chunk size."""

    name: str
    spec: ShotSpec
    out: str
    frames_range: str = ""
    chunk: int = 50


@dataclass(frozen=True)
class ShotResult:
    name: str
    ok: bool
    summary: str


_SPEC_KEYS = {f.name for f in fields(ShotSpec)}


def read_queue(path: str) -> list[QueuedShot]:
    """The shots of a queue file; one RotoshotError naming the entry that is wrong."""
    queue_path = Path(path)
    try:
        data = json.loads(queue_path.read_text())
    except (OSError, ValueError) as exc:
        raise RotoshotError(f"cannot read the queue {path}: {exc}") from None
    entries = data.get("shots") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise RotoshotError(f'{path} lists no shots (expected {{"shots": [...]}})')
    base = queue_path.resolve().parent
    shots, names = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise RotoshotError(f"{path}: shot {i + 1} is not an object")
        name = str(entry.get("name") or f"shot{i + 1}")
        if name in names:
            raise RotoshotError(f"{path}: two shots are named {name!r}")
        names.add(name)
        unknown = set(entry) - _SPEC_KEYS - {"name", "out", "frames_range", "chunk"}
        if unknown:
            raise RotoshotError(f"{path}: shot {name!r} has unknown keys {sorted(unknown)}")
        if "out" not in entry:
            raise RotoshotError(f'{path}: shot {name!r} has no "out" folder')

        def local(value: str) -> str:
            return str(base / value) if value else ""

        options = {k: v for k, v in entry.items() if k in _SPEC_KEYS}
        for key in ("frames", "project", "ocio"):
            options[key] = local(str(options.get(key, "")))
        for key in ("annotations", "strokes"):
            options[key] = tuple(
                f"{s.partition(':')[0]}:{local(s.partition(':')[2])}" for s in options.get(key, ())
            )
        try:
            spec = ShotSpec(**options)
            chunk = int(entry.get("chunk", 50))
        except (TypeError, ValueError) as exc:
            raise RotoshotError(f"{path}: shot {name!r}: {exc}") from None
        shots.append(
            QueuedShot(
                name, spec, local(str(entry["out"])), str(entry.get("frames_range", "")), chunk
            )
        )
    return shots


def _train(spec: ShotSpec, threads: int = 0):
    """Train one shot in this process (a Ray task runs exactly this): (payload, info, clip
    path, the clip's file stems)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    shot = prepare_shot(spec)
    payload, info = train_shot(shot)
    source_path = shot.source.path or spec.frames
    return payload, info, source_path, list(shot.source.stems)


def _render_one(shot: QueuedShot, trained, args) -> str:
    """Render a trained shot (on Ray when started) and write its model file; the summary."""
    payload, info, source_path, stems = trained
    out = prepare_output_folder(shot.out)
    save_model_file(out / QUEUE_MODEL, payload)
    frames = (
        parse_frame_range(shot.frames_range, frame_numbers(stems))
        if shot.frames_range
        else list(range(len(stems)))
    )
    target = RenderTarget(
        source_path=str(source_path),
        out=str(out.resolve()),
        input_space=info.input_space,
        colour_config=info.colour_config,
        device=shot.spec.device,
        backend=shot.spec.backend,
        threads=args.cpus_per_task if args.ray else 0,
    )
    done = render_with_progress(
        payload,
        target,
        frames,
        stems,
        chunk=shot.chunk,
        on_ray=bool(args.ray),
        cpus_per_task=args.cpus_per_task,
        label=f"{shot.name}: ",
    )
    return f"{done} frames of {len(info.object_ids)} object(s) in {shot.out}"


def render_queue(shots: list[QueuedShot], args) -> list[ShotResult]:
    """Train and render every shot; with --ray (Ray started) the trainings run as parallel
    tasks of a whole machine each. Results in queue order."""
    results: dict[str, ShotResult] = {}
    trained: dict[str, tuple] = {}
    started = time.perf_counter()
    if args.ray:
        from core.farm.ray_runner import machine_cpus, outcomes, ray_remote

        cpus = machine_cpus()
        task = ray_remote(_train, num_cpus=cpus)
        refs = {task.remote(s.spec, cpus): s.name for s in shots}
        for ref, value, error in outcomes(list(refs)):
            name = refs[ref]
            if error:
                results[name] = ShotResult(name, False, f"failed to train: {error}")
            else:
                trained[name] = value
            report(f"{name}: trained" if not error else f"{name}: failed ({error})")
    else:
        for shot in shots:
            try:
                trained[shot.name] = _train(shot.spec)
                report(f"{shot.name}: trained")
            except RotoshotError as exc:
                results[shot.name] = ShotResult(shot.name, False, f"failed to train: {exc}")
                report(f"{shot.name}: failed ({exc})")
    for shot in shots:
        if shot.name not in trained:
            continue
        try:
            summary = _render_one(shot, trained.pop(shot.name), args)
            results[shot.name] = ShotResult(shot.name, True, summary)
            report(f"{shot.name}: {summary} ({time.perf_counter() - started:.0f} s)")
        except RotoshotError as exc:
            results[shot.name] = ShotResult(shot.name, False, f"failed to render: {exc}")
            report(f"{shot.name}: failed ({exc})")
    return [results[s.name] for s in shots]
