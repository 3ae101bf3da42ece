"""The compute engine: a thin Qt adapter around one core.shot.session.ShotSession, living in one
QThread, the only code that touches torch.

Requests come in as queued signals carrying plain jobs (core.shot.jobs) with their CancelToken
beside them (a threading.Event set from the UI thread: a queued cancel would wait behind the busy
slot); results go out as signals carrying numpy arrays. What a preset trains, in which order, and
what a run costs are the session's business (core.shot), not this module's.

Segmentation runs one frame per event-loop turn, in the segmenter's own order from the focus
frame, which the UI updates directly (`set_focus`, thread-safe), so scrubbing re-prioritises at
once. Any exception in a job is logged, reported through `error` (or the job's failed signal),
and leaves the engine ready for the next request.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from core.cpu_load import OtherProcessesLoad, threads_for
from core.errors import RotoshotError
from core.export_job import ExportJob, run_export_job
from core.jobs import Cancelled, CancelToken
from core.resolution import DEFAULT_WORKING_LONG_SIDE
from core.shot.jobs import TrainJob
from core.shot.plan import StepKind
from core.shot.presets import Preset, Recipe, recipe_for
from core.shot.segmenters import GUIDED_MODES, MODES, CachedResults, load_parents
from core.shot.session import ShotModel, ShotSession
from core.video import open_frames

log = logging.getLogger(__name__)

# The engine reads each frame about once per model (the view keeps its own cache).
ENGINE_FRAME_CACHE_BYTES = 64 << 20
# While a later model of the run trains (Best's second), one frame of the complete model that is
# already published is segmented after every this many seconds of training, so results keep
# streaming in; the training takes that much longer.
STREAM_WHILE_TRAINING_S = 1.0


def _never_raises(slot: Callable) -> Callable:
    """Wrap an engine slot: an unexpected exception is logged with its traceback, reported once
    through `error`, and the engine's segmentation state is reset, so the next request works.
    A retired engine (its thread ended, `Engine.retire`) ignores every request."""

    @functools.wraps(slot)
    def wrapper(self: Engine, *args):
        if self._retired:
            return None  # the engine thread has ended: no torch work on the UI thread
        try:
            return slot(self, *args)
        except Exception as exc:  # noqa: BLE001 - the engine thread must survive any job
            log.error("%s failed:\n%s", slot.__name__, traceback.format_exc())
            self._segmenting = False
            self.error.emit(
                f"{exc}" if isinstance(exc, RotoshotError) else f"internal error: {exc}"
            )

    return wrapper


class Engine(QObject):
    """Owns the shot session (network, models, device, engine-side FrameSource)."""

    model_ready = Signal(str, str)  # the parent is loaded: source ("parent"/"imagenet"), warning
    training_started = Signal()
    training_progress = Signal(object)  # TrainProgress, counted over the whole run
    model_updated = Signal(int, str, bool)  # model version, fingerprint, final (not a preview)
    model_restored = Signal(int, str)  # model version, fingerprint of a model read from disk
    training_finished = Signal(int, str)  # model version, fingerprint
    online_finished = Signal(int, str)  # the same, after online rounds (learn_online)
    training_cancelled = Signal()
    training_failed = Signal(str)
    costs_measured = Signal(object)  # core.shot.plan.CostModel (a copy): estimates for the panel
    frame_segmented = Signal(int, object, object, int)  # frame, probs (K,H,W) uint8, ids, version
    segmentation_idle = Signal()
    export_progress = Signal(int, int)
    export_finished = Signal(str)
    export_failed = Signal(str)
    box_mask_ready = Signal(int, int, object, str)  # frame, object id, mask (H, W) bool, how
    error = Signal(str)
    _segment_more = Signal()  # queued to itself: one frame per event-loop turn

    def __init__(
        self,
        *,
        device: str = "auto",
        weights: str = "parent",
        recipes: Callable[[Preset], Recipe] = recipe_for,
        max_threads: int = 0,
    ) -> None:
        """max_threads > 0: use up to that many torch threads, fewer while other processes keep
        cores busy (core.cpu_load); 0 leaves the count main.py set alone (e.g. `--threads N`)."""
        super().__init__()
        self._segment_more.connect(self._segment_next, Qt.QueuedConnection)
        self._device_choice = device
        self._weights = weights
        self.recipes = recipes  # read-only after construction: the UI thread estimates with it
        self._focus_lock = threading.Lock()
        self._focus = 0
        self._range: tuple[int, int] | None = None  # (first, last) to segment; None: all
        self._session: ShotSession | None = None
        self._done: set[int] = set()
        self._segmenting = False
        self._retired = False
        self._box_network = None  # the guided parent for box prompts in the plain mode
        self._failed_version = -1  # the model version whose segmentation error was reported
        self.device_name = "cpu"
        # main.py sets the process's thread count; the engine only lowers it within that while
        # the machine is shared (the one place besides main.py that touches it, and why).
        self._max_threads = max_threads
        self._load = OtherProcessesLoad() if max_threads > 0 else None

    @property
    def model_count(self) -> int:
        """How many networks the shot's results average (2 at Best; 0 before a model)."""
        model = self._session.model if self._session is not None else None
        return 0 if model is None else len(model.networks)

    # Called from the UI thread: plain attribute under a lock, no queued signal needed.
    def set_focus(self, frame_idx: int) -> None:
        with self._focus_lock:
            self._focus = frame_idx

    def _focus_frame(self) -> int:
        with self._focus_lock:
            return self._focus

    # Called from the UI thread, like set_focus.
    def set_range(self, first: int, last: int) -> None:
        """Segment only frames first..last (inclusive): the artist's in/out range."""
        with self._focus_lock:
            self._range = (int(first), int(last))

    def _in_range(self, frame_idx: int) -> bool:
        with self._focus_lock:
            return self._range is None or self._range[0] <= frame_idx <= self._range[1]

    @Slot(str, int, str, str, object)
    @_never_raises
    def open_clip(
        self,
        path: str,
        working_long_side: int = DEFAULT_WORKING_LONG_SIDE,
        input_space: str = "",
        mode: str = "osvos",
        roi: tuple[int, int, int, int] | None = None,
    ) -> None:
        """Open the clip on the engine side with an untrained parent network, working at
        `working_long_side` px (core.resolution) in the region `roi` (core.roi; None = the whole
        frame); a plate in `input_space` ("" = guessed);
        segmenting in `mode` (core.shot.segmenters.MODES; a guided mode takes the guided
        parent, or adds an untrained guidance channel to other weights)."""
        from core.device import resolve_device

        self._segmenting = False
        if self._session is not None:
            self._session.source.close()
            self._session = None
        try:
            source = open_frames(
                path, cache_bytes=ENGINE_FRAME_CACHE_BYTES, input_space=input_space or None
            )
            device = resolve_device(self._device_choice)
            self.device_name = device.type
            if mode not in MODES:  # a hand-edited project: open it, in the plain mode
                self.error.emit(f"unknown segmentation mode {mode!r}; using {MODES[0]}")
                mode = MODES[0]
            parent, info, parents = load_parents(mode, self._weights)
            if mode in GUIDED_MODES:
                parent.make_guided()  # a no-op for the guided parent
            parent.to(device)
            for network in parents.values():
                network.to(device)
        except RotoshotError as exc:
            self.error.emit(str(exc))
            return
        # Looked up at each run, so a test (or a later settings change) can swap the recipes.
        try:
            self._session = ShotSession(
                source,
                parent,
                info,
                recipes=lambda p: self.recipes(p),
                working_long_side=working_long_side,
                roi=roi,
                mode=mode,
                parents=parents,
            )
        except RotoshotError as exc:  # a region that does not fit the clip
            source.close()
            self.error.emit(str(exc))
            return
        self._done = set()
        self._warm_up()
        self.costs_measured.emit(copy.deepcopy(self._session.costs))
        self.model_ready.emit(info.source, info.warning)

    def _warm_up(self) -> None:
        """Inference with each parent and one head backward pass at the clip's working size,
        before the artist paints: the first pass at a new size pays oneDNN's one-off set-up,
        which would otherwise land in the first overlay's time; the timed passes after it give
        the cost estimates this machine's pace (ShotSession.measure_inference). No weights
        change."""
        import torch

        parent = self._session.parent
        image = self._session.working.image(self._session.source.read(0))
        self._session.measure_inference(image)
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float()
        x = parent.normalize(x.to(next(parent.parameters()).device))
        with torch.no_grad():
            feats = parent.backbone(x)
        params = list(parent.head.parameters())
        for p in params:
            p.requires_grad_(True)
        parent.head([None, *feats[1:]], None, refine=False).logits.mean().backward()
        for p in params:
            p.requires_grad_(False)
            p.grad = None

    @Slot(str, object, object, str)
    @_never_raises
    def restore_model(self, path: str, object_ids, annotations, fingerprint: str) -> None:
        """Make a saved model current (project reopen); `model_restored` says its version."""
        if self._session is None:
            return
        try:
            model = self._session.restore_model(
                path,
                object_ids=tuple(object_ids),
                annotations=dict(annotations),
                fingerprint=fingerprint,
            )
        except RotoshotError as exc:
            self.error.emit(f"{exc}; the model starts again from the parent network")
            return
        self._done = set()
        self.model_restored.emit(model.version, model.fingerprint)

    @Slot(str)
    @_never_raises
    def save_weights(self, path: str) -> None:
        if self._session is not None:
            self._session.save_model(path)

    @Slot(object, object)
    def train(self, job: TrainJob, cancel: CancelToken) -> None:
        """Run a training job; each complete model replaces the current one as it arrives (a
        preview first), then segmentation restarts from the focus frame. Stopping keeps the last
        complete model and goes on segmenting with it."""
        if self._session is None:
            self.training_failed.emit("no clip is open")
            return
        self._run_training(self._session.train(job, cancel=cancel), self.training_finished)

    @Slot(object, int, object)
    def learn_online(self, job: TrainJob, rounds: int, cancel: CancelToken) -> None:
        """Iterative online fine-tuning (core.shot.online) on the current model, which learnt
        `job`: `rounds` rounds, each publishing an updated model; `online_finished` at the end.
        Cancelled like training (a correction cancels it: the artist's paint wins)."""
        from core.shot.online import OnlineConfig, online_rounds

        if self._session is None or self._session.model is None:
            self.training_failed.emit("train a model before it learns from the shot")
            return
        events = online_rounds(self._session, job, OnlineConfig(rounds=rounds), cancel=cancel)
        self._run_training(events, self.online_finished)

    def _run_training(self, events, finished: Signal) -> None:
        """Publish the models and progress a training generator yields; `finished` (version,
        fingerprint) when it ends, then segmentation restarts."""
        self._fit_threads_to_load()
        self.training_started.emit()
        streaming, last_frame = False, 0.0
        try:
            for event in events:
                if isinstance(event, ShotModel):
                    self._model_published(event)
                    # a complete model while another trains: keep its results coming
                    streaming = not event.final and event.kind is not StepKind.PREVIEW
                    last_frame = time.perf_counter()
                    continue
                self.training_progress.emit(event)
                if streaming and time.perf_counter() - last_frame > STREAM_WHILE_TRAINING_S:
                    self._segment_focus_frame()
                    last_frame = time.perf_counter()
        except Cancelled:
            self.training_cancelled.emit()
            self.start_segmentation()
            return
        except RotoshotError as exc:
            self.training_failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - report, never kill the engine thread
            log.error("training failed:\n%s", traceback.format_exc())
            self.training_failed.emit(f"training failed: {exc}")
            return
        finally:
            self.costs_measured.emit(copy.deepcopy(self._session.costs))
        model = self._session.model
        finished.emit(model.version, model.fingerprint)
        self.start_segmentation()

    def _fit_threads_to_load(self) -> None:
        """Use the cores other processes leave free (see core.cpu_load for why)."""
        if self._load is None:
            return
        others = self._load.sample()
        if others is None:
            return
        import torch

        wanted = threads_for(self._max_threads, others)
        if wanted != torch.get_num_threads():
            log.info("other processes use %.1f cores: %d torch thread(s)", others, wanted)
            torch.set_num_threads(wanted)

    def _model_published(self, model: ShotModel) -> None:
        self._done = set()
        self.model_updated.emit(model.version, model.fingerprint, model.final)
        if not model.final:
            self._segment_focus_frame()  # the preview's first result while training goes on

    def _segment_focus_frame(self) -> None:
        frame_idx = self._next_frame()
        if frame_idx is not None:
            self._segment_one(frame_idx)

    @Slot()
    def start_segmentation(self) -> None:
        """Segment every frame not done for the current model, nearest the focus first."""
        if self._segmenting or self._session is None or self._session.model is None:
            return
        self._segmenting = True
        self._segment_more.emit()

    @Slot(object, int)
    def mark_done(self, frames, version: int) -> None:
        """Frames whose results of model `version` the UI already has (restored from disk)."""
        if self._model_version() == version:
            self._done.update(int(f) for f in frames)

    @Slot(object, int)
    def mark_lost(self, frames, version: int) -> None:
        """Restored frames whose results could not be read back after all: segmented again."""
        if self._model_version() == version:
            self._done.difference_update(int(f) for f in frames)
            self.start_segmentation()

    def _model_version(self) -> int | None:
        model = self._session.model if self._session is not None else None
        return None if model is None else model.version

    def _next_frame(self) -> int | None:
        """The first frame not yet done in the segmenter's order from the focus frame."""
        segmenter = self._session.segmenter() if self._session is not None else None
        if segmenter is None:
            return None
        order = segmenter.schedule(len(self._session.source), self._focus_frame())
        return next((f for f in order if f not in self._done and self._in_range(f)), None)

    @Slot()
    @_never_raises
    def _segment_next(self) -> None:
        if not self._segmenting:
            return
        frame_idx = self._next_frame()
        if frame_idx is None:
            self._segmenting = False
            self.costs_measured.emit(copy.deepcopy(self._session.costs))  # the frames' pace
            self.segmentation_idle.emit()
            return
        self._fit_threads_to_load()  # a no-op until enough time has passed to measure
        self._segment_one(frame_idx)
        self._segment_more.emit()

    def _segment_one(self, frame_idx: int) -> None:
        model = self._session.model
        self._done.add(frame_idx)  # a frame that fails is not retried for this model
        try:
            started = time.perf_counter()
            result = self._session.segmenter().segment_frame(frame_idx)
            self._session.observe_frame(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the others
            if isinstance(exc, RotoshotError):
                message = str(exc)
            else:
                log.error("segmenting frame %d failed:\n%s", frame_idx, traceback.format_exc())
                message = f"cannot segment frame {frame_idx + 1}: {exc}"
            if self._failed_version != model.version:
                self._failed_version = model.version
                self.error.emit(message)
            return
        # floor(p * 255.999): p > 0.5 <=> u8 > 127 for every float16-cached probability,
        # so the viewer's masks equal the exported ones (rounding maps 0.5 itself to 128).
        probs_u8 = np.floor(result.probs * 255.999).astype(np.uint8)
        self.frame_segmented.emit(frame_idx, probs_u8, model.object_ids, model.version)

    @Slot(object, object)
    def export(self, job: ExportJob, cancel: CancelToken) -> None:
        """Run an export job, segmenting with the current model on the way."""
        model = self._session.model if self._session is not None else None
        if model is None:
            self.export_failed.emit("train a model before exporting")
            return
        try:
            source = self._session.source
            segmenter = self._session.segmenter()
            if job.cached_frames and job.model_version == model.version:
                segmenter = CachedResults(segmenter, job.project_folder, job.cached_frames)
            for done, total in run_export_job(
                job, segmenter, source.stems, list(model.object_ids), cancel=cancel
            ):
                self.export_progress.emit(done, total)
            self.export_finished.emit(job.folder)
        except Cancelled:
            self.export_failed.emit("export cancelled")
        except (RotoshotError, OSError) as exc:
            self.export_failed.emit(f"export stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - report, never kill the engine thread
            log.error("export failed:\n%s", traceback.format_exc())
            self.export_failed.emit(f"export failed: {exc}")

    @Slot(int, int, object)
    @_never_raises
    def box_mask(self, frame_idx: int, object_id: int, box) -> None:
        """A first mask of the object in `box` (x0, y0, x1, y1) on a frame, by the mask-guided
        network (core.box_prompt): the session's own in a guided mode, else the guided parent
        (loaded once)."""
        from core.box_prompt import box_network, box_to_mask, check_box

        session = self._session
        if session is None:
            return
        network = session.parent
        if not network.guided:
            if self._box_network is None:  # loaded once, kept for the plain mode's clips
                self._box_network, warning = box_network(network)
                if warning:
                    self.error.emit(warning)
            network = self._box_network
        box = check_box(box, session.source.size)
        mask, how = box_to_mask(network, session.source, frame_idx, box, working=session.working)
        self.box_mask_ready.emit(frame_idx, object_id, mask, how)

    @Slot()
    def retire(self) -> None:
        """The engine thread's last event: drop events still queued to the engine (a pending
        `_segment_more` turn), hand the object to the application's thread and end the loop.

        Qt forbids deleting a QObject from another thread than its own while events for it may
        be pending, and Python frees the engine from the UI thread (whenever the window is
        collected): without this the suite crashed with SIGSEGV in a later event loop turn."""
        self._retired = True
        self._segmenting = False
        QCoreApplication.removePostedEvents(self)
        self.moveToThread(QCoreApplication.instance().thread())
        QThread.currentThread().quit()
