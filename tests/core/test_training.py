"""Fine-tuning on a synthetic clip: loss falls, unseen frames are segmented, cancel is prompt."""

import dataclasses
import time

import numpy as np
import pytest

from core.errors import RotoshotError
from core.jobs import Cancelled, CancelToken
from core.model.build import build_model
from core.segmentation import Segmenter
from core.shot.presets import Preset, recipe_for
from core.training import FineTuneConfig, TrainingSample, fine_tune, run_to_end
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=10, height=96, width=128, seed=1)


def _sample(frames, labels, idx, num_objects=1):
    masks = np.stack([labels[idx] == k + 1 for k in range(num_objects)])
    return TrainingSample(frames[idx], masks, np.ones(num_objects, bool))


def test_fine_tune_lowers_loss_and_segments_unseen_frames(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    config = FineTuneConfig(steps=120, trainable="head", views_per_frame=6)
    progress = run_to_end(fine_tune(model, [_sample(frames, labels, 0)], config))
    assert len(progress) == 120
    first, last = (
        np.mean([p.loss for p in progress[:10]]),
        np.mean([p.loss for p in progress[-10:]]),
    )
    assert last < 0.6 * first
    segmenter = Segmenter(model, ArraySource(frames))
    ious = [iou(segmenter.segment_frame(i).labels == 1, labels[i] == 1) for i in range(1, 10)]
    assert min(ious) >= 0.8, ious


def test_progress_has_eta_and_elapsed(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    progress = run_to_end(
        fine_tune(model, [_sample(frames, labels, 0)], FineTuneConfig(steps=5, views_per_frame=2))
    )
    assert [p.step for p in progress] == [1, 2, 3, 4, 5]
    assert all(p.total_steps == 5 for p in progress)
    assert progress[-1].eta_s == 0.0
    assert progress[0].eta_s > 0
    assert progress[-1].elapsed_s >= progress[0].elapsed_s


def test_cancel_stops_within_one_step_and_keeps_weights(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    token = CancelToken()
    generator = fine_tune(
        model,
        [_sample(frames, labels, 0)],
        FineTuneConfig(steps=1000, views_per_frame=2),
        cancel=token,
    )
    seen = 0
    with pytest.raises(Cancelled):
        for progress in generator:
            if progress.phase == "training":
                seen += 1
                if seen == 3:
                    token.cancel()
                    before = {k: v.clone() for k, v in model.head.state_dict().items()}
    assert seen == 3  # no further step ran after the cancel
    after = model.head.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_deep_and_all_modes_train(clip):
    frames, labels = clip
    for trainable in ("deep", "all"):
        model, _ = build_model(weights="imagenet")
        backbone_before = model.backbone.stages[4][0]._project_conv.weight.clone()
        progress = run_to_end(
            fine_tune(
                model,
                [_sample(frames, labels, 0)],
                FineTuneConfig(steps=4, trainable=trainable, views_per_frame=2),
            )
        )
        assert len(progress) == 4 and np.isfinite(progress[-1].loss)
        assert not model.backbone.stages[4][0]._project_conv.weight.equal(backbone_before)
        assert model.backbone.stages[0][0].bn.training is False  # BatchNorm statistics stay frozen


def test_continues_from_current_weights(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    first = run_to_end(
        fine_tune(model, [_sample(frames, labels, 0)], FineTuneConfig(steps=60, views_per_frame=4))
    )
    second = run_to_end(
        fine_tune(
            model,
            [_sample(frames, labels, 0), _sample(frames, labels, 9)],
            FineTuneConfig(steps=5, views_per_frame=4, seed=1),
        )
    )
    assert second[0].loss < first[0].loss  # did not restart from the parent


def test_multi_object_channels(clip):
    frames, labels = make_clip(num_frames=6, num_objects=2, seed=3)
    model, _ = build_model(weights="imagenet")
    run_to_end(
        fine_tune(
            model,
            [_sample(frames, labels, 0, num_objects=2)],
            # deep: the stride-2 refinement trains too, which these small objects need
            FineTuneConfig(steps=120, views_per_frame=6, trainable="deep"),
        )
    )
    assert model.num_objects == 2
    result = Segmenter(model, ArraySource(frames)).segment_frame(4)
    assert result.probs.shape == (2, 96, 128)
    assert iou(result.labels == 1, labels[4] == 1) > 0.7
    assert iou(result.labels == 2, labels[4] == 2) > 0.7


def test_empty_annotations_are_refused(clip):
    frames, _ = clip
    model, _ = build_model(weights="imagenet")
    empty = TrainingSample(frames[0], np.zeros((1, 96, 128), bool), np.ones(1, bool))
    with pytest.raises(RotoshotError, match="empty"):
        run_to_end(fine_tune(model, [empty]))
    with pytest.raises(RotoshotError, match="no annotated frames"):
        run_to_end(fine_tune(model, []))


def test_time_budget_stops_training(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    started = time.perf_counter()
    progress = run_to_end(
        fine_tune(
            model,
            [_sample(frames, labels, 0)],
            FineTuneConfig(steps=100000, views_per_frame=2, max_seconds=1.0),
        )
    )
    assert time.perf_counter() - started < 10
    assert progress[-1].eta_s == 0.0 and len(progress) < 100000


def test_feature_cache_encodes_only_new_frames(clip):
    from core.training import FeatureCache

    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    cache = FeatureCache()
    a = TrainingSample(frames[0], labels[0:1] == 1, np.ones(1, bool), key="f0")
    b = TrainingSample(frames[5], labels[5:6] == 1, np.ones(1, bool), key="f5")
    config = FineTuneConfig(steps=2, views_per_frame=3)
    first = list(fine_tune(model, [a], config, feature_cache=cache))
    second = list(fine_tune(model, [a, b], config, feature_cache=cache))
    assert sum(p.phase == "preparing" for p in first) == 3
    assert sum(p.phase == "preparing" for p in second) == 3  # only frame 5 was encoded
    assert len(cache) == 6
    more = list(
        fine_tune(
            model, [a, b], dataclasses.replace(config, views_per_frame=5), feature_cache=cache
        )
    )
    assert sum(p.phase == "preparing" for p in more) == 4  # only the two missing views of each
    fewer = list(
        fine_tune(
            model, [a, b], dataclasses.replace(config, views_per_frame=2), feature_cache=cache
        )
    )
    assert sum(p.phase == "preparing" for p in fewer) == 0  # the first two of each, kept


def test_focused_views_get_their_share_of_steps():
    from core.training_views import ViewOrder

    frames = [0, 0, 0, 1, 1, 1, 2, 2, 2]  # three views of each of three keyframes
    order = ViewOrder(np.random.default_rng(0), frames, focus=[2], focus_share=0.5)
    picks = [frames[order.next()] for _ in range(900)]
    assert 0.6 < picks.count(2) / 900 < 0.73  # half focused, plus a third of the rest
    assert picks.count(0) > 120 and picks.count(1) > 120  # the older keyframes still replayed
    plain = ViewOrder(np.random.default_rng(0), frames, focus=[], focus_share=0.5)
    picks = [frames[plain.next()] for _ in range(900)]
    assert picks.count(0) == picks.count(1) == picks.count(2) == 300  # every view once a round


def test_hand_written_adam_matches_torch_adam():
    """core.optim.Adam (kept to avoid torch.optim's 2 s import) takes torch.optim.Adam's steps."""
    import torch

    from core.optim import Adam

    torch.manual_seed(0)
    target = torch.randn(5, 3)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours = Adam([{"params": ours[:1], "lr": 0.05}, {"params": ours[1:], "lr": 0.01}])
    opt_theirs = torch.optim.Adam(
        [{"params": theirs[:1], "lr": 0.05}, {"params": theirs[1:], "lr": 0.01}]
    )
    for step in range(20):
        for params, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.param_groups[0]["lr"] = 0.05 * (1 - step / 40)  # schedules apply the same way
            opt.zero_grad()
            ((params[0] - target).pow(2).sum() + params[1].abs().sum()).backward()
            opt.step()
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_refinement_stage_trains_only_the_stride2_branch(clip):
    """refine_steps: the stride-2 refinement learns on its own (an ImageNet-only model starts with
    it as the identity); the stride-4..32 head and the backbone stay as they were."""
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    assert not model.head.refine[-1].weight.any()  # untrained: the identity
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = FineTuneConfig(steps=0, trainable="head", views_per_frame=4, refine_steps=40)
    progress = run_to_end(fine_tune(model, [_sample(frames, labels, 0)], config))
    assert [p.step for p in progress] == list(range(1, 41))
    assert progress[-1].total_steps == 40 and progress[-1].eta_s == 0.0
    assert np.mean([p.loss for p in progress[-5:]]) < np.mean([p.loss for p in progress[:5]])
    changed = {k for k, v in model.state_dict().items() if not v.equal(before[k])}
    trained = ("head.refine.", "head.side_convs.0.", "head.side_preds.0.")
    assert changed and all(k.startswith(trained) for k in changed), changed
    assert model.head.refine[-1].weight.any()


def test_fast_end_runs_main_then_refinement_steps(clip):
    frames, labels = clip
    model, _ = build_model(weights="imagenet")
    fast = recipe_for(Preset.FAST).with_overrides(steps=6, refine_steps=3, views_per_frame=2)
    config = fast.members[0]
    progress = run_to_end(fine_tune(model, [_sample(frames, labels, 0)], config))
    assert [p.step for p in progress] == list(range(1, 10))
    assert all(p.total_steps == 9 for p in progress)
    assert [p.stage for p in progress] == [""] * 6 + ["edges"] * 3


def test_dreamed_views_move_the_object_over_an_inpainted_background(clip):
    from core.augment import Dreamer

    frames, labels = clip
    image, mask = frames[0], labels[0] == 1
    dreamer = Dreamer(image, mask[None], np.ones(1, bool))
    assert dreamer.ok
    # The object is gone from the background: its pixels now look like their surroundings.
    object_colour = image[mask].mean(axis=0)
    assert np.abs(dreamer.background[mask].mean(axis=0) - object_colour).max() > 40
    rng = np.random.default_rng(0)
    areas, moved = [], 0
    for _ in range(12):
        view, masks = dreamer.view(rng)
        assert view.shape == image.shape and view.dtype == np.uint8
        assert masks.shape == (1, *mask.shape) and masks.dtype == bool
        areas.append(masks[0].sum())
        moved += iou(masks[0], mask) < 0.9
        # The label follows the pasted object: its pixels carry the object's red.
        assert view[masks[0]][:, 0].mean() > view[~masks[0]][:, 0].mean() + 40
    assert moved >= 9 and max(areas) > 1.4 * min(areas)  # other places, other sizes
    assert not Dreamer(image, np.zeros((1, *mask.shape), bool), np.ones(1, bool)).ok


def test_fine_tune_with_dreamed_views(clip):
    frames, labels = clip
    for trainable in ("head", "all"):
        model, _ = build_model(weights="imagenet")
        config = FineTuneConfig(steps=40, trainable=trainable, views_per_frame=6, dream=1.0)
        progress = run_to_end(fine_tune(model, [_sample(frames, labels, 0)], config))
        assert len(progress) == 40 and np.isfinite(progress[-1].loss)
        assert np.mean([p.loss for p in progress[-5:]]) < np.mean([p.loss for p in progress[:5]])


def test_dreaming_moves_only_the_objects_annotated_on_that_frame():
    from core.augment import Dreamer

    frames, labels = make_clip(num_frames=2, num_objects=2, seed=3)
    masks = np.stack([labels[0] == 1, labels[0] == 2])
    # Object 2 is not annotated here (unknown): it stays in the background, unmoved.
    dreamer = Dreamer(frames[0], masks, np.array([True, False]))
    assert np.array_equal(dreamer.union, masks[0])
    view, moved = dreamer.view(np.random.default_rng(1))
    assert moved.shape == masks.shape and moved[0].any()
    model, _ = build_model(weights="imagenet")
    sample = TrainingSample(frames[0], masks, np.array([True, False]))
    config = FineTuneConfig(steps=3, trainable="all", dream=1.0)
    assert len(run_to_end(fine_tune(model, [sample], config))) == 3
