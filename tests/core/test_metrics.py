"""DAVIS metrics against hand-computed cases."""

import numpy as np
import pytest

from core.metrics import (
    boundary_f_measure,
    boundary_map,
    evaluate_sequence,
    region_similarity,
    statistics,
)


def square(size=40, top=10, left=10, side=10):
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_region_similarity_hand_computed():
    a = square(side=10)  # 100 px
    b = square(left=15, side=10)  # overlaps a in 10 x 5 = 50 px; union 150
    assert region_similarity(a, b) == pytest.approx(50 / 150)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(np.zeros((5, 5)), np.zeros((5, 5))) == 1.0
    assert region_similarity(a, np.zeros_like(a)) == 0.0


def test_boundary_map_of_a_square():
    mask = np.zeros((6, 6), bool)
    mask[2:4, 2:4] = True
    boundary = boundary_map(mask)
    # DAVIS marks pixels differing from their right/down/diagonal neighbour, on both sides.
    expected = np.zeros((6, 6), bool)
    expected[1, 1] = True  # its diagonal neighbour (2, 2) is object
    expected[1, 2:4] = True  # above the square
    expected[2:4, 1] = True  # left of the square
    expected[2:4, 2:4] = True  # object pixels with background to the right/below/diagonal...
    expected[2, 2] = False  # ...but (2, 2) has object right, below and diagonally
    assert np.array_equal(boundary, expected)


def test_boundary_f_identical_and_far_apart():
    a = square(size=200, top=50, left=50, side=60)
    assert boundary_f_measure(a, a) == 1.0
    far = square(size=200, top=120, left=120, side=60)  # 70 px away > tolerance ceil(0.008*283)=3
    assert boundary_f_measure(a, far) == 0.0
    empty = np.zeros_like(a)
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_f_measure(a, empty) == 0.0


def test_boundary_f_within_tolerance():
    a = square(size=200, top=50, left=50, side=60)
    shifted = square(size=200, top=52, left=52, side=60)  # 2 px shift, tolerance is 3 px
    assert boundary_f_measure(a, shifted) == pytest.approx(1.0)
    shifted_far = square(size=200, top=50, left=56, side=60)  # 6 px: vertical edges miss
    f = boundary_f_measure(a, shifted_far)
    assert 0.3 < f < 0.9


def test_statistics_recall_and_decay():
    stats = statistics([1.0, 1.0, 0.8, 0.8, 0.6, 0.6, 0.2, 0.2])
    assert stats.mean == pytest.approx(0.65)
    assert stats.recall == pytest.approx(6 / 8)
    assert stats.decay == pytest.approx(1.0 - 0.2)


def test_first_and_last_frames_are_excluded():
    gt = [square() for _ in range(5)]
    preds = [np.zeros((40, 40), bool)] + [square() for _ in range(3)] + [np.zeros((40, 40), bool)]
    score = evaluate_sequence("s", preds, gt)
    assert score.frames == 3
    assert score.J.mean == 1.0 and score.F.mean == 1.0 and score.JF == 1.0
