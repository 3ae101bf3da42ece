"""The engine alone (no window): signal order, Stop, surviving failures, and the same masks as
the CLI for the same annotations and preset."""

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject, Signal

from app.engine import Engine
from app.engine_thread import EngineThread
from core.annotations import AnnotationStore
from core.jobs import CancelToken
from core.shot.jobs import TrainJob
from core.shot.presets import Preset, recipe_for
from core.shot.samples import build_samples
from core.shot.segmenters import OsvosSegmenter
from core.video import open_frames
from tests.helpers import run_cli
from tests.synthetic import iou, write_mask

TIMEOUT_MS = 60_000
STEPS = 20


def short(preset):
    return recipe_for(preset).with_overrides(steps=STEPS, views_per_frame=3)


class Requests(QObject):
    """What the window sends the engine, as queued signals."""

    open_clip = Signal(str)
    train = Signal(object, object)


@pytest.fixture
def engine(qtbot, clip_folder):
    engine = Engine(device="cpu", weights="imagenet", recipes=short)
    thread = EngineThread(engine)
    requests = Requests()
    requests.open_clip.connect(engine.open_clip)
    requests.train.connect(engine.train)
    engine.requests = requests
    with qtbot.waitSignal(engine.model_ready, timeout=TIMEOUT_MS):
        requests.open_clip.emit(str(clip_folder[0]))
    yield engine
    thread.stop()


def job_for(folder, labels, object_ids=(1,), correction=False) -> TrainJob:
    """A Fast job with frame 0 painted for `object_ids` (object 2: a strip at the left edge)."""
    source = open_frames(folder)
    store = AnnotationStore(source.size)
    for object_id in object_ids:
        mask = labels[0] == 1 if object_id == 1 else np.zeros_like(labels[0], bool)
        if object_id != 1:
            mask[:, :8] = True
        store.set(object_id, 0, mask)
    samples, annotations = build_samples(store, source, object_ids)
    return TrainJob(
        samples, tuple(object_ids), annotations, Preset.FAST, store.fingerprint(), correction
    )


def test_training_then_segmenting_in_strict_order(qtbot, engine, clip_folder):
    folder, labels = clip_folder
    frames = []
    engine.frame_segmented.connect(lambda f, probs, ids, version: frames.append((f, version)))
    signals = [
        engine.training_started,
        engine.model_updated,  # the preview
        engine.frame_segmented,  # the visible frame, while the full fine-tune runs
        engine.model_updated,  # the complete model
        engine.training_finished,
    ]
    with qtbot.waitSignals(signals, order="strict", timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels), CancelToken())
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    final = [f for f, version in frames if version == 2]
    assert sorted(final) == list(range(10)) and engine.model_count == 1


def test_stop_keeps_the_last_complete_model_and_segments_with_it(qtbot, engine, clip_folder):
    """Stopped in the full fine-tune: the preview stays, and every frame is segmented by it."""
    folder, labels = clip_folder
    engine.recipes = lambda p: recipe_for(p).with_overrides(steps=3000, views_per_frame=3)
    cancel = CancelToken()
    engine.training_progress.connect(lambda p: cancel.cancel() if p.step > 40 else None)
    versions = []
    engine.frame_segmented.connect(lambda f, probs, ids, version: versions.append(version))
    finished = []
    engine.training_finished.connect(lambda *a: finished.append(a))
    with qtbot.waitSignals(
        [engine.training_cancelled, engine.segmentation_idle], order="strict", timeout=TIMEOUT_MS
    ):
        engine.requests.train.emit(job_for(folder, labels), cancel)
    assert not finished and set(versions) == {1} and len(versions) == 10


def test_a_failing_frame_is_reported_and_the_engine_keeps_working(
    qtbot, engine, clip_folder, monkeypatch
):
    folder, labels = clip_folder
    real = OsvosSegmenter.segment_frame

    def broken_on_frame_4(self, frame_idx):
        if frame_idx == 4:
            raise IndexError("index 1 is out of bounds for axis 0 with size 1")
        return real(self, frame_idx)

    monkeypatch.setattr(OsvosSegmenter, "segment_frame", broken_on_frame_4)
    errors, done = [], []
    engine.error.connect(errors.append)
    engine.frame_segmented.connect(lambda f, *_: done.append(f))
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels), CancelToken())
    assert len(errors) == 1 and "frame 5" in errors[0]  # once, with the artist's numbering
    assert 4 not in done and {0, 1, 2, 3, 5, 6, 7, 8, 9} <= set(done)
    monkeypatch.setattr(OsvosSegmenter, "segment_frame", real)
    done.clear()
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels, correction=True), CancelToken())
    assert sorted(set(done)) == list(range(10))  # the next request works


def test_an_object_added_while_results_stream_gets_its_own_channel(qtbot, engine, clip_folder):
    """The dead end of an object added mid-stream: results keep coming, with both objects."""
    folder, labels = clip_folder
    channels, errors = [], []
    engine.error.connect(errors.append)
    engine.frame_segmented.connect(lambda f, probs, ids, v: channels.append((probs.shape[0], ids)))
    with qtbot.waitSignal(engine.training_finished, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels), CancelToken())
    qtbot.waitUntil(lambda: len(channels) >= 3, timeout=TIMEOUT_MS)
    # a second object painted while the first model's results are still streaming
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels, (1, 2), correction=True), CancelToken())
    assert not errors
    assert all(k == len(ids) for k, ids in channels)  # every result matches its object ids
    assert channels[-1] == (2, (1, 2))


def test_the_cli_and_the_app_engine_give_the_same_masks(
    qtbot, engine, clip_folder, tmp_path, capsys
):
    """One core pipeline: `main.py segment` and the engine, same annotation and preset."""
    folder, labels = clip_folder
    engine.recipes = lambda p: recipe_for(p).with_overrides(steps=STEPS)  # as --steps does
    results = {}
    engine.frame_segmented.connect(
        lambda f, probs, ids, version: results.__setitem__(f, (probs, version))
    )
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels), CancelToken())
    final_version = max(v for _, v in results.values())
    app_masks = {f: probs[0] > 127 for f, (probs, v) in results.items() if v == final_version}
    assert len(app_masks) == 10

    mask = write_mask(tmp_path / "mask.png", (labels[0] == 1).astype(np.uint8) * 255)
    out = tmp_path / "out"
    threads = torch.get_num_threads()
    try:
        code, _, err = run_cli(
            ["--threads", str(threads), "segment", str(folder), "--annotation", f"0:{mask}"]
            + ["--out", str(out), "--weights", "imagenet", "--device", "cpu"]
            + ["--quality", "0", "--steps", str(STEPS)],
            capsys,
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    for f, app_mask in app_masks.items():
        cli_mask = cv2.imread(str(out / f"frame_{f:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
        assert iou(cli_mask, app_mask) > 0.999, f


def test_best_streams_the_first_model_while_the_second_trains(
    qtbot, engine, clip_folder, monkeypatch
):
    import dataclasses

    folder, labels = clip_folder
    monkeypatch.setattr("app.engine.STREAM_WHILE_TRAINING_S", 0.05)  # a tiny clip trains fast

    def quick_then_slow(preset):
        recipe = short(preset)
        members = (recipe.members[0], dataclasses.replace(recipe.members[1], steps=300))
        return dataclasses.replace(recipe, members=members)

    engine.recipes = quick_then_slow
    events = []
    engine.frame_segmented.connect(lambda f, probs, ids, version: events.append(("frame", version)))
    engine.model_updated.connect(lambda v, fp, final: events.append(("model", v)))
    engine.training_finished.connect(lambda v, fp: events.append(("finished", v)))
    job = dataclasses.replace(job_for(folder, labels), preset=Preset.BEST)
    with qtbot.waitSignal(engine.training_finished, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job, CancelToken())
    before_final = events[: events.index(("model", 3))]
    # the Balanced model (version 2) segmented most of the clip while the second model trained
    assert sum(1 for e in before_final if e == ("frame", 2)) >= 5


def test_the_engine_prices_work_at_the_pace_it_measures_here(qtbot, engine, clip_folder):
    """The panel's estimates start from the dev machine's unit costs: the warm-up's timed pass,
    each training run and each pass over the frames set this machine's pace (core.shot.plan)."""
    folder, labels = clip_folder
    at_open = engine._session.costs.pace
    assert at_open.frames > 0 and at_open.train is None  # the warm-up's timed inference
    reported = []
    engine.costs_measured.connect(reported.append)
    with qtbot.waitSignal(engine.training_finished, timeout=TIMEOUT_MS):
        engine.requests.train.emit(job_for(folder, labels), CancelToken())
    assert reported[-1].pace.train > 0
    with qtbot.waitSignal(engine.segmentation_idle, timeout=TIMEOUT_MS):
        pass
    assert reported[-1].pace.frames != at_open.frames  # the pass's frames are counted
