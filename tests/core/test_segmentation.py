"""Segmentation in any order gives the same results; priorities spread from the focus frame."""

import numpy as np
import pytest

from core.model.build import build_model
from core.segmentation import (
    FrameAnnotation,
    SegmentConfig,
    labels_from_probs,
    priority_order,
    segment,
)
from core.training import FineTuneConfig, TrainingSample, fine_tune, run_to_end
from tests.helpers import ArraySource
from tests.synthetic import make_clip


@pytest.fixture(scope="module")
def trained():
    frames, labels = make_clip(num_frames=8, height=96, width=128, seed=2)
    model, _ = build_model(weights="imagenet")
    mask = labels[0:1] == 1
    run_to_end(
        fine_tune(
            model,
            [TrainingSample(frames[0], mask, np.ones(1, bool))],
            FineTuneConfig(steps=60, views_per_frame=4),
        )
    )
    return model, frames, {0: FrameAnnotation(mask, np.ones(1, bool))}


@pytest.mark.parametrize("gate", [0, 20])
def test_out_of_order_equals_in_order(trained, gate):
    model, frames, annotations = trained
    config = SegmentConfig(temporal_gate_px=gate)
    in_order = {
        r.frame_idx: r
        for r in segment(
            model, ArraySource(frames), range(8), annotations=annotations, config=config
        )
    }
    shuffled = [5, 2, 7, 0, 3, 6, 1, 4]
    out_of_order = {
        r.frame_idx: r
        for r in segment(
            model, ArraySource(frames), shuffled, annotations=annotations, config=config
        )
    }
    for i in range(8):
        assert np.array_equal(in_order[i].labels, out_of_order[i].labels)
        np.testing.assert_allclose(in_order[i].probs, out_of_order[i].probs, atol=1e-6)


def test_annotated_frame_returns_the_annotation(trained):
    model, frames, annotations = trained
    result = next(segment(model, ArraySource(frames), [0], annotations=annotations))
    assert result.annotated
    assert np.array_equal(result.labels == 1, annotations[0].masks[0])


def test_gate_removes_far_distractor(trained):
    model, frames, annotations = trained
    # Paint a copy of the object far away on frame 1: the gate should drop it, no gate keeps it.
    frames = frames.copy()
    obj = annotations[0].masks[0]
    ys, xs = np.nonzero(obj)
    patch = frames[0][ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = patch.shape[:2]
    frames[1][96 - h :, 128 - w :] = patch  # bottom-right corner, ~50 px from the object
    source = ArraySource(frames)
    no_gate = next(
        segment(
            model, source, [1], annotations=annotations, config=SegmentConfig(temporal_gate_px=0)
        )
    )
    gated = next(
        segment(
            model, source, [1], annotations=annotations, config=SegmentConfig(temporal_gate_px=10)
        )
    )
    region = (slice(96 - h, 96), slice(128 - w, 128))
    assert (no_gate.labels[region] == 1).sum() > 50
    assert (gated.labels[region] == 1).sum() < (no_gate.labels[region] == 1).sum() * 0.2


def test_priority_order_spreads_from_focus():
    assert priority_order(6, 2) == [2, 3, 1, 4, 0, 5]
    assert sorted(priority_order(10, 9)) == list(range(10))
    assert priority_order(3, 0) == [0, 1, 2]


def test_labels_from_probs_argmax_with_threshold():
    probs = np.array([[[0.9, 0.2, 0.6]], [[0.1, 0.3, 0.8]]], np.float32)
    assert labels_from_probs(probs).tolist() == [[1, 0, 2]]


def test_test_time_augmentation_averages_mirror_and_scales(trained):
    """Mirror + multi-scale passes give full-size probabilities that agree with one pass."""
    from core.segmentation import Segmenter
    from tests.synthetic import iou

    model, frames, _ = trained
    plain = Segmenter(model, ArraySource(frames)).segment_frame(5)
    config = SegmentConfig(scales=(0.75, 1.0, 1.25), flip=True)
    tta = Segmenter(model, ArraySource(frames), config=config).segment_frame(5)
    assert tta.probs.shape == plain.probs.shape == (1, 96, 128)
    assert tta.probs.min() >= 0.0 and tta.probs.max() <= 1.0
    assert not np.allclose(tta.probs, plain.probs)  # the extra passes did contribute
    assert iou(tta.labels == 1, plain.labels == 1) > 0.85
