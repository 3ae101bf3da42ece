"""Headless commands behind main.py: segment, evaluate, train-parent.

Each `run_*` takes the parsed arguments, does the work, and returns the process exit code; what a
user must read (an evaluation table) goes to stdout through `report`, progress goes to logging.
Bad input raises RotoshotError, which main.py turns into one clear line.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotations import read_label_mask
from core.errors import RotoshotError
from core.export import write_png_atomic
from core.segmentation import FrameAnnotation, SegmentConfig, Segmenter, segment
from core.training import TrainingSample, config_for_quality, fine_tune
from core.video import FrameSource, open_frames

log = logging.getLogger(__name__)

# The default temporal gate (px); 0 disables it. Chosen by the dev-split benchmark (BENCHMARKS.md).
DEFAULT_GATE_PX = 40


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

    config = config_for_quality(args.quality)
    if args.steps is not None:
        config = dataclasses.replace(config, steps=max(0, args.steps))
    if config.steps > 0:
        last = None
        for progress in fine_tune(model, samples, config):
            last = progress
            if progress.step and progress.step % 50 == 0:
                log.info(
                    "fine-tune step %d/%d loss %.4f",
                    progress.step,
                    progress.total_steps,
                    progress.loss,
                )
        log.info(
            "fine-tuned (%s, %d steps) in %.1f s",
            config.trainable,
            last.step if last else 0,
            time.perf_counter() - started,
        )
    else:
        model.set_num_objects(len(ids))  # no fine-tuning: every object starts from the parent
        model.eval()

    gate = DEFAULT_GATE_PX if args.gate is None else args.gate
    seg_config = SegmentConfig(temporal_gate_px=gate)
    out_dir.mkdir(parents=True, exist_ok=True)
    single = len(ids) == 1
    if not single:
        for object_id in ids:
            (out_dir / str(object_id)).mkdir(exist_ok=True)
    lut = np.array([0] + ids, dtype=np.uint16)
    for result in segment(
        model, source, range(len(source)), annotations=annotations, config=seg_config
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


def preview_frame(
    image: np.ndarray, alphas: list[np.ndarray], colours: list, kind: str, codec: str
) -> np.ndarray:
    """One preview-movie frame: "overlay" tints each object in its colour over the shot; "matte"
    shows the union matte in grey. ProRes 4444 frames carry the union matte as alpha."""
    union = np.max(np.stack(alphas), axis=0)
    if kind == "matte":
        rgb = np.repeat((union * 255).astype(np.uint8)[..., None], 3, axis=2)
    else:
        rgb = image.astype(np.float32)
        for alpha, colour in zip(alphas, colours, strict=True):
            a = 0.5 * alpha[..., None]
            rgb = rgb * (1 - a) + np.array(colour, np.float32) * a
        rgb = rgb.astype(np.uint8)
    if codec == "prores4444":
        return np.dstack([image if kind == "overlay" else rgb, (union * 255).astype(np.uint8)])
    return rgb


def run_export(args) -> int:
    """`export PROJECT --out DIR ...`: finished mattes (and cutouts) of a saved project."""
    from collections import deque

    from core.device import resolve_device
    from core.export import write_cutout, write_label_png, write_matte
    from core.matte import FinishSettings, finish_matte, temporal_smooth
    from core.model.build import build_network, load_checkpoint, load_weights_into
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
    model.to(resolve_device(args.device)).eval()

    annotations = {}
    for frame_idx in store.frames():
        masks, valid = store.frame_masks(frame_idx, object_ids)
        annotations[frame_idx] = FrameAnnotation(masks, valid)
    first = max(0, args.first if args.first is not None else 0)
    last = min(len(source) - 1, args.last if args.last is not None else len(source) - 1)
    if first > last:
        raise RotoshotError(f"empty frame range {first}..{last}")
    ext = {"png8": ".png", "png16": ".png", "tiff16": ".tif", "exr": ".exr"}[args.format]
    infos = {o.object_id: o for o in project.objects}
    out = Path(args.out)
    names = {}
    for object_id in object_ids:
        info = infos.get(object_id)
        names[object_id] = f"{object_id}_{info.name if info else 'object'}".replace(
            "/", "_"
        ).replace(" ", "_")
        (out / names[object_id]).mkdir(parents=True, exist_ok=True)
        if args.cutouts:
            (out / f"{names[object_id]}_rgba").mkdir(parents=True, exist_ok=True)
    if len(object_ids) > 1:
        (out / "labels").mkdir(parents=True, exist_ok=True)

    def settings_for(object_id: int) -> FinishSettings:
        base = infos[object_id].finish if object_id in infos else FinishSettings()
        overrides = {k: v for k, v in {"threshold": args.threshold, "grow_px": args.grow, "feather_px": args.feather,
                     "fill_holes_px": args.fill_holes, "remove_specks_px": args.remove_specks,
                     "temporal_radius": args.temporal}.items() if v is not None}  # fmt: skip
        return dataclasses.replace(base, **overrides)

    finish = {object_id: settings_for(object_id) for object_id in object_ids}
    radius = max(s.temporal_radius for s in finish.values())
    # A sliding window of soft results keeps temporal smoothing in bounded memory.
    window: deque[tuple[int, np.ndarray]] = deque()
    preview = None
    if args.preview:
        from core.export import PREVIEW_CODECS, PreviewVideoWriter

        suffix = PREVIEW_CODECS[args.preview_codec][2]
        preview = PreviewVideoWriter(
            out / f"preview_{args.preview}{suffix}",
            fps=source.fps,
            size=source.size,
            codec=args.preview_codec,
        )
    segmenter = Segmenter(
        model,
        source,
        annotations=annotations,
        config=SegmentConfig(temporal_gate_px=DEFAULT_GATE_PX),
    )
    frame_order = range(max(0, first - radius), min(len(source), last + radius + 1))
    pending = list(frame_order)
    for frame_idx in range(first, last + 1):
        while pending and pending[0] <= frame_idx + radius:
            f = pending.pop(0)
            window.append((f, segmenter.segment_frame(f).probs))
        while window and window[0][0] < frame_idx - radius:
            window.popleft()
        frames = [f for f, _ in window]
        here = frames.index(frame_idx)
        stem = source.stems[frame_idx]
        alphas = []
        for k, object_id in enumerate(object_ids):
            soft = temporal_smooth(
                [p[k] for _, p in window], here, finish[object_id].temporal_radius
            )
            alpha = finish_matte(soft, finish[object_id])
            alphas.append(alpha)
            write_matte(
                out / names[object_id] / f"{stem}{ext}",
                alpha,
                args.format,
                channel=names[object_id],
            )
            if args.cutouts:
                write_cutout(
                    out / f"{names[object_id]}_rgba" / f"{stem}.png",
                    source.read(frame_idx),
                    alpha,
                    premultiplied=not args.straight,
                )
        if len(object_ids) > 1:
            stack = np.stack(alphas)
            labels = np.where(
                stack.max(axis=0) > 0.5, np.array(object_ids)[stack.argmax(axis=0)], 0
            )
            write_label_png(
                out / "labels" / f"{stem}.png",
                labels,
                {o: infos[o].colour for o in object_ids if o in infos},
            )
        if preview is not None:
            preview.write(
                preview_frame(
                    source.read(frame_idx),
                    alphas,
                    [infos[o].colour if o in infos else (255, 0, 0) for o in object_ids],
                    args.preview,
                    args.preview_codec,
                )
            )
        if (frame_idx - first) % 25 == 0:
            log.info("exported frame %d/%d", frame_idx - first + 1, last - first + 1)
    if preview is not None:
        preview.close()
    report(f"exported {last - first + 1} frames of {len(object_ids)} object(s) to {out}")
    return 0
