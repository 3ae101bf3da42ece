"""Project folders: a JSON manifest (schema_version), annotation PNGs, cached results, weights.

    project.json                 manifest (atomic write)
    annotations/<object_id>/<frame_idx>.png   0/255 masks, one per painted keyframe; a
                                 correction also marks the pixels kept from the result in
                                 grey levels (core.corrections.mask_to_image)
    annotations/<object_id>/<frame_idx>.strokes.png   hint strokes instead: 255 object,
                                 128 background, 0 unpainted (core.annotations.strokes_to_image)
    results/<frame_idx>.png      cached per-frame probabilities, uint8, objects stacked vertically
    model.pt                     fine-tuned weights (core.model.build checkpoint)

Every write goes to a temp file first and is renamed into place, so a crash never leaves half a
file; a corrupt or foreign folder is refused with one clear RotoshotError.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.annotations import AnnotationStore, strokes_from_image, strokes_to_image
from core.corrections import Correction, mask_from_image, mask_to_image
from core.errors import RotoshotError
from core.export import write_bytes_atomic, write_png_atomic
from core.matte import FinishSettings
from core.project_paths import files_inside, inside
from core.roi import check_roi

SCHEMA_VERSION = 1
MANIFEST = "project.json"
PALETTE = [
    (255, 64, 64), (64, 160, 255), (255, 200, 0), (64, 220, 100),
    (200, 90, 255), (255, 128, 0), (0, 220, 220), (255, 90, 170),
]  # fmt: skip


log = logging.getLogger(__name__)


@dataclass
class ObjectInfo:
    """A rotoscoped object: id (>= 1, also its label value), display name, RGB colour, shown."""

    object_id: int
    name: str
    colour: tuple[int, int, int]
    visible: bool = True
    finish: FinishSettings = field(default_factory=FinishSettings)


@dataclass
class ProjectSettings:
    """Per-project preferences: quality slider in [0, 1], auto-train on annotation change,
    overlay opacity in [0, 1], the last export's folder, range (inclusive frame indices) and
    options (matte format, cutouts, premultiplied, preview movie), the work range that
    training, segmentation, playback and export keep to, the long side of the network's
    working resolution (core.resolution), an EXR/DPX plate's input colour space, the
    segmentation mode, the online rounds the app runs after each full pass, and the region of
    interest."""

    quality: float = 0.0
    auto_train: bool = True
    overlay_opacity: float = 0.5
    export_dir: str = ""
    export_first: int = 0
    export_last: int = -1
    export_format: str = "png8"
    export_cutouts: bool = False
    export_premultiplied: bool = True
    export_preview: str = ""  # "" none, else "<kind>:<codec>" (core.export_job)
    range_first: int = 0  # the work range (in/out points), inclusive frame indices
    range_last: int = -1  # -1: to the last frame
    working_long_side: int = 1024  # core.resolution: the network's working size; 0 = source
    input_space: str = ""  # a plate's colour space (core.plates.INPUT_SPACES); "" = guessed
    mode: str = "osvos"  # the segmenter (core.shot.segmenters.MODES)
    online_rounds: int = 0  # core.shot.online rounds after each full pass in the app; 0 = off
    roi: list[int] = field(default_factory=list)  # core.roi: [x0, y0, x1, y1]; [] = whole frame

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        """`roi` as core.roi's region (checked against the clip when the project was loaded
        with its size), None for the whole frame."""
        return tuple(self.roi) or None


@dataclass
class Project:
    """What the manifest holds. `source_path` is the clip (video, folder or pattern)."""

    source_path: str
    objects: list[ObjectInfo] = field(default_factory=list)
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    model_fingerprint: str = ""  # annotation fingerprint the saved model was trained on
    approved_frames: list[int] = field(default_factory=list)  # the artist checked these
    online_fingerprint: str = ""  # the saved model has had its online rounds for this one

    def next_object(self, name: str | None = None) -> ObjectInfo:
        """A new object with the next free id and palette colour (not yet added)."""
        object_id = max((o.object_id for o in self.objects), default=0) + 1
        colour = PALETTE[(object_id - 1) % len(PALETTE)]
        return ObjectInfo(object_id, name or f"Object {object_id}", colour)


def save_manifest(folder: str | os.PathLike, project: Project) -> None:
    """Write project.json atomically (creating the folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"schema_version": SCHEMA_VERSION, "app": "rotoshot", **asdict(project)}
    write_bytes_atomic(inside(folder, MANIFEST), json.dumps(data, indent=1).encode())


STROKES_SUFFIX = ".strokes"


def annotation_path(
    folder: str | os.PathLike, object_id: int, frame_idx: int, *, strokes: bool = False
) -> Path:
    """The keyframe file of (object, frame); RotoshotError when a link is on the way."""
    suffix = STROKES_SUFFIX if strokes else ""
    return inside(folder, "annotations", str(object_id), f"{frame_idx:06d}{suffix}.png")


def save_annotation(
    folder: str | os.PathLike,
    object_id: int,
    frame_idx: int,
    mask: np.ndarray | None,
    known: np.ndarray | None = None,
    correction: Correction | None = None,
) -> None:
    """Write (or delete, when None) one keyframe atomically: a full mask as a 0/255 PNG (a
    correction's in grey levels, core.corrections), hint strokes (`known`: painted pixels) as
    a strokes PNG. The other form's file is removed
    afterwards, so a crash between the two leaves the new annotation readable."""
    full = annotation_path(folder, object_id, frame_idx)
    strokes = annotation_path(folder, object_id, frame_idx, strokes=True)
    if mask is None:
        full.unlink(missing_ok=True)
        strokes.unlink(missing_ok=True)
        return
    full.parent.mkdir(parents=True, exist_ok=True)
    if known is None:
        write_png_atomic(full, mask_to_image(mask, correction))
        strokes.unlink(missing_ok=True)
    else:
        write_png_atomic(strokes, strokes_to_image(mask, known))
        full.unlink(missing_ok=True)


def save_annotations(folder: str | os.PathLike, store: AnnotationStore) -> None:
    """Write every keyframe and delete stale files (used by Save As)."""
    folder = Path(folder)
    keep = set()
    for object_id, frame_idx in store.keys():
        known = store.known(object_id, frame_idx)
        mask, correction = store.get(object_id, frame_idx), store.correction(object_id, frame_idx)
        save_annotation(folder, object_id, frame_idx, mask, known, correction)
        keep.add(annotation_path(folder, object_id, frame_idx, strokes=known is not None))
    for path in _annotation_files(folder):
        if path not in keep:
            path.unlink()


def save_result(folder: str | os.PathLike, frame_idx: int, probs_u8: np.ndarray) -> None:
    """Cache one frame's probabilities (K, H, W) uint8 as a PNG (objects stacked vertically)."""
    path = result_path(folder, frame_idx)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png_atomic(path, probs_u8.reshape(-1, probs_u8.shape[-1]), durable=False)


def result_path(folder: str | os.PathLike, frame_idx: int) -> Path:
    """The cached result file of a frame; RotoshotError when a link is on the way."""
    return inside(folder, "results", f"{frame_idx:06d}.png")


def cached_result_frames(folder: str | os.PathLike) -> list[int]:
    """Frame indices with a cached result file, sorted."""
    frames = []
    try:
        files = list(files_inside(folder, "results", pattern="*.png"))
    except RotoshotError:
        return []  # a linked cache is never read: every frame is computed again
    for path in files:
        if path.stem.isdigit():
            frames.append(int(path.stem))
    return sorted(frames)


def load_result(folder: str | os.PathLike, frame_idx: int, height: int) -> np.ndarray | None:
    """One cached result (K, H, W) uint8, or None when missing, unreadable or mis-sized."""
    try:
        image = cv2.imread(str(result_path(folder, frame_idx)), cv2.IMREAD_UNCHANGED)
    except RotoshotError:
        return None  # a planted link is never read: the frame is computed again
    if image is None or image.ndim != 2 or height <= 0 or image.shape[0] % height:
        return None
    return image.reshape(image.shape[0] // height, height, -1)


RESULTS_TAG = "model.json"


def tag_results(folder: str | os.PathLike, fingerprint: str, object_ids: tuple[int, ...]) -> None:
    """Say which model the results cache now holds results of (written after the cache is
    cleared and before its first result), so results are only ever restored with that model."""
    inside(folder, "results").mkdir(parents=True, exist_ok=True)
    tag = {"fingerprint": fingerprint, "object_ids": [int(i) for i in object_ids]}
    write_bytes_atomic(inside(folder, "results", RESULTS_TAG), json.dumps(tag).encode())


def results_tag(folder: str | os.PathLike) -> tuple[str, tuple[int, ...]] | None:
    """(fingerprint, object ids) of the model whose results the cache holds, or None when the
    cache has no readable tag (its results belong to no known model)."""
    try:
        data = json.loads(inside(folder, "results", RESULTS_TAG).read_text())
        return str(data["fingerprint"]), tuple(int(i) for i in data["object_ids"])
    except (OSError, ValueError, KeyError, TypeError, RotoshotError):
        return None


def clear_results(folder: str | os.PathLike) -> None:
    """Delete the results cache (a link in its place is removed, never followed)."""
    results = Path(folder) / "results"
    if results.is_symlink():
        results.unlink()
    else:
        shutil.rmtree(results, ignore_errors=True)


# Object ids are label values in exported label maps (8-bit PNG) and index the palette.
MAX_OBJECT_ID = 255


def _object_id(value) -> int:
    object_id = int(value)
    if not 1 <= object_id <= MAX_OBJECT_ID:
        raise ValueError(f"object id {object_id} is out of range (1..{MAX_OBJECT_ID})")
    return object_id


def _colour(value) -> tuple[int, int, int]:
    colour = tuple(int(c) for c in value)
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise ValueError(f"colour {list(value)} is not three values in 0..255")
    return colour


# Allowed ranges of numeric settings a manifest may hold (a crafted value outside them would
# make an export allocate without bound or a widget refuse it).
_RANGES = {
    "quality": (0.0, 1.0), "overlay_opacity": (0.0, 1.0), "threshold": (0.01, 0.99),
    "grow_px": (-200, 200), "feather_px": (0.0, 200.0), "fill_holes_px": (0, 10**8),
    "remove_specks_px": (0, 10**8), "temporal_radius": (0, 10), "working_long_side": (0, 16384),
    "range_first": (0, 10**7), "range_last": (-1, 10**7), "export_first": (0, 10**7),
    "export_last": (-1, 10**7), "online_rounds": (0, 10),
}  # fmt: skip


def _typed_fields(cls, data) -> dict:
    """The entries of `data` that are fields of dataclass `cls` with a value of the field's
    type (int for int, int or float for float; never bool for a number), numbers clamped to
    _RANGES. Anything else keeps the default, with a log line: one bad setting in a manifest
    never locks the artist out of a project."""
    if not isinstance(data, dict):
        log.warning("%s in the project file is not a table: defaults used", cls.__name__)
        return {}
    values = {}
    for name, spec in cls.__dataclass_fields__.items():
        if name not in data:
            continue
        value = data[name]
        default = spec.default if spec.default is not MISSING else spec.default_factory()
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            log.warning("project setting %s=%r ignored (not a %s)", name, value, type(default))
            continue
        if name in _RANGES:
            lo, hi = _RANGES[name]
            value = type(default)(min(max(value, lo), hi))
        values[name] = value
    return values


def _roi_setting(value: list, size: tuple[int, int] | None) -> list[int]:
    """A manifest's region of interest as [x0, y0, x1, y1] inside a frame of `size` (when
    known); anything else is the whole frame ([]), with a log line."""
    if not value:
        return []
    numbers = len(value) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    try:
        if not numbers:
            raise RotoshotError(f"{value!r} is not four whole numbers")
        return list(check_roi(value, size)) if size is not None else list(value)
    except RotoshotError as exc:
        log.warning("project region of interest ignored: %s", exc)
        return []


def _frame_list(value) -> list[int]:
    """Sorted distinct frame indices >= 0 of a manifest list; anything else is dropped."""
    if not isinstance(value, list):
        return []
    return sorted({v for v in value if isinstance(v, int) and not isinstance(v, bool) and v >= 0})


def _finish_from(data: dict) -> FinishSettings:
    return FinishSettings(**_typed_fields(FinishSettings, data))


def load_project(
    folder: str | os.PathLike, size: tuple[int, int] | None = None, num_frames: int | None = None
) -> tuple[Project, AnnotationStore | None]:
    """Read a project folder. With `size` (W, H) also load its annotations (checked against it);
    an unreadable keyframe file, or one for a frame beyond `num_frames`, is skipped and listed in
    the store's `skipped`. A relative source path is taken relative to the folder.

    Raises RotoshotError with one clear sentence for a missing, corrupt or newer-version project.
    """
    folder = Path(folder)
    manifest = inside(folder, MANIFEST)
    if not manifest.exists():
        raise RotoshotError(f"{folder} is not a Rotoshot project (no {MANIFEST})")
    try:
        data = json.loads(manifest.read_text())
        if data.get("app") != "rotoshot":
            raise ValueError("not written by Rotoshot")
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise RotoshotError(f"{folder.name} was saved by a newer Rotoshot (schema {version})")
        objects = [
            ObjectInfo(
                _object_id(o["object_id"]),
                str(o["name"]),
                _colour(o["colour"]),
                bool(o.get("visible", True)),
                _finish_from(o.get("finish", {})),
            )
            for o in data.get("objects", [])
        ]
        if len({o.object_id for o in objects}) != len(objects):
            raise ValueError("two objects share an id")
        settings = ProjectSettings(**_typed_fields(ProjectSettings, data.get("settings", {})))
        settings.roi = _roi_setting(settings.roi, size)
        source_path = str(data["source_path"])
        if source_path and not Path(source_path).is_absolute():
            # A project folder that travelled with its plate beside it: relative to the folder.
            source_path = str((folder / source_path).resolve())
        project = Project(
            source_path,
            objects,
            settings,
            str(data.get("model_fingerprint", "")),
            _frame_list(data.get("approved_frames", [])),
            str(data.get("online_fingerprint", "")),
        )
    except RotoshotError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RotoshotError(f"project file {manifest} is corrupt ({exc})") from None
    if size is None:
        return project, None
    store = AnnotationStore(size)
    ids = {o.object_id for o in project.objects}
    for path in _annotation_files(folder, skipped=store.skipped):
        stem = path.stem
        is_strokes = stem.endswith(STROKES_SUFFIX)
        try:
            object_id = int(path.parent.name)
            frame_idx = int(stem.removesuffix(STROKES_SUFFIX))
        except ValueError:
            continue
        if object_id not in ids:
            continue
        if _superseded(path, is_strokes):
            continue
        if num_frames is not None and not 0 <= frame_idx < num_frames:
            store.skipped.append(f"{path.parent.name}/{path.name} (frame beyond the clip)")
            continue
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            # One damaged keyframe (0 bytes after a power cut) must not lock the artist out of
            # every other one: it is skipped, and named, and the file is left for recovery.
            store.skipped.append(f"{path.parent.name}/{path.name}")
            continue
        if mask.shape != (size[1], size[0]):
            raise RotoshotError(
                f"annotation {path.name} is {mask.shape[1]}x{mask.shape[0]}, the clip is {size[0]}x{size[1]}"
            )
        if is_strokes:
            store.set(object_id, frame_idx, *strokes_from_image(mask))
        else:
            full, correction = mask_from_image(mask)
            store.set(object_id, frame_idx, full, correction=correction)
    return project, store


def _annotation_files(folder: Path, *, skipped: list[str] | None = None) -> list[Path]:
    """Every keyframe PNG under folder/annotations/<object id>/, links excluded. A linked
    object folder is named in `skipped` when given (reading), else refused (a delete or
    write through it could reach outside the project)."""
    files: list[Path] = []
    annotations = inside(folder, "annotations")
    if not annotations.is_dir():
        return files
    for directory in sorted(annotations.iterdir()):
        if directory.is_symlink() and skipped is not None:
            skipped.append(f"{directory.name}/ (a link, not read)")
            continue
        files.extend(files_inside(folder, "annotations", directory.name, pattern="*.png"))
    return files


def _superseded(path: Path, is_strokes: bool) -> bool:
    """True when the keyframe's other form (mask <-> strokes) is also on disk and newer: a
    crash between writing one and removing the other leaves both."""
    stem = path.stem.removesuffix(STROKES_SUFFIX)
    other = path.with_name(f"{stem}.png" if is_strokes else f"{stem}{STROKES_SUFFIX}.png")
    try:
        return other.stat().st_mtime_ns > path.stat().st_mtime_ns
    except OSError:
        return False
