"""Mask guidance (issue #12): the deformation generator, the 4-channel network built from the
3-channel parent, the guided segmenters' order independence and the loss's ignore mask."""

import numpy as np
import pytest
import torch

from core.guidance import (
    DeformConfig,
    bounding_box,
    box_mask,
    deform_mask,
    training_guidance,
)
from core.model.build import build_model, is_guided_state, load_checkpoint, save_checkpoint
from core.model.losses import balanced_bce
from core.segmentation import FrameAnnotation, SegmentConfig
from core.shot.guided import PropagateSegmenter, RefineSegmenter, chain_chunks, span_order
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


def _ellipse(height=120, width=160):
    mask = np.zeros((height, width), bool)
    yy, xx = np.mgrid[:height, :width]
    mask[((yy - 60) / 30) ** 2 + ((xx - 80) / 45) ** 2 <= 1] = True
    return mask


def test_deformed_mask_is_a_rough_seeded_copy():
    mask = _ellipse()
    a = deform_mask(mask, np.random.default_rng(3))
    b = deform_mask(mask, np.random.default_rng(3))
    c = deform_mask(mask, np.random.default_rng(4))
    assert a.shape == mask.shape and a.dtype == np.float32
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.array_equal(a, c)
    # Rough, not arbitrary: it overlaps the object well but is not the object.
    assert 0.5 < iou(a > 0, mask) < 0.99
    # Shifts stay within the configured share of the object's box (+ dilation).
    x0, y0, x1, y1 = bounding_box(a > 0)
    bx0, by0, bx1, by1 = bounding_box(mask)
    slack = 0.3 * (bx1 - bx0) + 3
    assert abs(x0 - bx0) < slack and abs(x1 - bx1) < slack
    assert not deform_mask(np.zeros_like(mask), np.random.default_rng(0)).any()


def test_training_guidance_mixes_deformed_box_and_empty():
    mask = _ellipse()
    rng = np.random.default_rng(0)
    cfg = DeformConfig(empty_share=0.2, box_share=0.3)
    kinds = {"empty": 0, "box": 0, "deformed": 0}
    for _ in range(200):
        g = training_guidance(mask, rng, cfg)
        assert g.shape == mask.shape and g.min() >= 0 and g.max() <= 1
        if not g.any():
            kinds["empty"] += 1
        elif (g > 0).sum() == np.prod(
            np.subtract(bounding_box(g > 0)[2:], bounding_box(g > 0)[:2])
        ):
            kinds["box"] += 1
        else:
            kinds["deformed"] += 1
    assert 20 < kinds["empty"] < 60 and 40 < kinds["box"] < 90 and kinds["deformed"] > 70
    no_empty = [training_guidance(mask, rng, cfg, allow_empty=False).any() for _ in range(50)]
    assert all(no_empty)
    assert box_mask((10, 20, 30, 25), (40, 50)).sum() == 20 * 5


def test_guided_network_starts_as_the_plain_parent_and_saves_as_guided(tmp_path):
    plain, _ = build_model(weights="parent")
    guided, info = build_model(weights="parent")
    guided.make_guided()
    assert guided.guided and not plain.guided
    # Every shared layer keeps the parent's weights; the new channel starts at zero.
    stem = guided.stem_conv.weight
    assert stem.shape[1] == 4 and torch.equal(stem[:, :3], plain.stem_conv.weight)
    assert not stem[:, 3].any()
    image = torch.rand(1, 3, 64, 96) * 255
    guidance = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        expected = plain.eval()(plain.normalize(image)).logits
        got = guided.eval()(guided.normalize(image, guidance)).logits
    torch.testing.assert_close(got, expected)
    path = tmp_path / "guided.pt"
    save_checkpoint(guided, path)
    assert is_guided_state(load_checkpoint(path)["state_dict"])
    reloaded, _ = build_model(weights=path)
    assert reloaded.guided


@pytest.fixture(scope="module")
def guided_clip():
    """A synthetic clip and a guided network whose guidance channel has real weight, so the
    guidance changes the result (a chain of guidance would be invisible otherwise)."""
    frames, labels = make_clip(num_frames=9, height=64, width=96, seed=2)
    model, _ = build_model(weights="parent")
    model.make_guided()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        model.stem_conv.weight[:, 3] = torch.randn(
            model.stem_conv.weight[:, 3].shape, generator=generator
        )
    model.eval()
    annotations = {
        0: FrameAnnotation(labels[0][None] == 1, np.array([True])),
        6: FrameAnnotation(labels[6][None] == 1, np.array([True])),
    }
    return ArraySource(frames), model, annotations


def _all_probs(segmenter, order):
    return {f: segmenter.segment_frame(f).probs for f in order}


def test_propagate_is_the_same_whatever_order_spans_run_in(guided_clip):
    source, model, annotations = guided_clip
    config = SegmentConfig(temporal_gate_px=0)
    n = len(source)
    orders = [
        span_order(n, [0, 6], focus_idx=0),
        span_order(n, [0, 6], focus_idx=8),
        list(reversed(range(n))),
        [4, 2, 8, 1, 7, 3, 5, 0, 6],
    ]
    results = [
        _all_probs(PropagateSegmenter(model, source, annotations=annotations, config=config), o)
        for o in orders
    ]
    for other in results[1:]:
        for f in range(n):
            np.testing.assert_array_equal(other[f], results[0][f])
    # The guidance matters: the chain result differs from the order-free refine mode's.
    refine = RefineSegmenter(model, source, annotations=annotations, config=config)
    assert any(not np.allclose(refine.segment_frame(f).probs, results[0][f]) for f in (1, 2, 8))


def test_span_order_runs_each_chain_outward_from_its_keyframe():
    order = span_order(10, [2, 7], focus_idx=8)
    assert sorted(order) == list(range(10))
    # Frame 8 is in keyframe 7's forward chain: that chain comes first, from the keyframe out.
    assert order[:2] == [8, 9]
    chain_back_7 = [order.index(f) for f in (7, 6, 5)]
    assert chain_back_7 == sorted(chain_back_7)
    chain_back_2 = [order.index(f) for f in (2, 1, 0)]
    assert chain_back_2 == sorted(chain_back_2)


def test_ignore_mask_removes_pixels_from_the_loss():
    torch.manual_seed(0)
    logits = torch.randn(1, 1, 16, 16)
    target = (torch.rand(1, 1, 16, 16) > 0.5).float()
    known = torch.ones(1, 1, 16, 16)
    known[..., :, :8] = 0  # the left half is an uncertain band: no loss there
    base = balanced_bce(logits, target, known=known)
    changed = logits.clone()
    changed[..., :, :8] = torch.randn(1, 1, 16, 8) * 10
    assert torch.allclose(balanced_bce(changed, target, known=known), base)
    changed[..., :, 8:] += 3
    assert not torch.allclose(balanced_bce(changed, target, known=known), base)


def test_farm_tasks_in_propagate_mode_are_whole_chains():
    chunks = chain_chunks(list(range(10)), [2, 7])
    assert chunks == [(2, 1, 0), (3, 4), (7, 6, 5), (8, 9)]
    # a frame range keeps each chain's order from its keyframe
    assert chain_chunks([0, 1, 5, 6, 9], [2, 7]) == [(1, 0), (6, 5), (9,)]
