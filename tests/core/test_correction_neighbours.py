"""A correction teaches the frames around it (core.correction_neighbours): the painted pixels
move with the optical flow to the neighbouring frames and train there, with less weight."""

import cv2
import numpy as np

from core.annotations import AnnotationStore
from core.correction_neighbours import (
    NEIGHBOUR_RADIUS,
    NEIGHBOUR_VIEWS,
    NEIGHBOUR_WEIGHT,
    NeighbourSamples,
    carried,
    neighbour_samples,
)
from core.corrections import Correction
from core.resolution import WorkingResolution
from core.shot.samples import build_samples
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


def _texture(height, width, seed=0):
    noise = np.random.default_rng(seed).random((height // 4, width // 4)).astype(np.float32)
    return (
        (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) * 255)
        .clip(0, 255)
        .astype(np.uint8)
    )


def test_painted_regions_move_with_the_picture():
    frame = _texture(120, 160)
    moved_frame = np.roll(frame, (3, 5), axis=(0, 1))  # the picture moves 5 right, 3 down
    region = np.zeros((1, 120, 160), bool)
    region[0, 40:80, 50:100] = True
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    out = carried(region, frame, moved_frame, dis)
    expected = np.roll(region[0], (3, 5), axis=(0, 1))
    assert out.shape == (1, 120, 160)
    assert iou(out[0], expected) > 0.8
    assert not (out[0] & ~expected).any() or (out[0] & ~expected).sum() < 0.02 * out[0].sum()


def test_neighbours_of_a_correction_become_weighted_samples():
    frames, labels = make_clip(num_frames=8, height=96, width=128, seed=3)
    source = ArraySource(frames)
    working = WorkingResolution.for_source((128, 96))
    store = AnnotationStore((128, 96))
    store.set(1, 0, labels[0] == 1)
    truth = labels[4] == 1
    painted = np.zeros_like(truth)
    painted[:, :64] = True  # the artist painted the left half (object and background)
    store.set(1, 4, truth, correction=Correction(painted, np.zeros_like(truth)))
    samples = neighbour_samples(store, source, [1], working, store.frames())
    targets = sorted(int(s.key.split(":")[1]) for s in samples)
    assert targets == [f for f in range(4 - NEIGHBOUR_RADIUS, 5 + NEIGHBOUR_RADIUS) if f != 4]
    for sample in samples:
        target = int(sample.key.split(":")[1])
        assert sample.views == NEIGHBOUR_VIEWS and sample.weighted and sample.valid.tolist() == [1]
        weight = NEIGHBOUR_WEIGHT / 2 ** (abs(target - 4) - 1)
        assert set(np.unique(sample.known)) <= {0.0, np.float32(weight)}
        labelled = sample.known[0] > 0
        # Only where the artist painted (the left half, as it moved), and right there.
        assert labelled[:, 80:].sum() == 0 and labelled.sum() > 500
        agree = (sample.masks[0] == (labels[target] == 1))[labelled].mean()
        # Better than the painted pixels left where they were on the corrected frame.
        still = (truth == (labels[target] == 1))[painted].mean()
        assert agree > 0.9 and agree > still, (target, agree, still)

    # build_samples adds them after the keyframes (and leaves them out when asked).
    kept = NeighbourSamples()
    with_neighbours, annotations = build_samples(
        store, source, [1], working=working, neighbours=kept
    )
    without, _ = build_samples(store, source, [1], working=working)
    assert len(with_neighbours) == len(without) + len(samples) and sorted(annotations) == [0, 4]
    assert all(s.auxiliary for s in with_neighbours[len(without) :])
    again = kept.for_store(store, source, [1], working, store.frames())
    assert all(a is b for a, b in zip(again, with_neighbours[len(without) :], strict=True))
    # A plain keyframe teaches no neighbours.
    store.set(1, 4, truth)
    assert neighbour_samples(store, source, [1], working, store.frames()) == []
