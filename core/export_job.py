"""The export job shared by the CLI and the app: finished mattes, cutouts, label maps, preview.

A generator: it yields (done, total) after every frame and stops at the next frame once its
cancel token is set. Temporal smoothing keeps a sliding window of soft results, so memory stays
bounded however long the range.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from core.atomic import write_bytes_atomic
from core.errors import RotoshotError
from core.export import (
    PREVIEW_CODECS,
    MatteFormat,
    PreviewVideoWriter,
    write_cutout,
    write_exr,
    write_label_png,
    write_matte,
)
from core.jobs import NEVER_CANCELLED, CancelToken
from core.matte import FinishSettings, finish_matte, temporal_smooth
from core.shot.segmenters import FrameSegmenter

# What a preview movie shows, and how it is encoded (core.export.PREVIEW_CODECS).
PreviewKind = Literal["overlay", "matte"]
PreviewCodec = Literal["h264", "prores4444"]

# Formats with the precision to carry the network's soft edge (8-bit PNG stays a binary matte).
SOFT_FORMATS = ("png16", "tiff16", "exr")
MATTE_EXTENSIONS = {"png8": ".png", "png16": ".png", "tiff16": ".tif", "exr": ".exr"}


def safe_name(object_id: int, name: str) -> str:
    """An object's folder/channel name: "<id>_<name>" in letters, digits, '-', '_' and '.'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "object"
    return f"{object_id}_{cleaned}"


@dataclass(frozen=True)
class ExportObject:
    """One object to export: id, display name, RGB colour, finishing settings."""

    object_id: int
    name: str
    colour: tuple[int, int, int] = (255, 0, 0)
    finish: FinishSettings = field(default_factory=FinishSettings)

    @property
    def folder(self) -> str:
        return safe_name(self.object_id, self.name)


@dataclass(frozen=True)
class ExportJob:
    """What to write: frames first..last (inclusive) into `folder`; fmt: matte format;
    cutouts: RGBA cutouts too (premultiplied or straight; EXR half with the EXR matte format,
    16-bit PNG with 16-bit mattes, else 8-bit PNG); several objects in EXR also get one
    multi-channel EXR per frame in objects/ (a channel per object); preview: None, "overlay" or "matte"
    movie with preview_codec "h264" or "prores4444". Files are named after the source frames.
    project_folder / cached_frames / model_version: frames whose results of that model version
    are cached in that project folder (core.project.save_result) and need no network pass; used only
    while that version is the current one. 16-bit and EXR mattes are soft at the edge
    (core.matte.finish_matte). Plain data (picklable); the cancel token is passed beside it to
    run_export_job."""

    folder: str
    first: int
    last: int
    objects: tuple[ExportObject, ...]
    fmt: MatteFormat = "png8"
    cutouts: bool = False
    premultiplied: bool = True
    preview: PreviewKind | None = None
    preview_codec: PreviewCodec = "h264"
    project_folder: str = ""
    cached_frames: tuple[int, ...] = ()
    model_version: int = 0


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


def preview_file_name(kind: PreviewKind, codec: PreviewCodec) -> str:
    """The preview movie's name says what it holds: the overlay or the matte for review (H.264),
    or, in ProRes 4444, the shot (or the matte) with the matte as its alpha channel."""
    suffix = PREVIEW_CODECS[codec][2]
    if codec == "prores4444":
        return f"{'shot' if kind == 'overlay' else 'matte'}_with_matte_alpha{suffix}"
    return f"preview_{kind}{suffix}"


def object_soft_matte(probs: np.ndarray, labels: np.ndarray, channel: int) -> np.ndarray:
    """Object `channel`'s probability (H, W) float32, zero where another object wins (objects
    never overlap in their mattes; background pixels keep their soft value for the threshold)."""
    soft = probs[channel].astype(np.float32)
    return np.where((labels == channel + 1) | (labels == 0), soft, 0.0).astype(np.float32)


def run_export_job(
    job: ExportJob,
    segmenter: FrameSegmenter,
    stems: list[str],
    object_ids: list[int],
    *,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[tuple[int, int]]:
    """Write the job; `object_ids` are the model's channels in order (objects not among them
    export an empty matte). Yields (frames done, total); raises core.jobs.Cancelled before the
    next frame once `cancel` is set. RotoshotError names a failed file."""
    if job.fmt not in MATTE_EXTENSIONS:
        raise RotoshotError(f"unknown matte format {job.fmt!r}")
    source = segmenter.source
    first, last = max(0, job.first), min(len(source) - 1, job.last)
    if first > last:
        raise RotoshotError(f"empty frame range {first}..{last}")
    out = Path(job.folder)
    ext = MATTE_EXTENSIONS[job.fmt]
    cutout_ext = ".exr" if job.fmt == "exr" else ".png"
    for obj in job.objects:
        (out / obj.folder).mkdir(parents=True, exist_ok=True)
        if job.cutouts:
            (out / f"{obj.folder}_rgba").mkdir(parents=True, exist_ok=True)
    if len(job.objects) > 1:
        (out / "labels").mkdir(parents=True, exist_ok=True)
        if job.fmt == "exr":
            (out / "objects").mkdir(parents=True, exist_ok=True)
    preview = None
    if job.preview:
        preview = PreviewVideoWriter(
            out / preview_file_name(job.preview, job.preview_codec),
            fps=source.fps,
            size=source.size,
            codec=job.preview_codec,
        )
    status = ExportStatus(first, last, job.fmt, first - 1)
    status.write(out)
    radius = max((o.finish.temporal_radius for o in job.objects), default=0)
    matting = job.fmt in SOFT_FORMATS and any(o.finish.edge_matting_px > 0 for o in job.objects)
    window: deque[tuple[int, np.ndarray, np.ndarray]] = deque()  # (frame, probs, labels)
    next_to_segment = max(0, first - radius)
    total = last - first + 1
    try:
        for frame_idx in range(first, last + 1):
            cancel.raise_if_cancelled()
            while next_to_segment <= min(len(source) - 1, frame_idx + radius):
                result = segmenter.segment_frame(next_to_segment)
                window.append((next_to_segment, result.probs, result.labels))
                next_to_segment += 1
            while window and window[0][0] < frame_idx - radius:
                window.popleft()
            here = [f for f, _, _ in window].index(frame_idx)
            stem = stems[frame_idx]
            alphas = []
            frame = source.read(frame_idx) if matting else None
            for obj in job.objects:
                if obj.object_id in object_ids:
                    k = object_ids.index(obj.object_id)
                    softs = [object_soft_matte(p, lab, k) for _, p, lab in window]
                    alpha = finish_matte(
                        temporal_smooth(softs, here, obj.finish.temporal_radius),
                        obj.finish,
                        soft=job.fmt in SOFT_FORMATS,
                        image=frame,
                    )
                else:
                    alpha = np.zeros((source.height, source.width), np.float32)
                alphas.append(alpha)
                write_matte(out / obj.folder / f"{stem}{ext}", alpha, job.fmt, channel="A")
                if job.cutouts:
                    write_cutout(
                        out / f"{obj.folder}_rgba" / f"{stem}{cutout_ext}",
                        source.read(frame_idx),
                        alpha,
                        premultiplied=job.premultiplied,
                        bits=16 if job.fmt in ("png16", "tiff16") else 8,
                    )
            if len(job.objects) > 1 and job.fmt == "exr":
                # One multi-channel EXR per frame too: a layer per object ("<object>.A", Nuke's
                # layer.channel convention, so a Read node lists the objects as layers).
                channels = {f"{o.folder}.A": a for o, a in zip(job.objects, alphas, strict=True)}
                write_exr(out / "objects" / f"{stem}.exr", channels)
            if len(job.objects) > 1:
                stack = np.stack(alphas)
                ids = np.array([o.object_id for o in job.objects])
                labels = np.where(stack.max(axis=0) > 0.5, ids[stack.argmax(axis=0)], 0)
                write_label_png(
                    out / "labels" / f"{stem}.png",
                    labels,
                    {o.object_id: o.colour for o in job.objects},
                )
            if preview is not None:
                preview.write(
                    preview_frame(
                        source.read(frame_idx),
                        alphas,
                        [o.colour for o in job.objects],
                        job.preview,
                        job.preview_codec,
                    )
                )
            status.done_through = frame_idx
            if (frame_idx - first) % STATUS_EVERY == STATUS_EVERY - 1:
                status.write(out, durable=False)
            yield frame_idx - first + 1, total
        if preview is not None:
            preview.close()
            preview = None
        status.complete = True
    finally:
        if preview is not None:
            preview.abort()
        try:
            status.write(out)
        except RotoshotError:
            if status.complete:
                raise  # the mattes are written, but a re-run could not tell: say so
            # else the export is failing or stopped already: that error is the one to show


# How often (frames) a running export records its progress in its status file.
STATUS_EVERY = 10
EXPORT_STATUS = "rotoshot_export.json"


@dataclass
class ExportStatus:
    """The status file an export keeps beside its mattes (EXPORT_STATUS): frames first..last
    were asked for; every frame up to done_through is on disk; complete once all are (and the
    preview movie is closed). A killed or stopped export leaves complete False, so a person or a
    farm re-run knows the folder is not finished and which frames are missing."""

    first: int
    last: int
    fmt: str
    done_through: int
    complete: bool = False

    def write(self, folder: Path, *, durable: bool = True) -> None:
        write_bytes_atomic(
            Path(folder) / EXPORT_STATUS,
            json.dumps(asdict(self), indent=1).encode(),
            durable=durable,
        )

    @classmethod
    def read(cls, folder: str | Path) -> ExportStatus | None:
        """The status of an export folder, or None when it has no readable status file."""
        try:
            data = json.loads((Path(folder) / EXPORT_STATUS).read_text())
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def missing(self) -> range:
        """Frame indices not yet written (empty when complete)."""
        return range(self.last + 1 if self.complete else self.done_through + 1, self.last + 1)


def export_objects_of(
    project_objects, object_ids: list[int] | None = None
) -> tuple[ExportObject, ...]:
    """ExportObjects from core.project.ObjectInfo entries (all, or those in `object_ids`)."""
    return tuple(
        ExportObject(o.object_id, o.name, tuple(o.colour), o.finish)
        for o in project_objects
        if object_ids is None or o.object_id in object_ids
    )
