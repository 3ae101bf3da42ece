"""Edge-matted mattes for the Matte view, computed off the UI thread and cached.

Edge matting (core.edge_matting) solves a sparse system per frame: a fraction of a second at
480p, seconds at 1080p and more at 4K. Done where the overlay is drawn it froze the window on
every frame change. Here the UI asks for a matte and gets the cached one, or None while one
worker thread computes it; `matte_ready` then says which (object, frame) to redraw. The worker
runs numpy/pymatting only (no torch), so it does not wait behind the engine's training; it is
one thread so that two cores are not split three ways.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.export_job import object_soft_matte
from core.matte import FinishSettings, finish_matte
from core.segmentation import labels_from_probs

if TYPE_CHECKING:
    from app.document import ShotDocument

log = logging.getLogger(__name__)

# Mattes kept: the frames around the one shown (a 4K float matte is 33 MB).
CACHED_MATTES = 6


def matte_key(object_id: int, frame_idx: int, prob: np.ndarray, settings: FinishSettings) -> tuple:
    """What a finished matte depends on: the object, frame, probability map (by digest) and
    settings. prob (H, W) float32."""
    digest = hashlib.blake2b(np.ascontiguousarray(prob).data, digest_size=16).hexdigest()
    return (object_id, frame_idx, digest, settings)


class EdgeMattePreviews(QObject):
    """Finished, edge-matted mattes ((H, W) float32 in [0, 1]) by matte_key, on one worker."""

    matte_ready = Signal(int, int)  # object_id, frame_idx
    _computed = Signal(object, object)  # key, future: from the worker, queued to the UI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rotoshot-matting")
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pending: dict[tuple, Future] = {}
        self._closed = False
        self._computed.connect(self._deliver)

    def get(
        self, key: tuple, prob: np.ndarray, settings: FinishSettings, image: np.ndarray
    ) -> np.ndarray | None:
        """The matte for `key` (matte_key of `prob` and `settings`), or None while it is being
        computed from prob (H, W) float32 and image (H, W, 3) uint8 RGB. Requests for other
        frames that have not started yet are dropped: only what is on screen matters."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key not in self._pending and not self._closed:
            for other, future in list(self._pending.items()):
                if future.cancel():
                    del self._pending[other]
            future = self._pool.submit(
                finish_matte, prob.copy(), settings, soft=True, image=image.copy()
            )
            self._pending[key] = future
            future.add_done_callback(lambda f, k=key: self._finished(k, f))
        return None

    def _finished(self, key: tuple, future: Future) -> None:
        """Worker thread: hand the result to the UI thread (the signal is queued there)."""
        if future.cancelled():
            return
        self._computed.emit(key, future)

    def _deliver(self, key: tuple, future: Future) -> None:
        self._pending.pop(key, None)
        try:
            alpha = future.result()
        except Exception:  # noqa: BLE001 - a preview failing must not take the window down
            log.exception("edge matting preview failed")
            return
        self._cache[key] = alpha
        while len(self._cache) > CACHED_MATTES:
            self._cache.popitem(last=False)
        self.matte_ready.emit(key[0], key[1])

    def close(self) -> None:
        """Drop pending requests and end the worker (the window is closing)."""
        self._closed = True
        for future in self._pending.values():
            future.cancel()
        self._pool.shutdown(wait=True)


def finished_alpha(doc: ShotDocument, object_id: int, frame_idx: int) -> np.ndarray | None:
    """The object's matte as exported (finishing applied, temporal smoothing aside):
    (H, W) float32 in [0, 1], or None when the frame has neither annotation nor result.
    With edge matting on, the matted edge once edge_mattes has computed it."""
    info = doc.object(object_id)
    annotation = doc.store.get(object_id, frame_idx)
    known = doc.store.known(object_id, frame_idx)
    if annotation is not None and known is None:
        soft = annotation.astype(np.float32)
    else:
        result = doc.result(frame_idx)
        if result is None or object_id not in result.object_ids:
            soft = None
        else:
            k = result.object_ids.index(object_id)
            labels = labels_from_probs(result.probs.astype(np.float32) / 255.0)
            soft = object_soft_matte(result.probs.astype(np.float32) / 255.0, labels, k)
        if known is not None:
            # Hint strokes: the model's matte where the artist did not paint.
            soft = np.zeros(known.shape, np.float32) if soft is None else soft.copy()
            soft[known] = annotation[known]
        if soft is None:
            return None
    settings = info.finish if info is not None else FinishSettings()
    if settings.edge_matting_px > 0:  # previewed as exported to a soft format
        key = matte_key(object_id, frame_idx, soft, settings)
        matted = doc.edge_mattes.get(key, soft, settings, doc.source.read(frame_idx))
        # Until the worker's matte arrives (edge_mattes.matte_ready), the network's own edge.
        return finish_matte(soft, settings, soft=True) if matted is None else matted
    return finish_matte(soft, settings)
