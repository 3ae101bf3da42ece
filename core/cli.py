"""Headless commands behind main.py: segment, evaluate, train-parent.

Each `run_*` takes the parsed arguments, does the work, and returns the process exit code; what a
user must read (an evaluation table) goes to stdout through `report`, progress goes to logging.
Bad input raises RotoshotError, which main.py turns into one clear line.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotations import read_label_mask
from core.errors import RotoshotError
from core.export import write_png_atomic
from core.segmentation import (
    DEFAULT_GATE_PX,
    FrameAnnotation,
    Segmenter,
    segment,
    segment_config_for_quality,
)
from core.training import TrainingSample, fine_tune, member_configs_for_quality
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


def parse_annotations(specs: list[str], source: FrameSource) -> ParsedAnnotations:
    """Read `IDX:MASK.png` specs, checking index range, size and emptiness."""
    if not specs:
        raise RotoshotError("give at least one --annotation IDX:MASK.png")
    frames: dict[int, np.ndarray] = {}
    for spec in specs:
        idx_text, sep, mask_path = spec.partition(":")
        if not sep or not mask_path:
            raise RotoshotError(f"--annotation {spec!r} is not IDX:MASK.png")
        try:
            frame_idx = int(idx_text)
        except ValueError:
            raise RotoshotError(
                f"--annotation {spec!r}: {idx_text!r} is not a frame index"
            ) from None
        if not 0 <= frame_idx < len(source):
            raise RotoshotError(
                f"--annotation {spec!r}: frame {frame_idx} is out of range (0..{len(source) - 1})"
            )
        labels = read_label_mask(mask_path)
        if labels.shape[::-1] != source.size:
            raise RotoshotError(
                f"mask {mask_path} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
                f"{source.size[0]}x{source.size[1]}"
            )
        if frame_idx in frames:
            raise RotoshotError(f"frame {frame_idx} is annotated twice")
        frames[frame_idx] = labels
    ids = sorted({int(v) for labels in frames.values() for v in np.unique(labels) if v != 0})
    if not ids:
        raise RotoshotError(
            "every annotation mask is empty: the object must be painted on at least one frame"
        )
    return ParsedAnnotations(ids, frames)


def run_segment(args) -> int:
    """`segment FRAMES --annotation IDX:MASK.png ... --out OUT_DIR`: fine-tune, then segment all."""
    from core.device import resolve_device
    from core.model.build import build_model

    started = time.perf_counter()
    out_dir = Path(args.out)
    if not 0.0 <= args.quality <= 1.0:
        raise RotoshotError(f"--quality must be between 0 and 1, not {args.quality}")
    source = open_frames(args.frames)
    parsed = parse_annotations(args.annotation, source)
    device = resolve_device(args.device)
    model, info = build_model(weights=args.weights)
    model.to(device)
    log.info("model: %s weights, %s, on %s", info.source, info.backbone_name, device)

    ids = parsed.object_ids
    samples, annotations = [], {}
    for frame_idx, labels in sorted(parsed.frames.items()):
        masks = np.stack([labels == object_id for object_id in ids])
        # A label map annotates every object on its frame: objects not in it are absent there.
        valid = np.ones(len(ids), dtype=bool)
        samples.append(TrainingSample(np.array(source.read(frame_idx)), masks, valid))
        annotations[frame_idx] = FrameAnnotation(masks, valid)

    configs = member_configs_for_quality(args.quality)
    if args.steps is not None:
        configs = tuple(dataclasses.replace(c, steps=max(0, args.steps)) for c in configs)
    if configs[0].steps > 0:
        # Every model of the shot starts from the parent (the Best setting averages two).
        models = [model] + [copy.deepcopy(model) for _ in configs[1:]]
        for number, (member, config) in enumerate(zip(models, configs, strict=True), 1):
            last = None
            for progress in fine_tune(member, samples, config):
                last = progress
                if progress.step and progress.step % 50 == 0:
                    log.info(
                        "fine-tune %d/%d step %d/%d loss %.4f",
                        number,
                        len(models),
                        progress.step,
                        progress.total_steps,
                        progress.loss,
                    )
            log.info(
                "fine-tuned model %d/%d (%s, %d steps) at %.1f s",
                number,
                len(models),
                config.trainable,
                last.step if last else 0,
                time.perf_counter() - started,
            )
    else:
        model.set_num_objects(len(ids))  # no fine-tuning: every object starts from the parent
        model.eval()
        models = [model]

    gate = DEFAULT_GATE_PX if args.gate is None else args.gate
    seg_config = segment_config_for_quality(args.quality, gate_px=gate)
    out_dir.mkdir(parents=True, exist_ok=True)
    single = len(ids) == 1
    if not single:
        for object_id in ids:
            (out_dir / str(object_id)).mkdir(exist_ok=True)
    lut = np.array([0] + ids, dtype=np.uint16)
    for result in segment(
        models, source, range(len(source)), annotations=annotations, config=seg_config
    ):
        stem = source.stems[result.frame_idx]
        if single:
            write_png_atomic(out_dir / f"{stem}.png", (result.labels > 0).astype(np.uint8) * 255)
        else:
            label_map = lut[result.labels]
            dtype = np.uint8 if max(ids) < 256 else np.uint16
            write_png_atomic(out_dir / f"{stem}.png", label_map.astype(dtype))
            for channel, object_id in enumerate(ids):
                matte = (result.labels == channel + 1).astype(np.uint8) * 255
                write_png_atomic(out_dir / str(object_id) / f"{stem}.png", matte)
    source.close()
    elapsed = time.perf_counter() - started
    log.info(
        "segmented %d frames in %.1f s (%.3f s/frame)",
        len(source),
        elapsed,
        elapsed / max(1, len(source)),
    )
    return 0


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
    config = ParentTrainConfig(minutes=args.minutes, snapshot_minutes=snapshots)
    for _ in train_parent(args.data, args.out, config, device=resolve_device(args.device)):
        pass
    return 0


def run_export(args) -> int:
    """`export PROJECT --out DIR ...`: finished mattes (and cutouts, preview) of a saved project."""
    from core.device import resolve_device
    from core.export_job import ExportJob, export_objects_of, run_export_job
    from core.model.build import (
        build_network,
        load_checkpoint,
        load_members,
        load_weights_into,
    )
    from core.project import load_project

    folder = Path(args.project)
    project, _ = load_project(folder)
    source = open_frames(project.source_path)
    project, store = load_project(folder, size=source.size)
    weights = folder / "model.pt"
    if not weights.exists():
        raise RotoshotError(f"{folder.name} has no trained model yet: train it in the app first")
    payload = load_checkpoint(weights)
    object_ids = [int(i) for i in payload.get("extra", {}).get("object_ids", [])]
    if not object_ids:
        raise RotoshotError(f"{weights} does not say which objects it was trained on")
    model = build_network(backbone_name=payload["backbone"], imagenet=False)
    load_weights_into(model, payload, path=str(weights))
    models = [model, *load_members(payload, model, path=str(weights))]
    device = resolve_device(args.device)
    for member in models:
        member.to(device).eval()
    annotations = {}
    for frame_idx in store.frames():
        masks, valid = store.frame_masks(frame_idx, object_ids)
        annotations[frame_idx] = FrameAnnotation(masks, valid)

    overrides = {
        "threshold": args.threshold, "grow_px": args.grow, "feather_px": args.feather,
        "fill_holes_px": args.fill_holes, "remove_specks_px": args.remove_specks,
        "temporal_radius": args.temporal,
    }  # fmt: skip
    overrides = {k: v for k, v in overrides.items() if v is not None}
    objects = tuple(
        dataclasses.replace(o, finish=dataclasses.replace(o.finish, **overrides))
        for o in export_objects_of(project.objects, object_ids)
    )
    job = ExportJob(
        folder=args.out,
        first=args.first if args.first is not None else 0,
        last=args.last if args.last is not None else len(source) - 1,
        objects=objects,
        fmt=args.format,
        cutouts=args.cutouts,
        premultiplied=not args.straight,
        preview=args.preview,
        preview_codec=args.preview_codec,
    )
    quality = float(payload.get("extra", {}).get("quality", project.settings.quality))
    segmenter = Segmenter(
        models, source, annotations=annotations, config=segment_config_for_quality(quality)
    )
    done = total = 0
    for done, total in run_export_job(job, segmenter, source.stems, object_ids):
        if done % 25 == 0:
            log.info("exported frame %d/%d", done, total)
    report(f"exported {total} frames of {len(objects)} object(s) to {args.out}")
    return 0
