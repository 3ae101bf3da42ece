"""The shot pipeline (core.shot): presets, plans, the session's training runs, jobs, costs."""

import pickle

import numpy as np
import pytest
import torch

from core.annotations import AnnotationStore
from core.jobs import Cancelled, CancelToken, TrainProgress
from core.model.build import build_model
from core.shot.jobs import ExportJob, SegmentJob, TrainJob
from core.shot.plan import (
    MAX_KEYFRAME_SCALE,
    ONLINE_STEP_SCALE,
    UPDATE_STEP_SCALE,
    CostModel,
    Pace,
    StepKind,
    plan,
)
from core.shot.presets import (
    BALANCED_FROM,
    BEST_FROM,
    LARGE_PARENT,
    Preset,
    UnitCosts,
    preset_for,
    recipe_for,
)
from core.shot.segmenters import Ordering
from core.shot.session import ShotModel, ShotSession
from core.training import total_steps
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=8, height=96, width=128, seed=2)


def short(preset):
    """The real recipes with test-sized step counts."""
    return recipe_for(preset).with_overrides(steps=12, views_per_frame=3)


def session_for(frames, recipes=short) -> ShotSession:
    parent, info = build_model(weights="imagenet")
    return ShotSession(ArraySource(frames), parent, info, recipes=recipes)


def store_with(labels, frames=(0,)) -> AnnotationStore:
    store = AnnotationStore((labels.shape[2], labels.shape[1]))
    for f in frames:
        store.set(1, f, labels[f] == 1)
    return store


def weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_slider_maps_to_presets_in_one_place():
    assert [preset_for(q) for q in (-1, 0, BALANCED_FROM - 0.01)] == [Preset.FAST] * 3
    assert [preset_for(q) for q in (BALANCED_FROM, 0.5, BEST_FROM - 0.01)] == [Preset.BALANCED] * 3
    assert [preset_for(q) for q in (BEST_FROM, 1.0, 7.0)] == [Preset.BEST] * 3
    for preset in Preset:
        assert preset_for(preset.quality) is preset  # a saved preset reads back as itself
    fast, balanced, best = (recipe_for(p) for p in Preset)
    assert [m.trainable for m in best.members] == ["head", "all"]
    assert best.members[0] == balanced.members[0]  # Best's first model is the Balanced one
    assert fast.members[0].steps < balanced.members[0].steps
    assert (fast.segment.flip, balanced.segment.flip, best.segment.flip) == (False, True, True)
    assert recipe_for(Preset.FAST, gate_px=0).segment.temporal_gate_px == 0


def test_a_plan_previews_trains_and_updates():
    best = recipe_for(Preset.BEST)
    kinds = [(s.kind, s.member) for s in plan(best, models_trained=0, correction=False)]
    assert kinds == [(StepKind.PREVIEW, 0), (StepKind.FULL, 0), (StepKind.FULL, 1)]
    kinds = [(s.kind, s.member) for s in plan(best, models_trained=1, correction=True)]
    # a quick update shown first, the update, then the missing model in full
    assert kinds == [(StepKind.PREVIEW, 0), (StepKind.UPDATE, 0), (StepKind.FULL, 1)]
    update = plan(best, models_trained=2, correction=True, preview=False)
    assert [s.kind for s in update] == [StepKind.UPDATE] * 2
    assert all(s.continues for s in update)
    # one new keyframe: UPDATE_STEP_SCALE times the recipe's head steps
    assert update[0].config.steps == UPDATE_STEP_SCALE * best.members[0].steps
    assert update[0].config.focus_share > 0  # mostly on the new keyframe
    assert update[1].config.steps == best.members[1].steps // 3  # whole network: a third
    fast = recipe_for(Preset.FAST)
    assert [s.kind for s in plan(fast, models_trained=0, correction=False, preview=False)] == [
        StepKind.FULL
    ]


def test_head_training_grows_with_the_keyframes():
    fast, best = recipe_for(Preset.FAST), recipe_for(Preset.BEST)
    one, four, many = (
        plan(fast, models_trained=0, correction=False, preview=False, num_keyframes=k)[0].config
        for k in (1, 4, 50)
    )
    assert one == fast.members[0]
    assert four.steps == round(2.5 * one.steps) and four.refine_steps == round(
        2.5 * one.refine_steps
    )
    assert many.steps == round(MAX_KEYFRAME_SCALE * one.steps)  # capped
    whole = plan(best, models_trained=0, correction=False, preview=False, num_keyframes=4)[1]
    assert whole.config == best.members[1]  # whole-network steps are not scaled
    two_new = plan(fast, models_trained=1, correction=True, num_keyframes=4, num_new=2)
    assert [s.kind for s in two_new] == [StepKind.PREVIEW, StepKind.UPDATE]
    assert two_new[1].config.steps == 2 * UPDATE_STEP_SCALE * one.steps
    many_new = plan(fast, models_trained=1, correction=True, num_keyframes=60, num_new=50)[1]
    assert many_new.config.steps == round(MAX_KEYFRAME_SCALE * UPDATE_STEP_SCALE * one.steps)
    assert two_new[0].continues and two_new[0].config.steps < two_new[1].config.steps
    # an online round's frames, the model's own confident results, are learnt briefly
    online = plan(fast, models_trained=1, correction=True, preview=False, num_new=8, online=True)
    assert online[0].config.steps == round(MAX_KEYFRAME_SCALE * ONLINE_STEP_SCALE * one.steps)
    assert online[0].config.steps < many_new.config.steps
    # Fast's short edge stage goes on learning in the rounds; Balanced's does not
    assert online[0].config.refine_steps == round(MAX_KEYFRAME_SCALE * one.refine_steps)
    balanced = recipe_for(Preset.BALANCED)
    rounds = plan(
        balanced, models_trained=1, correction=True, preview=False, num_new=8, online=True
    )
    assert rounds[0].config.refine_steps == 0 and rounds[0].config.steps > 0


def test_a_run_reports_one_whole_run_eta_and_publishes_complete_models(clip):
    frames, labels = clip
    session = session_for(frames)
    # an estimate of 4 s per whole-network step, far above what one takes on this tiny clip
    session.costs = CostModel((128, 96), UnitCosts(all_step=4.0 * 320 * 320 / (128 * 96)))
    job = session.train_job(store_with(labels), Preset.BEST)
    events = list(session.train(job))
    models = [e for e in events if isinstance(e, ShotModel)]
    progress = [e for e in events if isinstance(e, TrainProgress) and e.phase == "training"]
    # preview, Balanced model, then both averaged; versions counted by the session alone
    assert [(len(m.networks), m.final, m.version) for m in models] == [
        (1, False, 1),
        (1, False, 2),
        (2, True, 3),
    ]
    assert session.model is models[-1] and session.model.preset is Preset.BEST
    steps = [p.step for p in progress]
    assert steps == list(range(1, len(steps) + 1)) and progress[-1].total_steps == len(steps)
    assert [p.stage for p in progress[:25]] == ["preview"] * 25  # plotted as its own curve
    assert progress[25].stage == "" and progress[25].model == 0
    # one ETA for the whole run: while the first model trains it counts the second model's
    # estimated 12 x 4 s; once that model trains, its own measured steps take over
    first = [p.eta_s for p in progress if p.model == 0]
    second = [p.eta_s for p in progress if p.model == 1]
    assert min(first) >= 12 * 4.0 > second[0] > second[-1] == 0.0
    result = session.segmenter().segment_frame(5)
    assert iou(result.labels == 1, labels[5] == 1) > 0.5


def test_stop_keeps_the_last_complete_model(clip):
    """Cancelled in the middle of the full fine-tune: the preview published before stays the
    session's model, its weights untouched by the training that was stopped."""
    frames, labels = clip
    session = session_for(frames, lambda p: recipe_for(p).with_overrides(steps=400))
    parent_before = weights(session.parent)
    cancel = CancelToken()
    job = session.train_job(store_with(labels), Preset.FAST)
    preview = None
    with pytest.raises(Cancelled):
        for event in session.train(job, cancel=cancel):
            if isinstance(event, ShotModel):
                preview = event
                preview_weights = weights(preview.networks[0])
            elif preview is not None and event.step > 30:
                cancel.cancel()  # well into the full fine-tune
    assert preview is not None and not preview.final
    assert session.model is preview
    assert same_weights(weights(session.model.networks[0]), preview_weights)
    assert same_weights(weights(session.parent), parent_before)


def test_a_correction_trains_a_copy_and_never_changes_published_models(clip):
    frames, labels = clip
    session = session_for(frames)
    store = store_with(labels)
    list(session.train(session.train_job(store, Preset.FAST, preview=False)))
    first = session.model
    first_weights = weights(first.networks[0])
    store.set(1, 6, labels[6] == 1)
    job = session.train_job(store, Preset.FAST, correction=True)
    steps = session.plan_for(job)
    assert [s.kind for s in steps] == [StepKind.PREVIEW, StepKind.UPDATE]  # a quick update first
    assert [int(job.samples[i].key.split(":")[0]) for i in session.new_samples(job)] == [6]
    models = [e for e in session.train(job) if isinstance(e, ShotModel)]
    assert [m.kind for m in models] == [StepKind.PREVIEW, StepKind.UPDATE]
    assert session.model.version == first.version + 2
    assert session.new_samples(session.train_job(store, Preset.FAST, correction=True)) == []
    assert same_weights(weights(first.networks[0]), first_weights)
    assert not same_weights(weights(session.model.networks[0]), first_weights)


def test_a_new_object_joins_the_model_with_its_own_channel(clip):
    """An object added after training: the correction keeps object 1's channel and appends
    object 2's; the model, its object ids and its annotations always agree."""
    frames, labels = clip
    session = session_for(frames)
    store = store_with(labels)
    list(session.train(session.train_job(store, Preset.FAST, preview=False)))
    store.set(2, 3, np.zeros_like(labels[3], dtype=bool) | (np.arange(128) < 10)[None, :])
    job = session.train_job(store, Preset.FAST, correction=True)
    assert [s.kind for s in session.plan_for(job)] == [StepKind.PREVIEW, StepKind.UPDATE]
    list(session.train(job))
    model = session.model
    assert model.object_ids == (1, 2) and model.networks[0].num_objects == 2
    assert all(a.masks.shape[0] == 2 for a in model.annotations.values())
    assert session.segmenter().segment_frame(4).probs.shape == (2, 96, 128)
    # an object removed: channels would shift, so the next correction trains from the parent
    store.remove_object(1)
    job = session.train_job(store, Preset.FAST, correction=True)
    assert [s.kind for s in session.plan_for(job)] == [StepKind.PREVIEW, StepKind.FULL]


def test_jobs_are_plain_picklable_data(clip, tmp_path):
    frames, labels = clip
    session = session_for(frames)
    job = session.train_job(store_with(labels, (0, 4)), Preset.BALANCED)
    again = pickle.loads(pickle.dumps(job))
    assert isinstance(again, TrainJob) and again.preset is Preset.BALANCED
    assert again.object_ids == (1,) and again.fingerprint == job.fingerprint
    assert np.array_equal(again.samples[1].masks, job.samples[1].masks)
    segment = pickle.loads(pickle.dumps(SegmentJob(frames=(3, 1, 2))))
    assert segment.frames == (3, 1, 2)
    export = ExportJob(str(tmp_path), 0, 7, ())
    assert pickle.loads(pickle.dumps(export)) == export
    for value in (job, segment, export):
        assert not any(isinstance(v, CancelToken) for v in vars(value).values())


def test_the_cost_estimate_scales_with_the_clip_and_learns_measured_costs(clip):
    frames, labels = clip
    small = CostModel((854, 480))
    large = CostModel((1920, 1080))
    fast = recipe_for(Preset.FAST)
    steps = plan(fast, models_trained=0, correction=False)
    assert (
        large.estimate(fast, steps, 1, 100).total_s
        > 3 * small.estimate(fast, steps, 1, 100).total_s
    )
    best = recipe_for(Preset.BEST)
    best_steps = plan(best, models_trained=0, correction=False)
    assert (
        small.estimate(best, best_steps, 1, 100).train_s
        > 5 * small.estimate(fast, steps, 1, 100).train_s
    )
    # a completed run replaces the defaults with what it measured on this clip
    session = session_for(frames)
    before = session.estimate(Preset.FAST, 1).train_s
    list(session.train(session.train_job(store_with(labels), Preset.FAST)))
    after = session.estimate(Preset.FAST, 1).train_s
    assert after != before and after < 30
    assert session.estimate(Preset.FAST, 1).describe(8).endswith("for all 8)")


def test_measured_work_sets_the_machines_pace_for_work_not_yet_measured():
    units = UnitCosts(encode_view=0.0)  # so a step's estimate is its optimiser steps alone
    costs = CostModel((854, 480), units)
    balanced = recipe_for(Preset.BALANCED)
    segment, parents = balanced.segment, balanced.parents
    full = plan(balanced, models_trained=0, correction=False, preview=False)[0]
    rounds = plan(
        balanced, models_trained=1, correction=True, preview=False, num_new=4, online=True
    )[0]
    assert costs.pace == Pace()
    full_units = costs.step_seconds(full, 1)
    rounds_units = costs.step_seconds(rounds, 5, encoded_frames=4)
    frame_units = costs.frame_seconds(segment, parents)

    # this machine trains at half the dev machine's speed: its steps took twice the units
    everything = (0, total_steps(full.config), 2 * full_units)
    costs.observe(full, 3 * full_units, everything)
    assert costs.pace.train == pytest.approx(2.0) and costs.pace.frames is None
    assert costs.step_seconds(full, 1) == pytest.approx(3 * full_units)  # measured: as it was
    assert costs.step_seconds(rounds, 5, 4) == pytest.approx(2 * rounds_units)
    # frames are priced at the training pace until a frame is measured, then at their own
    assert costs.frame_seconds(segment, parents) == pytest.approx(2 * frame_units)
    costs.observe_frames(5 * frame_units, 10, segment, parents)
    assert costs.pace.frames == pytest.approx(0.5) and costs.pace.train == pytest.approx(2.0)
    assert costs.frame_seconds(segment, parents) == pytest.approx(0.5 * frame_units)

    # a span of the edge stage alone is priced as edge steps, whose units are not head steps'
    c = full.config
    edges = CostModel((854, 480), units)
    edge_units = c.refine_steps * units.for_parent(LARGE_PARENT).refine_step
    edges.observe(full, 1.0, (c.steps, total_steps(c), 3 * edge_units))
    assert edges.pace.train == pytest.approx(3.0)
    # and a fresh clip of twice the pixels is priced at the frames' pace measured on it
    large = CostModel((854 * 2, 480), units)
    large.observe_frames(2 * frame_units * 0.5, 1, segment, parents)
    assert large.pace.frames == pytest.approx(0.5)


def test_a_session_measures_the_machines_pace(clip):
    frames, labels = clip
    session = session_for(frames)
    session.measure_inference(frames[0])
    at_open = session.costs.pace.frames
    assert at_open > 0 and session.costs.pace.train is None
    list(session.train(session.train_job(store_with(labels), Preset.FAST)))
    assert session.costs.pace.train > 0
    # a model's first frame also builds its inference copy: not counted
    session.observe_frame(100.0)
    assert session.costs.pace.frames == at_open
    session.observe_frame(100.0)
    assert session.costs.pace.frames > at_open
    # nor the frames of networks averaged after online rounds: one backbone pass for both
    measured = session.costs.pace.frames
    session.average_with(session.model.networks)
    session.observe_frame(100.0)
    session.observe_frame(100.0)
    assert session.costs.pace.frames == measured


def test_the_segmenter_declares_its_order(clip):
    frames, labels = clip
    session = session_for(frames)
    assert session.segmenter() is None  # no model yet
    session.untrained_model((1,), Preset.FAST)
    segmenter = session.segmenter()
    assert segmenter.ordering is Ordering.INDEPENDENT
    assert segmenter.schedule(8, 3)[:3] == [3, 4, 2] and sorted(segmenter.schedule(8, 3)) == list(
        range(8)
    )
    assert segmenter.predict(2).shape == (1, 96, 128)


def test_a_saved_model_restores_every_network(clip, tmp_path):
    frames, labels = clip
    session = session_for(frames)
    store = store_with(labels)
    job = session.train_job(store, Preset.BEST, preview=False)
    list(session.train(job))
    session.save_model(tmp_path / "model.pt")
    restored = session_for(frames)
    model = restored.restore_model(
        tmp_path / "model.pt", object_ids=(1,), annotations=job.annotations, fingerprint=None
    )
    assert len(model.networks) == 2 and model.preset is Preset.BEST and model.version == 1
    a = session.segmenter().segment_frame(3).probs
    b = restored.segmenter().segment_frame(3).probs
    np.testing.assert_allclose(a, b, atol=1e-3)
    from core.errors import RotoshotError

    with pytest.raises(RotoshotError, match="other objects"):
        restored.restore_model(
            tmp_path / "model.pt", object_ids=(1, 2), annotations={}, fingerprint=""
        )
    assert restored.model is model  # a refused restore leaves the session as it was
