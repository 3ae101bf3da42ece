"""Rendering frame chunks with a trained shot model: the one code path of `segment`, farm
workers (core.farm.ray_runner) and render queues.

A worker gets the model payload (core.farm.model_file) and a RenderTarget (plain data), opens
the frame source itself, and writes each frame's mattes straight into the output folder
(atomically: a retried chunk rewrites the same files, never a second copy). Per-frame
confidence scores come back to the driver, which keeps `scores.csv` beside the mattes.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_bytes_atomic
from core.confidence import KeyframeAreas, object_confidences
from core.errors import RotoshotError
from core.export import write_png_atomic
from core.farm.model_file import ShotInfo, annotations_of, check_payload
from core.jobs import NEVER_CANCELLED, CancelToken
from core.segmentation import FrameResult

SCORES_FILE = "scores.csv"


@dataclass(frozen=True)
class RenderTarget:
    """What a worker needs besides the model: the frame source (a path every worker can read;
    colour settings override the model file's when given), the output folder, the torch device
    and threads per worker (0: leave torch's default), and what runs the frozen backbone
    (core.model.onnx_backbone.BACKENDS)."""

    source_path: str
    out: str
    input_space: str = ""
    colour_config: str = ""
    device: str = "cpu"
    threads: int = 0
    backend: str = "torch"


@dataclass(frozen=True)
class ScoreRow:
    """One object on one frame: frame number (as the artist knows it), object id, confidence in
    [0, 1] (core.confidence), area (share of the frame the object covers)."""

    frame: int
    object_id: int
    score: float
    area: float


@dataclass(frozen=True)
class ChunkReport:
    """What a rendered chunk sends back: its frames (indices), their scores, seconds spent
    building the renderer (0 when the worker had it already) and rendering, the worker's pid."""

    frames: tuple[int, ...]
    rows: tuple[ScoreRow, ...]
    setup_s: float
    render_s: float
    pid: int


def write_frame_mattes(
    out: Path, stem: str, result: FrameResult, object_ids: tuple[int, ...]
) -> None:
    """One frame's output: a single object as a 0/255 PNG `out/stem.png`; several as a label
    map of their ids `out/stem.png` plus a 0/255 matte each in `out/<id>/stem.png`."""
    if len(object_ids) == 1:
        write_png_atomic(out / f"{stem}.png", (result.labels > 0).astype(np.uint8) * 255)
        return
    lut = np.array([0, *object_ids], dtype=np.uint16)
    dtype = np.uint8 if max(object_ids) < 256 else np.uint16
    write_png_atomic(out / f"{stem}.png", lut[result.labels].astype(dtype))
    for channel, object_id in enumerate(object_ids):
        (out / str(object_id)).mkdir(exist_ok=True)
        matte = (result.labels == channel + 1).astype(np.uint8) * 255
        write_png_atomic(out / str(object_id) / f"{stem}.png", matte)


class ShotRenderer:
    """A trained shot ready to render: the model file's networks over the target's frames."""

    def __init__(self, payload: dict, target: RenderTarget) -> None:
        import torch

        from core.device import resolve_device
        from core.model.build import ModelInfo, build_network
        from core.shot.session import ShotSession
        from core.video import open_frames

        info: ShotInfo = check_payload(payload, "the model")
        if target.threads:
            torch.set_num_threads(target.threads)
        self.info = info
        self.out = Path(target.out)
        self.source = open_frames(
            target.source_path,
            input_space=target.input_space or info.input_space or None,
            colour_config=target.colour_config or info.colour_config or None,
        )
        if tuple(self.source.size) != tuple(info.plate_size):
            raise RotoshotError(
                f"the model was trained on {info.plate_size[0]}x{info.plate_size[1]} frames, "
                f"{target.source_path} is {self.source.size[0]}x{self.source.size[1]}"
            )
        device = resolve_device(target.device)
        parent = build_network(backbone_name=payload["backbone"], imagenet=False).to(device)
        session = ShotSession(
            self.source,
            parent,
            ModelInfo("model file", payload["backbone"]),
            gate_px=info.gate_px,
            working_long_side=info.working_long_side,
            edges=info.edges,
            roi=info.roi,
            mode=info.mode,
            backend=target.backend,
        )
        session.restore_payload(
            payload,
            label="the model",
            object_ids=info.object_ids,
            annotations=annotations_of(payload),
            fingerprint=info.fingerprint,
        )
        self.segmenter = session.segmenter()
        annotations = session.model.annotations
        self.keyframe_areas = KeyframeAreas.of(
            [
                [(f, a.masks[k]) for f, a in annotations.items() if a.is_full(k)]
                for k in range(len(info.object_ids))
            ]
        )

    def render(self, frames: tuple[int, ...], cancel: CancelToken = NEVER_CANCELLED) -> list:
        """Segment and write `frames` (indices); their ScoreRows."""
        rows = []
        numbers = self.source.numbers
        for frame_idx in frames:
            cancel.raise_if_cancelled()
            result = self.segmenter.segment_frame(frame_idx)
            write_frame_mattes(self.out, self.source.stems[frame_idx], result, self.info.object_ids)
            for object_id, (score, area) in zip(
                self.info.object_ids,
                object_confidences(result.probs, self.keyframe_areas.at(frame_idx)),
                strict=True,
            ):
                rows.append(
                    ScoreRow(numbers[frame_idx], object_id, round(score, 4), round(area, 5))
                )
        return rows


# One renderer per worker process, reused by the chunks it gets: building it (the networks, the
# frame source) is the per-worker cost, paid once per model and target.
_renderer: tuple[tuple[str, RenderTarget], ShotRenderer] | None = None


def render_chunk(
    payload: dict, target: RenderTarget, frames: tuple[int, ...], cancel=NEVER_CANCELLED
) -> ChunkReport:
    """Render one chunk in this process (a Ray task runs exactly this)."""
    global _renderer
    started = time.perf_counter()
    key = (str(payload.get("sha256")), target)
    if _renderer is None or _renderer[0] != key:
        _renderer = None
        _renderer = (key, ShotRenderer(payload, target))
    setup = time.perf_counter() - started
    rows = _renderer[1].render(frames, cancel)
    return ChunkReport(
        tuple(frames), tuple(rows), setup, time.perf_counter() - started - setup, os.getpid()
    )


def render_chunks_locally(
    payload: dict,
    target: RenderTarget,
    chunks: list[tuple[int, ...]],
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[ChunkReport]:
    """Every chunk in this process, in order (no Ray): the same `render_chunk` a worker runs."""
    for chunk in chunks:
        yield render_chunk(payload, target, chunk, cancel)


def merge_scores(out: str | os.PathLike, rows: list[ScoreRow]) -> Path:
    """Write `scores.csv` in `out` (frame, object, score, area; sorted): rows of frames rendered
    now replace those frames' earlier rows, other frames' rows are kept. Atomic."""
    path = Path(out) / SCORES_FILE
    fresh = {(r.frame, r.object_id): r for r in rows}
    frames = {r.frame for r in rows}
    kept: dict[tuple[int, int], ScoreRow] = {}
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                record = ScoreRow(
                    int(row["frame"]), int(row["object"]), float(row["score"]), float(row["area"])
                )
                if record.frame not in frames:
                    kept[(record.frame, record.object_id)] = record
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        kept = {}  # an unreadable scores file is rewritten from what is known now
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["frame", "object", "score", "area"])
    merged = {**kept, **fresh}
    for key in sorted(merged):
        r = merged[key]
        writer.writerow([r.frame, r.object_id, f"{r.score:.4f}", f"{r.area:.5f}"])
    write_bytes_atomic(path, text.getvalue().encode())
    return path


def sweep_temp_files(out: str | os.PathLike, stems: list[str]) -> int:
    """Remove the temp files a killed worker left for these frames' mattes (every chunk is done,
    so none is still being written). Returns how many."""
    removed = 0
    names = {f".{stem}.png." for stem in stems}
    subfolders = [p for p in Path(out).iterdir() if p.is_dir() and not p.is_symlink()]
    for folder in [Path(out), *subfolders]:
        for path in folder.glob(".*.part"):
            if any(path.name.startswith(n) for n in names) and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed += 1
    return removed
