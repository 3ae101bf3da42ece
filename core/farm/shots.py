"""A shot from its description to a model payload, and a frame range rendered with it: what
`train`, `segment` and `render-queue` share, locally or on Ray."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from core.annotations import AnnotationStore
from core.errors import RotoshotError
from core.farm.model_file import ShotInfo, model_file_payload
from core.farm.render import (
    ChunkReport,
    RenderTarget,
    merge_scores,
    render_chunks_locally,
    sweep_temp_files,
)
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.resolution import DEFAULT_WORKING_LONG_SIDE, MIN_WORKING_LONG_SIDE
from core.roi import Roi, parse_roi
from core.segmentation import DEFAULT_GATE_PX
from core.shot.presets import preset_for
from core.shot.samples import annotation_overrides
from core.shot.segmenters import MODES
from core.video import FrameSource, open_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotSpec:
    """A shot to train, as plain data (a command line, a render-queue entry). Either `frames`
    (clip path) with `annotations` ("IDX:MASK.png"), `strokes` ("IDX:STROKES.png[@ID]") and/or
    `boxes` ("IDX:x0,y0,x1,y1[@ID]", core.box_prompt: the guided network's first mask becomes
    the keyframe), or `project` (a project folder: its clip, keyframes, object names and working size).
    quality in [0, 1]; steps: override the preset's fine-tuning steps (0: the parent alone);
    working_size: long side in px (0 = the plate's); roi: the region of interest "x0,y0,x1,y1"
    in plate px (core.roi; "" = the whole frame, or the project's); gate: temporal gate px (None: default);
    mode: the segmenter (core.shot.segmenters.MODES); online: rounds of iterative online
    fine-tuning on the model's own confident results (core.shot.online; 0 = none); backend:
    what runs the frozen backbone (core.model.onnx_backbone.BACKENDS)."""

    frames: str = ""
    project: str = ""
    annotations: tuple[str, ...] = ()
    strokes: tuple[str, ...] = ()
    boxes: tuple[str, ...] = ()
    mode: str = "osvos"
    online: int = 0
    labels: bool = False
    quality: float = 0.0
    steps: int | None = None
    working_size: int = DEFAULT_WORKING_LONG_SIDE
    edges: str = "plate"
    roi: str = ""
    gate: int | None = None
    input_space: str = ""
    ocio: str = ""
    weights: str = "parent"
    device: str = "auto"
    backend: str = "torch"


@dataclass
class PreparedShot:
    """A shot whose inputs were read and checked, before any training."""

    spec: ShotSpec
    source: FrameSource
    store: AnnotationStore
    object_ids: tuple[int, ...]
    names: tuple[str, ...]
    working_size: int
    boxes: tuple[tuple[int, int, tuple[int, int, int, int]], ...] = ()  # (frame, object, box)
    roi: Roi | None = None


def prepare_shot(spec: ShotSpec) -> PreparedShot:
    """Open the clip and read the annotations; one RotoshotError for anything wrong."""
    from core.cli import parse_annotations, parse_strokes, store_from_label_maps

    if spec.mode not in MODES:
        raise RotoshotError(f"unknown --mode {spec.mode!r}; choose one of {', '.join(MODES)}")
    if not 0 <= spec.online <= 10:
        raise RotoshotError(f"--online must be 0..10 rounds, not {spec.online}")
    if not 0.0 <= spec.quality <= 1.0:
        raise RotoshotError(f"--quality must be between 0 and 1, not {spec.quality}")
    working = spec.working_size
    if working < 0 or 0 < working < MIN_WORKING_LONG_SIDE:
        raise RotoshotError(
            f"--working-size must be 0 (the plate's size) or at least {MIN_WORKING_LONG_SIDE} px"
        )
    colour = {"input_space": spec.input_space or None, "colour_config": spec.ocio or None}
    if spec.project:
        from core.project import load_project

        if spec.annotations or spec.strokes or spec.boxes:
            raise RotoshotError("a project brings its own keyframes: give no --annotation/--box")
        project, _ = load_project(spec.project)
        colour["input_space"] = colour["input_space"] or project.settings.input_space or None
        source = open_frames(project.source_path, **colour)
        _, store = load_project(spec.project, size=source.size, num_frames=len(source))
        painted = set(store.object_ids())
        ids = tuple(o.object_id for o in project.objects if o.object_id in painted)
        if not ids or not store.has_foreground(list(ids)):
            raise RotoshotError(f"{Path(spec.project).name} has no painted keyframe to learn from")
        names = {o.object_id: o.name for o in project.objects}
        roi = parse_roi(spec.roi, source.size) or project.settings.region
        return PreparedShot(
            spec,
            source,
            store,
            ids,
            tuple(names[i] for i in ids),
            project.settings.working_long_side,
            roi=roi,
        )
    if not spec.frames:
        raise RotoshotError("give the clip (FRAMES) or a project folder")
    source = open_frames(spec.frames, **colour)
    roi = parse_roi(spec.roi, source.size)
    boxes = parse_boxes(spec.boxes, source)
    if spec.annotations or spec.strokes or not boxes:
        parsed = parse_annotations(list(spec.annotations), source, labels=spec.labels)
        strokes = parse_strokes(list(spec.strokes), source)
        store = store_from_label_maps(parsed, source.size, strokes)
    else:
        store = AnnotationStore(source.size)
    ids = tuple(sorted(set(store.object_ids()) | {obj for _, obj, _ in boxes}))
    names = tuple(f"object {i}" for i in ids)
    return PreparedShot(spec, source, store, ids, names, working, boxes, roi)


def parse_boxes(specs: tuple[str, ...], source: FrameSource) -> tuple:
    """`--box` specs -> ((frame index, object id, box), ...); one RotoshotError for a bad box, a
    frame past the clip's end or two boxes for one object on one frame."""
    from core.box_prompt import parse_box_spec

    boxes, seen = [], set()
    for spec in specs:
        frame_idx, object_id, box = parse_box_spec(spec, source.size)
        if frame_idx >= len(source):
            raise RotoshotError(f"--box {spec!r}: the clip has {len(source)} frames")
        if (frame_idx, object_id) in seen:
            raise RotoshotError(f"object {object_id} has two boxes on frame {frame_idx}")
        seen.add((frame_idx, object_id))
        boxes.append((frame_idx, object_id, box))
    return tuple(boxes)


def add_box_keyframes(shot: PreparedShot, session) -> None:
    """Each box's first mask (core.box_prompt.box_to_mask with the guided parent: the session's
    own in a guided mode) becomes a keyframe of its object; RotoshotError when that object is
    already painted on that frame."""
    from core.box_prompt import box_network, box_to_mask

    if not shot.boxes:
        return
    guided, warning = box_network(session.parent)
    if warning:
        log.warning("box prompts: %s", warning)
    for frame_idx, object_id, box in shot.boxes:
        if shot.store.get(object_id, frame_idx) is not None:
            raise RotoshotError(f"frame {frame_idx} has both a box and a mask for {object_id}")
        mask, how = box_to_mask(guided, shot.source, frame_idx, box, working=session.working)
        log.info("box on frame %d (object %d): first mask by %s", frame_idx, object_id, how)
        shot.store.set(object_id, frame_idx, mask)


def train_shot(shot: PreparedShot, cancel: CancelToken = NEVER_CANCELLED) -> tuple[dict, ShotInfo]:
    """Fine-tune the shot's model; (model file payload, its ShotInfo)."""
    from core.cli import command_session

    spec = shot.spec
    started = time.perf_counter()
    gate = DEFAULT_GATE_PX if spec.gate is None else spec.gate
    options = SimpleNamespace(
        device=spec.device,
        weights=spec.weights,
        steps=spec.steps,
        mode=spec.mode,
        backend=spec.backend,
    )
    session = command_session(
        shot.source,
        options,
        gate=gate,
        working_long_side=shot.working_size,
        edges=spec.edges,
        roi=shot.roi,
    )
    add_box_keyframes(shot, session)
    preset = preset_for(spec.quality)
    if spec.steps is not None and spec.steps <= 0:
        session.untrained_model(shot.object_ids, preset)  # every object from the parent alone
    else:
        job = session.train_job(shot.store, preset, preview=False)
        last = None
        for event in session.train(job, cancel=cancel):
            if isinstance(event, TrainProgress):
                last = event
                if event.step and event.step % 50 == 0:
                    log.info(
                        "fine-tune model %d/%d step %d/%d loss %.4f",
                        event.model + 1, event.model_count,
                        event.step, event.total_steps, event.loss,
                    )  # fmt: skip
        log.info(
            "fine-tuned %s (%d steps) in %.1f s",
            preset.value,
            last.step if last else 0,
            time.perf_counter() - started,
        )
        if spec.online > 0:
            from core.shot.online import OnlineConfig, online_rounds

            for _ in online_rounds(session, job, OnlineConfig(rounds=spec.online), cancel=cancel):
                pass
            log.info("online rounds done at %.1f s", time.perf_counter() - started)
    model = session.model
    info = ShotInfo(
        object_ids=model.object_ids,
        names=shot.names,
        preset=model.preset.value,
        quality=spec.quality,
        working_long_side=shot.working_size,
        working_size=tuple(session.working.size),
        edges=spec.edges,
        roi=shot.roi,
        plate_size=tuple(shot.source.size),
        input_space=getattr(shot.source, "input_space", ""),  # as resolved: workers agree
        colour_config=spec.ocio,
        gate_px=gate,
        fingerprint=model.fingerprint,
        mode=session.mode,
    )
    annotations = annotation_overrides(shot.store, model.object_ids)
    return model_file_payload(session.checkpoint(), info, annotations), info


def render_frames(
    payload: dict,
    target: RenderTarget,
    chunks: list[tuple[int, ...]],
    stems: list[str],
    *,
    on_ray: bool = False,
    cpus_per_task: float = 1,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[ChunkReport]:
    """Render `chunks` (frame indices) into target.out, locally or as Ray tasks (start_ray
    first); yields each chunk's report as it finishes. When every chunk is done, scores.csv is
    updated for these frames and temp files of killed workers are removed (`stems`: the clip's
    file stems, which name the mattes)."""
    if on_ray:
        from core.farm.ray_runner import render_chunks_on_ray

        reports = render_chunks_on_ray(
            payload, target, chunks, cpus_per_task=cpus_per_task, cancel=cancel
        )
    else:
        reports = render_chunks_locally(payload, target, chunks, cancel)
    rows = []
    for report in reports:
        rows.extend(report.rows)
        yield report
    merge_scores(target.out, rows)
    sweep_temp_files(target.out, [stems[f] for chunk in chunks for f in chunk])
