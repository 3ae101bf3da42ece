"""Headless commands behind main.py: evaluate, export, train-parent, and the helpers that
`segment` and `train` (core.farm.commands) share.

Each `run_*` takes the parsed arguments, does the work, and returns the process exit code; what a
user must read (an evaluation table) goes to stdout through `report`, progress goes to logging.
Bad input raises RotoshotError, which main.py turns into one clear line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotations import AnnotationStore, read_label_mask, read_strokes
from core.errors import RotoshotError
from core.model.build import load_checkpoint
from core.resolution import DEFAULT_WORKING_LONG_SIDE
from core.segmentation import DEFAULT_GATE_PX
from core.shot.presets import recipe_for
from core.shot.samples import annotation_overrides
from core.shot.segmenters import GUIDED_MODES, load_parents, parent_weights_for
from core.shot.session import ShotSession
from core.video import FrameSource, open_frames

log = logging.getLogger(__name__)


def report(text: str) -> None:
    """Write user-facing command output to stdout (the CLI's one place that does)."""
    import sys

    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class ParsedAnnotations:
    """object_ids: the label values found, in channel order; frames: frame_idx -> label map."""

    object_ids: list[int]
    frames: dict[int, np.ndarray]


def parse_annotations(
    specs: list[str], source: FrameSource, *, labels: bool = False
) -> ParsedAnnotations:
    """Read `IDX:MASK.png` specs, checking index range, size and emptiness; `labels`: every
    value of a mask is an object id (core.annotations.read_label_mask). No specs: no frames
    (the strokes may annotate alone)."""
    frames: dict[int, np.ndarray] = {}
    for spec in specs:
        frame_idx, mask_path = _frame_and_path(spec, "--annotation", "IDX:MASK.png", source)
        label_map = read_label_mask(mask_path, labels=labels)
        _check_size(mask_path, label_map.shape, source)
        if frame_idx in frames:
            raise RotoshotError(f"frame {frame_idx} is annotated twice")
        frames[frame_idx] = label_map
    ids = sorted({int(v) for m in frames.values() for v in np.unique(m) if v != 0})
    if frames and not ids:
        raise RotoshotError(
            "every annotation mask is empty: the object must be painted on at least one frame"
        )
    return ParsedAnnotations(ids, frames)


def _frame_and_path(spec: str, flag: str, form: str, source: FrameSource) -> tuple[int, str]:
    """`IDX:PATH` -> (frame index in range, path), or one clear RotoshotError."""
    idx_text, sep, path = spec.partition(":")
    if not sep or not path:
        raise RotoshotError(f"{flag} {spec!r} is not {form}")
    try:
        frame_idx = int(idx_text)
    except ValueError:
        raise RotoshotError(f"{flag} {spec!r}: {idx_text!r} is not a frame index") from None
    if not 0 <= frame_idx < len(source):
        raise RotoshotError(
            f"{flag} {spec!r}: frame {frame_idx} is out of range (0..{len(source) - 1})"
        )
    return frame_idx, path


def _check_size(path: str, shape: tuple[int, ...], source: FrameSource) -> None:
    if tuple(shape[::-1]) != tuple(source.size):
        raise RotoshotError(
            f"{path} is {shape[1]}x{shape[0]} but the frames are {source.size[0]}x{source.size[1]}"
        )


def parse_strokes(
    specs: list[str], source: FrameSource
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Read `IDX:STROKES.png[@OBJECT_ID]` specs (object 1 when no id is given): strokes images
    (core.annotations.strokes_to_image: 255 object, 128 background, 0 unpainted) ->
    (object_id, frame_idx) -> (mask, known) (H, W) bool each."""
    strokes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for spec in specs:
        body, at, id_text = spec.rpartition("@") if "@" in spec else (spec, "", "1")
        frame_idx, path = _frame_and_path(body, "--strokes", "IDX:STROKES.png[@ID]", source)
        try:
            object_id = int(id_text)
        except ValueError:
            raise RotoshotError(f"--strokes {spec!r}: {id_text!r} is not an object id") from None
        if not 1 <= object_id <= 255:
            raise RotoshotError(f"--strokes {spec!r}: object ids are 1..255")
        mask, known = read_strokes(path)
        _check_size(path, mask.shape, source)
        if not known.any():
            raise RotoshotError(f"{path} has no strokes (255 = object, 128 = background)")
        if (object_id, frame_idx) in strokes:
            raise RotoshotError(f"object {object_id} has strokes twice on frame {frame_idx}")
        strokes[(object_id, frame_idx)] = (mask, known)
    return strokes


def command_session(
    source: FrameSource,
    args,
    *,
    gate: int = DEFAULT_GATE_PX,
    working_long_side: int = DEFAULT_WORKING_LONG_SIDE,
    edges: str = "plate",
    roi: tuple[int, int, int, int] | None = None,
) -> ShotSession:
    """The shot session of a CLI command: the network `--weights` names, on `--device`,
    working at `working_long_side` px (core.resolution) in the region `roi` (core.roi)."""
    from core.device import resolve_device
    from core.model.onnx_backbone import onnx_available

    device = resolve_device(args.device)
    mode = getattr(args, "mode", "osvos")
    named = getattr(args, "weights", "parent")
    parent, info, parents = load_parents(mode, named)
    if mode in GUIDED_MODES and not parent.guided:
        weights = parent_weights_for(mode, named)
        raise RotoshotError(f"--mode {mode} needs mask-guided weights; {weights} are not")
    parent.to(device)
    for network in parents.values():
        network.to(device)
    log.info("model: %s weights, %s, on %s", info.source, info.backbone_name, device)
    steps = getattr(args, "steps", None)
    recipes = recipe_for
    if steps is not None:
        recipes = lambda preset: recipe_for(preset).with_overrides(steps=max(0, steps))  # noqa: E731
    session = ShotSession(
        source,
        parent,
        info,
        recipes=recipes,
        gate_px=gate,
        working_long_side=working_long_side,
        edges=edges,
        roi=roi,
        mode=mode,
        backend=getattr(args, "backend", "torch"),
        parents=parents,
    )
    if session.backend == "onnx" and not onnx_available():
        report("warning: --backend onnx needs the onnx extra (onnx, onnxruntime); using torch")
    if not session.working.is_identity:
        (w, h), (sw, sh) = session.working.size, source.size
        region = session.working.roi
        where = "" if region is None else " of the region {},{},{},{}".format(*region)
        report(f"working resolution {w}x{h}{where} (mattes at the plate's {sw}x{sh})")
    return session


def store_from_label_maps(
    parsed: ParsedAnnotations,
    size: tuple[int, int],
    strokes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None,
) -> AnnotationStore:
    """Keyframes from label maps: a label map annotates every object on its frame (an object not
    in it is absent there); `strokes` add hint keyframes (parse_strokes). RotoshotError when a
    frame has both a mask and strokes for one object, or nothing is painted as object."""
    store = AnnotationStore(size)
    ids = sorted(set(parsed.object_ids) | {o for o, _ in (strokes or {})})
    for frame_idx, labels in parsed.frames.items():
        for object_id in ids:
            store.set(object_id, frame_idx, labels == object_id)
    for (object_id, frame_idx), (mask, known) in (strokes or {}).items():
        if frame_idx in parsed.frames:
            raise RotoshotError(
                f"frame {frame_idx} has both a mask and strokes: give one or the other"
            )
        store.set(object_id, frame_idx, mask, known)
    if not ids:
        raise RotoshotError("give at least one --annotation IDX:MASK.png or --strokes")
    if not store.has_foreground(ids):
        raise RotoshotError(
            "nothing is painted as object: the object must be painted on at least one frame"
        )
    return store


def prepare_output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder now, before any training: RotoshotError (one line) when it is
    a file, empty (which would mean the current folder, never what a script meant) or cannot be
    created."""
    if not str(path).strip():
        raise RotoshotError("--out is empty: name the folder to write into")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise RotoshotError(f"--out {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RotoshotError(f"cannot create --out {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise RotoshotError(f"cannot write into --out {folder}")
    return folder


def run_evaluate(args) -> int:
    """`evaluate PRED_DIR GT_DIR`: DAVIS J/F table for one sequence or a folder of sequences."""
    from core.metrics import evaluate_folder, format_report

    results = evaluate_folder(args.pred_dir, args.gt_dir)
    report(format_report(results))
    return 0


def run_train_parent(args) -> int:
    """`train-parent --data DIR --out FILE --minutes N`: train or resume the parent network."""
    from core.device import resolve_device
    from core.parent_training import ParentTrainConfig, train_parent

    snapshots = tuple(float(m) for m in args.snapshots.split(",") if m.strip())
    if not 0.0 <= args.still_share <= 1.0:
        raise RotoshotError(f"--still-share must be between 0 and 1, not {args.still_share}")
    if args.backbone and args.init:
        raise RotoshotError("give --backbone or --init, not both: --init weights bring their own")
    config = ParentTrainConfig(
        minutes=args.minutes,
        snapshot_minutes=snapshots,
        guided=args.guided,
        still_share=args.still_share,
        max_steps=args.max_steps,
        backbone_name=args.backbone or ParentTrainConfig.backbone_name,
        hold_out=tuple(name.strip() for name in args.hold_out.split(",") if name.strip()),
        seed=args.seed,
    )
    progress = train_parent(
        args.data,
        args.out,
        config,
        device=resolve_device(args.device),
        still_dir=args.stills,
        init_weights=args.init,
    )
    for _ in progress:
        pass
    return 0


def run_export(args) -> int:
    """`export PROJECT --out DIR ...`: finished mattes (and cutouts, preview) of a saved project."""
    from core.export_job import ExportJob, export_objects_of, run_export_job
    from core.project import load_project
    from core.project_paths import inside

    folder = Path(args.project)
    prepare_output_folder(args.out)
    project, _ = load_project(folder)
    source = open_frames(project.source_path, input_space=project.settings.input_space or None)
    project, store = load_project(folder, size=source.size, num_frames=len(source))
    first = args.first if args.first is not None else 0
    last = args.last if args.last is not None else len(source) - 1
    if getattr(args, "frame_range", None):
        from core.farm.frames import contiguous_range, parse_frame_range

        if args.first is not None or args.last is not None:
            raise RotoshotError("give --frames or --first/--last, not both")
        first, last = contiguous_range(parse_frame_range(args.frame_range, source.numbers))
    weights = inside(folder, "model.pt")
    if not weights.exists():
        raise RotoshotError(f"{folder.name} has no trained model yet: train it in the app first")
    saved_ids = load_checkpoint(weights).get("extra", {}).get("object_ids", [])
    object_ids = tuple(int(i) for i in saved_ids)
    if not object_ids:
        raise RotoshotError(f"{weights} does not say which objects it was trained on")
    settings = project.settings
    session = command_session(
        source, args, working_long_side=settings.working_long_side, roi=settings.region
    )
    annotations = annotation_overrides(store, object_ids)
    session.restore_model(weights, object_ids=object_ids, annotations=annotations, fingerprint=None)

    overrides = {
        "threshold": args.threshold, "grow_px": args.grow, "feather_px": args.feather,
        "fill_holes_px": args.fill_holes, "remove_specks_px": args.remove_specks,
        "temporal_radius": args.temporal, "edge_matting_px": args.edge_matting,
    }  # fmt: skip
    overrides = {k: v for k, v in overrides.items() if v is not None}
    objects = tuple(
        dataclasses.replace(o, finish=dataclasses.replace(o.finish, **overrides))
        for o in export_objects_of(project.objects, list(object_ids))
    )
    job = ExportJob(
        folder=args.out,
        first=first,
        last=last,
        objects=objects,
        fmt=args.format,
        cutouts=args.cutouts,
        premultiplied=not args.straight,
        preview=args.preview,
        preview_codec=args.preview_codec,
    )
    done = total = 0
    for done, total in run_export_job(job, session.segmenter(), source.stems, list(object_ids)):
        if done % 25 == 0:
            log.info("exported frame %d/%d", done, total)
    report(f"exported {total} frames of {len(objects)} object(s) to {args.out}")
    return 0
