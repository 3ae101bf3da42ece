"""The open shot as the views see it: clip, objects, annotations (with undo), results, frame.

`ShotDocument` is the one model the views are built on. It wraps the Qt-free core state
(FrameSource, Project, AnnotationStore) and announces every change with a signal; the views
redraw from those signals and never talk to each other. Every annotation change is written to
the project folder at once (atomic PNG), so a crash never loses a stroke.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.matte_preview import EdgeMattePreviews, finished_alpha
from app.results import COMPUTED, NOT_COMPUTED, STALE, ResultCache, ResultRecord, ResultWriter
from core.annotations import AnnotationStore
from core.confidence import KeyframeAreas, least_confident
from core.corrections import Correction
from core.matte import FinishSettings
from core.project import (
    ObjectInfo,
    Project,
    cached_result_frames,
    results_tag,
    save_annotation,
    save_annotations,
    save_manifest,
    save_result,
    tag_results,
)
from core.video import FrameSource

log = logging.getLogger(__name__)

# A keyframe as the undo stack keeps it: (mask, known, correction) with known None for a full
# mask and correction None unless it is one (core AnnotationStore), or None for "not annotated".
Keyframe = tuple[np.ndarray, np.ndarray | None, Correction | None] | None


def _copy_keyframe(keyframe: Keyframe) -> Keyframe:
    if keyframe is None:
        return None
    return tuple(None if a is None else a.copy() for a in keyframe)


class StrokeCommand(QUndoCommand):
    """One paint action on one (object, frame): the keyframe before and after."""

    def __init__(
        self,
        document: ShotDocument,
        object_id: int,
        frame_idx: int,
        before: Keyframe,
        after: Keyframe,
        text: str,
    ):
        super().__init__(text)
        self._document = document
        self._key = (object_id, frame_idx)
        self._before = _copy_keyframe(before)
        self._after = _copy_keyframe(after)

    def redo(self) -> None:
        self._document._apply_annotation(*self._key, self._after)

    def undo(self) -> None:
        self._document._apply_annotation(*self._key, self._before)


class ShotDocument(QObject):
    """Model of the open shot. Signals are past tense and carry what changed."""

    clip_loaded = Signal()
    frame_changed = Signal(int)
    annotation_changed = Signal(int, int)  # object_id, frame_idx
    objects_changed = Signal()
    active_object_changed = Signal(int)
    result_changed = Signal(int)  # frame_idx
    results_invalidated = Signal()  # a new model: every result is stale
    finish_changed = Signal(int)  # object_id
    range_changed = Signal(int, int)  # first, last frame index of the work range (inclusive)
    approval_changed = Signal(int)  # frame_idx the artist marked or unmarked as approved
    results_lost = Signal(object, int)  # restored frames not readable after all, model version
    _summary_read = Signal(int, int, object)  # version, frame_idx, (score, boxes) or None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source: FrameSource | None = None
        self.project = Project("")
        self.store = AnnotationStore((0, 0))
        self.folder: Path | None = None
        self.undo_stack = QUndoStack(self)
        self.current_frame = 0
        self.active_object_id = 0
        self.model_version = 0
        self.results_fingerprint = ""  # the model the results cache holds results of
        self.result_writer = ResultWriter()
        self.results = ResultCache(self.result_writer)
        self.results.reference_areas = self.keyframe_areas
        self.edge_mattes = EdgeMattePreviews(self)
        self._summary_read.connect(self._keep_summary)
        self._areas_cache: tuple[tuple, KeyframeAreas] = ((), KeyframeAreas())

    # --- clip and project -------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return len(self.source) if self.source is not None else 0

    def load(
        self, source: FrameSource, project: Project, store: AnnotationStore, folder: Path
    ) -> None:
        """Show a clip with its project state; `folder` is where every change is saved."""
        if self.source is not None:
            self.source.close()
        self.source, self.project, self.store, self.folder = source, project, store, Path(folder)
        if not self.project.objects:
            self.project.objects.append(self.project.next_object())
        self.undo_stack.clear()
        self.current_frame = 0
        self.active_object_id = self.project.objects[0].object_id
        self.model_version = 0
        self.results_fingerprint = ""
        self.results.reset(self.folder, source.height)
        save_manifest(self.folder, self.project)
        self.clip_loaded.emit()
        self.objects_changed.emit()
        self.frame_changed.emit(0)

    def restore_results(
        self, object_ids: tuple[int, ...], version: int, fingerprint: str | None = None
    ) -> None:
        """Take the cached results in the project folder as results of model `version`, when the
        cache is tagged as holding results of that model (`fingerprint`, `object_ids`). They are
        read when shown; their scores and boxes arrive from the results thread."""
        if not object_ids or self.source is None:
            return
        self.result_writer.flush()
        if fingerprint is not None and results_tag(self.folder) != (fingerprint, object_ids):
            return  # results of another model (a crash between two saves): computed again
        self.results_fingerprint = fingerprint or ""
        self.results.object_ids = object_ids = tuple(object_ids)
        frames = [f for f in cached_result_frames(self.folder) if f < self.num_frames]
        self.results.restore(frames, version)
        reference = self.keyframe_areas(object_ids)
        read = partial(self._summary_read.emit, version)  # queued to the UI thread
        height = self.source.height
        self.result_writer.read_summaries(self.folder, frames, height, object_ids, reference, read)
        self.results_invalidated.emit()

    def _keep_summary(self, version: int, frame_idx: int, summary: tuple | None) -> None:
        if self.results.summarised(frame_idx, version, summary):
            self.result_changed.emit(frame_idx)
            if summary is None:
                self.results_lost.emit([frame_idx], version)

    def cached_frames(self) -> list[int]:
        """Frames whose result of the current model the document has (memory or disk)."""
        return [f for f in self.results.frames() if self.results.version(f) == self.model_version]

    def save_as(self, folder: Path) -> None:
        """Write the whole project into `folder` and keep saving there."""
        save_manifest(folder, self.project)
        save_annotations(folder, self.store)
        for frame_idx in self.cached_frames():
            result = self.results.get(frame_idx, self.model_version)
            if result is not None:
                save_result(folder, frame_idx, result.probs)
        tag_results(folder, self.results_fingerprint, self.results.object_ids)
        self.folder = Path(folder)
        self.results.set_folder(self.folder)

    def save_manifest(self) -> None:
        if self.folder is not None:
            save_manifest(self.folder, self.project)

    # --- navigation --------------------------------------------------------------------------
    def set_frame(self, frame_idx: int) -> None:
        if self.num_frames == 0:
            return
        frame_idx = int(np.clip(frame_idx, 0, self.num_frames - 1))
        if frame_idx != self.current_frame:
            self.current_frame = frame_idx
            self.frame_changed.emit(frame_idx)

    def work_range(self) -> tuple[int, int]:
        """(first, last) frame indices of the in/out range, inclusive, within the clip."""
        n = self.num_frames
        if n == 0:
            return 0, -1
        settings = self.project.settings
        last = settings.range_last if 0 <= settings.range_last < n else n - 1
        first = min(max(0, settings.range_first), last)
        return first, last

    def set_work_range(self, first: int | None = None, last: int | None = None) -> None:
        """Move the in point and/or the out point (an in after the out moves the out, and the
        other way round); None leaves that end. set_work_range(0, -1) clears the range."""
        settings = self.project.settings
        old_first, old_last = self.work_range()
        new_first = old_first if first is None else int(first)
        new_last = old_last if last is None else (int(last) if last >= 0 else self.num_frames - 1)
        if first is not None and new_first > new_last:
            new_last = new_first
        if last is not None and new_last < new_first:
            new_first = new_last
        settings.range_first, settings.range_last = new_first, new_last
        self.save_manifest()
        self.range_changed.emit(*self.work_range())

    def in_range(self, frame_idx: int) -> bool:
        first, last = self.work_range()
        return first <= frame_idx <= last

    def frame_image(self, frame_idx: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB of a frame (the current one by default)."""
        return self.source.read(self.current_frame if frame_idx is None else frame_idx)

    # --- objects -----------------------------------------------------------------------------
    def object(self, object_id: int) -> ObjectInfo | None:
        return next((o for o in self.project.objects if o.object_id == object_id), None)

    def add_object(self, name: str | None = None) -> ObjectInfo:
        info = self.project.next_object(name)
        self.project.objects.append(info)
        self.save_manifest()
        self.objects_changed.emit()
        self.set_active_object(info.object_id)
        return info

    def rename_object(self, object_id: int, name: str) -> None:
        info = self.object(object_id)
        if info is not None and name.strip():
            info.name = name.strip()
            self.save_manifest()
            self.objects_changed.emit()

    def set_object_visible(self, object_id: int, visible: bool) -> None:
        info = self.object(object_id)
        if info is not None and info.visible != visible:
            info.visible = visible
            self.save_manifest()
            self.objects_changed.emit()

    def delete_object(self, object_id: int) -> None:
        """Remove an object and its annotations (not undoable: the GUI asks first)."""
        if len(self.project.objects) <= 1:
            return
        for _, frame_idx in [k for k in self.store.keys() if k[0] == object_id]:
            save_annotation(self.folder, object_id, frame_idx, None)
        self.store.remove_object(object_id)
        self.project.objects = [o for o in self.project.objects if o.object_id != object_id]
        self.undo_stack.clear()  # older strokes may refer to the deleted object
        self.save_manifest()
        self.objects_changed.emit()
        if self.active_object_id == object_id:
            self.set_active_object(self.project.objects[0].object_id)
        self.annotation_changed.emit(object_id, self.current_frame)

    def set_finish(self, object_id: int, settings: FinishSettings) -> None:
        """Change an object's matte finishing (export settings, previewed in Matte view)."""
        info = self.object(object_id)
        if info is not None and info.finish != settings:
            info.finish = settings
            self.save_manifest()
            self.finish_changed.emit(object_id)

    def finished_alpha(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        """The object's matte as exported (app.matte_preview.finished_alpha): (H, W) float32."""
        return finished_alpha(self, object_id, frame_idx)

    def set_active_object(self, object_id: int) -> None:
        if self.object(object_id) is not None and object_id != self.active_object_id:
            self.active_object_id = object_id
            self.active_object_changed.emit(object_id)

    # --- annotations -------------------------------------------------------------------------
    def annotation(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        return self.store.get(object_id, frame_idx)

    def keyframe(self, object_id: int, frame_idx: int) -> Keyframe:
        mask = self.store.get(object_id, frame_idx)
        if mask is None:
            return None
        return (
            mask,
            self.store.known(object_id, frame_idx),
            self.store.correction(object_id, frame_idx),
        )

    def editable_mask(self, object_id: int, frame_idx: int) -> np.ndarray:
        """What a full-mask edit starts from: what the viewer shows (the annotation, the result
        with hint strokes applied, or the result, so the artist fixes only the error), else
        empty. (H, W) bool, a fresh copy."""
        mask = self.display_mask(object_id, frame_idx)
        if mask is not None:
            return mask.copy()
        return np.zeros((self.source.height, self.source.width), dtype=bool)

    def editable_keyframe(
        self, object_id: int, frame_idx: int, *, hints: bool
    ) -> tuple[np.ndarray, np.ndarray | None, Correction | None]:
        """What a new stroke starts from, as (mask, known, correction) fresh copies (known None:
        a full mask; a correction: what was painted over the result so far). A keyframe keeps
        its kind: strokes are added to hint strokes, a full mask or correction is edited. With
        no keyframe: `hints` and no result on the frame yet start empty hint strokes (the first
        annotation: strokes, not the whole matte); otherwise the stroke edits the shown result
        as a correction (it keeps the rest of the matte, which trains at less weight than what
        the artist paints: core.corrections)."""
        mask = self.store.get(object_id, frame_idx)
        known = self.store.known(object_id, frame_idx)
        if mask is not None and known is not None and not hints:
            # Filled, then edited: the strokes are what the artist painted.
            shown = self.editable_mask(object_id, frame_idx)
            return shown, None, self._start_correction(object_id, frame_idx).painted_over(known)
        if mask is not None and known is not None:
            return mask.copy(), known.copy(), None
        if mask is not None:
            correction = self.store.correction(object_id, frame_idx)
            return mask.copy(), None, None if correction is None else correction.copy()
        shown = self.display_mask(object_id, frame_idx)
        empty = np.zeros((self.source.height, self.source.width), dtype=bool)
        if shown is None:
            return (empty, empty.copy(), None) if hints else (empty, None, None)
        return shown.copy(), None, self._start_correction(object_id, frame_idx)

    def _start_correction(self, object_id: int, frame_idx: int) -> Correction:
        """A correction of the frame's result for the object, nothing painted yet."""
        result = self.result(frame_idx)
        if result is None or object_id not in result.object_ids:
            empty = np.zeros((self.source.height, self.source.width), dtype=bool)
            return Correction(empty, empty.copy())
        return Correction.start(result.probs[result.object_ids.index(object_id)])

    def commit_mask(
        self,
        object_id: int,
        frame_idx: int,
        mask: np.ndarray | None,
        text: str,
        known: np.ndarray | None = None,
        correction: Correction | None = None,
    ) -> None:
        """Record a paint action as one undo step (and apply it): a full mask, hint strokes
        (with `known`, the painted pixels), a correction (with `correction`: a result the
        artist painted over), or None to remove the keyframe."""
        before = self.keyframe(object_id, frame_idx)
        after = None if mask is None else (mask, known, correction)
        if before is None and after is None:
            return
        if before is not None and after is not None and _same_keyframe(before, after):
            return
        self.undo_stack.push(StrokeCommand(self, object_id, frame_idx, before, after, text))

    def fill_as_mask(self, object_id: int, frame_idx: int) -> bool:
        """Turn the frame's hint strokes (or its result) into a full, editable mask: what the
        viewer shows becomes the keyframe. False when there is nothing to fill from."""
        full_mask = self.store.known(object_id, frame_idx) is None
        if full_mask and self.store.get(object_id, frame_idx) is not None:
            return False  # already one
        mask = self.display_mask(object_id, frame_idx)
        if mask is None:
            return False
        self.commit_mask(object_id, frame_idx, mask.copy(), "Fill as mask")
        return True

    def _apply_annotation(self, object_id: int, frame_idx: int, keyframe: Keyframe) -> None:
        mask, known, correction = keyframe if keyframe is not None else (None, None, None)
        # Disk first: the stroke is safe before anything else (training) runs.
        save_annotation(self.folder, object_id, frame_idx, mask, known, correction)
        self.store.set(object_id, frame_idx, mask, known, correction)
        self.annotation_changed.emit(object_id, frame_idx)

    # --- results -----------------------------------------------------------------------------
    def result(self, frame_idx: int) -> ResultRecord | None:
        """The frame's latest result (current or stale), or None."""
        return self.results.get(frame_idx, self.model_version)

    def set_result(self, frame_idx: int, result: ResultRecord) -> None:
        self.results.object_ids = result.object_ids
        self.results.put(frame_idx, result)
        self.result_changed.emit(frame_idx)

    def start_model_version(
        self, version: int, fingerprint: str = "", object_ids: tuple[int, ...] = ()
    ) -> None:
        """A newly trained model: existing results become stale (kept on screen until replaced).
        The results cache on disk is emptied and tagged with the model's `fingerprint` and
        `object_ids` ("" for a preview: its results are never restored)."""
        self.model_version = version
        self.results_fingerprint = fingerprint
        self.result_writer.clear(self.folder, fingerprint, object_ids)
        self.results_invalidated.emit()

    def confidence(self, frame_idx: int) -> float | None:
        """How sure the current model is of the frame (core.confidence, [0, 1]); None before
        the frame has a result of the current model."""
        return self.results.confidence(frame_idx, self.model_version)

    def keyframe_areas(self, object_ids: tuple[int, ...]) -> KeyframeAreas:
        """Per object its full-mask keyframes' area shares by frame: what core.confidence
        compares a result's area with."""
        key = (object_ids, tuple((k, self.store.digest(*k)) for k in self.store.keys()))
        if self._areas_cache[0] != key:
            full = [(o, f) for o, f in self.store.keys() if not self.store.is_hint(o, f)]
            areas = KeyframeAreas.of(
                [[(f, self.store.get(o, f)) for o2, f in full if o2 == o] for o in object_ids]
            )
            self._areas_cache = (key, areas)
        return self._areas_cache[1]

    def is_approved(self, frame_idx: int) -> bool:
        return frame_idx in self.project.approved_frames

    def toggle_approved(self, frame_idx: int) -> None:
        """Mark the frame as checked by the artist (or unmark it); saved with the project."""
        approved = set(self.project.approved_frames) ^ {frame_idx}
        self.project.approved_frames = sorted(approved)
        self.save_manifest()
        self.approval_changed.emit(frame_idx)

    def next_frame_to_fix(self) -> int | None:
        """The least confident frame of the work range with a current result, that is neither a
        keyframe nor approved; None when there is none."""
        first, last = self.work_range()
        scores = {
            frame_idx: score
            for frame_idx in range(first, last + 1)
            if (score := self.confidence(frame_idx)) is not None
        }
        skip = set(self.store.frames()) | {f for f in scores if self.is_approved(f)}
        return least_confident(scores, skip)

    def result_state(self, frame_idx: int) -> int:
        version = self.results.version(frame_idx)
        if version is None:
            return NOT_COMPUTED
        return COMPUTED if version == self.model_version else STALE

    def display_mask(self, object_id: int, frame_idx: int) -> np.ndarray | None:
        """What the viewer shows for an object: its full-mask annotation, else its result mask
        (with the frame's hint strokes imposed where painted). (H, W) bool or None."""
        annotation = self.store.get(object_id, frame_idx)
        known = self.store.known(object_id, frame_idx)
        if annotation is not None and known is None:
            return annotation
        if known is None:
            result = self.result(frame_idx)
            return result.mask(object_id) if result is not None else None
        return self.result_with_strokes(object_id, frame_idx, annotation, known)

    def result_with_strokes(
        self, object_id: int, frame_idx: int, mask: np.ndarray, known: np.ndarray
    ) -> np.ndarray:
        """The frame's result mask for an object (empty when none) with hint strokes imposed
        where painted: mask, known (H, W) bool -> (H, W) bool."""
        result = self.result(frame_idx)
        shown = result.mask(object_id) if result is not None else None
        shown = np.zeros(known.shape, bool) if shown is None else shown.copy()
        shown[known] = mask[known]
        return shown


def _same_keyframe(a: tuple, b: tuple) -> bool:
    (mask_a, known_a, correction_a), (mask_b, known_b, correction_b) = a, b
    if (known_a is None) != (known_b is None) or (correction_a is None) != (correction_b is None):
        return False
    if correction_a is not None and not correction_a.same_as(correction_b):
        return False
    return np.array_equal(mask_a, mask_b) and (known_a is None or np.array_equal(known_a, known_b))
