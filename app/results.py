"""Per-frame results as the app holds them: a record per frame, a bytes-bounded LRU in memory
backed by the project's results cache on disk, and the background writer of that cache.

The document (app.document) owns one ResultCache; the views read results through it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.confidence import KeyframeAreas, frame_confidence
from core.project import clear_results, load_result, save_result, tag_results
from core.roi import Roi, mask_extent

log = logging.getLogger(__name__)

# Per-frame result state shown on the timeline.
NOT_COMPUTED, COMPUTED, STALE = 0, 1, 2


# Bytes of results kept in memory (about 250 frames of one object at 1080p, 60 at 4K); the rest
# are read back from the project's results cache when shown.
RESULT_MEMORY_BYTES = 512 << 20


@dataclass(frozen=True)
class ResultRecord:
    """One frame's result as the app keeps it: probs (K, H, W) uint8 (0..255) for
    `object_ids`, made by model `version`."""

    probs: np.ndarray
    object_ids: tuple[int, ...]
    version: int

    def mask(self, object_id: int) -> np.ndarray | None:
        """(H, W) bool where `object_id` wins (argmax over objects, above 50 %), or None."""
        if object_id not in self.object_ids:
            return None
        k = self.object_ids.index(object_id)
        if len(self.object_ids) == 1:
            return self.probs[0] > 127
        best = self.probs.argmax(axis=0)
        return (best == k) & (self.probs[k] > 127)

    def extents(self) -> dict[int, Roi | None]:
        """Per object, the bounding box (x0, y0, x1, y1) of its mask(), None when empty."""
        return {object_id: mask_extent(self.mask(object_id)) for object_id in self.object_ids}

    def summary(self, reference: list[float | None] | None) -> tuple[float, dict]:
        """What the cache keeps of every frame's result, in memory or not: (core.confidence
        score with the area shares the objects' keyframes expect at this frame `reference`,
        extents())."""
        return frame_confidence(self.probs, reference), self.extents()


class ResultWriter:
    """Writes result caches to the project folder on one background thread, in order.

    A PNG encode of a 480p result costs a few ms; done in the UI thread for every streamed frame
    it added up while scrubbing. One worker keeps the order of writes and clears (a clear never
    overtakes an earlier write). Result caches are re-computable, so a failed write is logged,
    not shown; annotations are still written synchronously by the document.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rotoshot-results")
        self._last: Future | None = None
        self._closed = False

    def write(self, folder: Path, frame_idx: int, probs: np.ndarray) -> None:
        """Queue one frame's result cache write (probs (K, H, W) uint8)."""
        self._submit(save_result, folder, frame_idx, probs)

    def clear(self, folder: Path, fingerprint: str = "", object_ids: tuple[int, ...] = ()) -> None:
        """Queue removing every cached result (after the writes queued before it), then tagging
        the cache as holding results of the model `fingerprint` (core.project.tag_results)."""
        self._submit(clear_results, folder)
        self._submit(tag_results, folder, fingerprint, object_ids)

    def read_summaries(
        self,
        folder: Path,
        frames: list[int],
        height: int,
        object_ids: tuple[int, ...],
        reference: KeyframeAreas,
        deliver: Callable[[int, tuple | None], None],
    ) -> None:
        """Queue reading the cached results of `frames` for their confidence scores and boxes
        (after the writes queued before): deliver(frame_idx, (score, boxes) or None when the
        file is unreadable or of other objects) runs on the worker thread, once per frame.
        reference: the objects' keyframes' area shares by frame (core.confidence)."""
        for frame_idx in frames:
            if self._closed:
                return
            self._pool.submit(
                _summary,
                folder,
                frame_idx,
                height,
                object_ids,
                reference.at(frame_idx),
                deliver,
                self.closed,
            )

    def closed(self) -> bool:
        """True once the window closing has ended the writer."""
        return self._closed

    def _submit(self, fn, *args) -> None:
        if self._closed:  # a result still queued to the closing window: nothing to keep it for
            return
        self._last = self._pool.submit(_logging_failure, fn, *args)

    def flush(self) -> None:
        """Wait until everything submitted so far is on disk (or has failed and been logged)."""
        if self._last is not None:
            self._last.result()

    def close(self) -> None:
        """Finish the pending writes and end the worker thread (the window is closing)."""
        self._closed = True
        self._pool.shutdown(wait=True)


class ResultCache:
    """Frame results in memory up to `max_bytes` (least recently used dropped first), the rest
    read back from the project's results cache on disk; the model version of every frame's
    latest result is kept for all frames (the timeline draws it without the pixels).

    A stale result (of an older model) is not on disk any more: once dropped from memory, its
    frame shows no overlay until it is segmented again.
    """

    def __init__(self, writer: ResultWriter, max_bytes: int = RESULT_MEMORY_BYTES) -> None:
        self._writer = writer
        self.max_bytes = max_bytes
        self._memory: OrderedDict[int, ResultRecord] = OrderedDict()
        self._bytes = 0
        self._versions: dict[int, int] = {}
        self._confidence: dict[int, float] = {}  # core.confidence of the latest result, all frames
        # Each object's box in the latest result, all frames: fitting a region to the objects
        # then reads no pixels (a 4K shot's results are mostly on disk).
        self._extents: dict[int, dict[int, Roi | None]] = {}
        self._folder: Path | None = None
        self._height = 0
        self.object_ids: tuple[int, ...] = ()  # channel order of results read back from disk
        # object ids -> their keyframes' area shares by frame (core.confidence), set by the document
        self.reference_areas: Callable[[tuple[int, ...]], KeyframeAreas] | None = None

    def reset(self, folder: Path | None, height: int) -> None:
        """Forget everything (a new clip or project)."""
        self._memory.clear()
        self._versions.clear()
        self._confidence.clear()
        self._extents.clear()
        self._bytes = 0
        self._folder, self._height = folder, height

    def set_folder(self, folder: Path) -> None:
        self._folder = folder

    def __contains__(self, frame_idx: int) -> bool:
        return frame_idx in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    @property
    def memory_bytes(self) -> int:
        return self._bytes

    def frames(self) -> list[int]:
        """Frames that have a result (any version), sorted."""
        return sorted(self._versions)

    def version(self, frame_idx: int) -> int | None:
        """The model version of the frame's latest result, or None."""
        return self._versions.get(frame_idx)

    def confidence(self, frame_idx: int, current_version: int) -> float | None:
        """core.confidence score in [0, 1] of the frame's result of `current_version`, or None."""
        if self._versions.get(frame_idx) != current_version:
            return None
        return self._confidence.get(frame_idx)

    def restore(self, frames: list[int], version: int) -> None:
        """`frames` have a result of model `version` in the results cache on disk. Nothing is
        read here (a 4K shot's hundreds of results took seconds on the UI thread): results are
        read when shown, their scores and boxes arrive through `summarised`."""
        for frame_idx in frames:
            self._versions[frame_idx] = version

    def summarised(self, frame_idx: int, version: int, summary: tuple | None) -> bool:
        """Keep a restored frame's (score, boxes) from ResultWriter.read_summaries; None drops
        the frame's result (unreadable: it is segmented again). False when the frame's result
        is not that one any more (a newer model's arrived meanwhile)."""
        if self._versions.get(frame_idx) != version or frame_idx in self._memory:
            return False
        if summary is None:
            self._forget(frame_idx)
        else:
            self._confidence[frame_idx], self._extents[frame_idx] = summary
        return True

    def extent(self, frame_idx: int, object_id: int) -> Roi | None:
        """The object's box in the frame's latest result (any version); None when it has none."""
        return self._extents.get(frame_idx, {}).get(object_id)

    def put(self, frame_idx: int, result: ResultRecord, *, write: bool = True) -> None:
        """Keep a result (and queue its disk cache write unless it came from there)."""
        self._drop(frame_idx)
        self._memory[frame_idx] = result
        self._bytes += result.probs.nbytes
        self._versions[frame_idx] = result.version
        reference = (
            self.reference_areas(result.object_ids).at(frame_idx) if self.reference_areas else None
        )
        self._confidence[frame_idx], self._extents[frame_idx] = result.summary(reference)
        if write and self._folder is not None:
            self._writer.write(self._folder, frame_idx, result.probs)
        while self._bytes > self.max_bytes and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._bytes -= old.probs.nbytes

    def get(self, frame_idx: int, current_version: int) -> ResultRecord | None:
        """The frame's latest result: from memory, else (when it is of `current_version`) from
        the disk cache; None when there is none."""
        result = self._memory.get(frame_idx)
        if result is not None:
            self._memory.move_to_end(frame_idx)
            return result
        version = self._versions.get(frame_idx)
        if version is None or version != current_version or self._folder is None:
            return None
        self._writer.flush()  # the write may still be queued
        probs = load_result(self._folder, frame_idx, self._height)
        if probs is None or probs.shape[0] != len(self.object_ids):
            self._forget(frame_idx)
            return None
        result = ResultRecord(probs, self.object_ids, version)
        self.put(frame_idx, result, write=False)
        return result

    def _forget(self, frame_idx: int) -> None:
        """The frame has no result any more (its cache file did not read back)."""
        del self._versions[frame_idx]
        self._confidence.pop(frame_idx, None)
        self._extents.pop(frame_idx, None)

    def _drop(self, frame_idx: int) -> None:
        old = self._memory.pop(frame_idx, None)
        if old is not None:
            self._bytes -= old.probs.nbytes


def _summary(folder, frame_idx, height, object_ids, reference, deliver, closed) -> None:
    """ResultWriter's worker: one cached result's (confidence, boxes), or None, to `deliver`."""
    if closed():
        return  # the window is closing: nothing waits for the rest
    summary = None
    try:
        probs = load_result(folder, frame_idx, height)
        if probs is not None and probs.shape[0] == len(object_ids):
            summary = ResultRecord(probs, object_ids, version=0).summary(reference)
    except Exception as exc:  # noqa: BLE001 - a cache is re-computable; the frame is segmented
        log.warning("could not read the result cache of frame %d: %s", frame_idx, exc)
    deliver(frame_idx, summary)


def _logging_failure(fn, *args) -> None:
    # Logged inside the task (not in a done-callback, which may run after a waiter wakes), so a
    # flush() returns only once the failure is in the log.
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - a cache write must never kill the worker
        log.warning("could not write a result cache: %s", exc)
