"""Iterative online fine-tuning (issue #12, part 3): confident targets only, filtered to the
object, outward from the keyframes, and a session's model updated on them."""

import numpy as np

from core.annotations import AnnotationStore
from core.jobs import TrainProgress
from core.model.build import build_model
from core.shot.online import (
    OnlineConfig,
    confident_target,
    estimate_online,
    online_rounds,
    outward_frames,
)
from core.shot.plan import CostModel
from core.shot.presets import CostEstimate, Preset, recipe_for
from core.shot.session import ShotModel, ShotSession
from tests.helpers import ArraySource
from tests.synthetic import make_clip


def test_only_confident_pixels_near_the_object_teach():
    probs = np.full((1, 60, 80), 0.02, np.float32)
    probs[0, 10:30, 10:30] = 0.97  # the object, where it was on the previous frame
    probs[0, 12:14, 10:30] = 0.5  # an unsure band inside it
    probs[0, 40:50, 60:75] = 0.95  # a confident look-alike far away
    previous = np.zeros((1, 60, 80), bool)
    previous[0, 11:31, 11:31] = True
    masks, known = confident_target(probs, previous, OnlineConfig(reach_px=5))
    assert masks[0, 20, 20] and known[0, 20, 20]
    assert not known[0, 12, 20]  # the band carries no loss
    assert not masks[0, 45, 65] and not known[0, 45, 65]  # the look-alike teaches nothing
    assert not masks[0, 55, 5] and known[0, 55, 5]  # confident background is background
    # without a previous frame nothing is filtered
    masks, known = confident_target(probs, None)
    assert masks[0, 45, 65]


def test_outward_frames_skip_keyframes_and_grow_each_round():
    cfg = OnlineConfig(frames_per_round=2, stride=2)
    first = outward_frames(20, [0, 10], 0, cfg)
    second = outward_frames(20, [0, 10], 1, cfg)
    assert first == [2, 4, 12, 14, 8, 6]
    assert second == [16, 18]  # 6, 8, 4 and 2 were added in the first round
    assert not set(first) & {0, 10}


def _trained_session(steps: int):
    """A session on a 10-frame synthetic clip whose model learnt frame 0 in `steps` head
    steps -> (session, job, labels, store)."""
    frames, labels = make_clip(num_frames=10, height=96, width=128, seed=3)
    parent, info = build_model(weights="parent")

    def short(preset):
        return recipe_for(preset).with_overrides(steps=steps, views_per_frame=2)

    session = ShotSession(ArraySource(frames), parent, info, recipes=short)
    store = AnnotationStore((128, 96))
    store.set(1, 0, labels[0] == 1)
    job = session.train_job(store, Preset.FAST, preview=False)
    list(session.train(job))
    return session, job, labels, store


def test_online_rounds_update_the_model_on_confident_frames():
    session, job, _, _ = _trained_session(steps=20)
    before = session.model.version
    (first,) = session.model.networks
    cfg = OnlineConfig(rounds=2, frames_per_round=2, stride=2)
    events = list(online_rounds(session, job, cfg))
    models = [e for e in events if isinstance(e, ShotModel)]
    assert len(models) == 3 and session.model.version > before
    # the last model averages the rounds' network with the one from before the rounds
    assert models[-1] is session.model
    assert session.model.networks == (models[1].networks[0], first)
    assert models[1].networks[0] is not first
    # each round counts its own steps, and says which round it is
    rounds = [e.round for e in events if isinstance(e, TrainProgress) and e.step > 0]
    assert rounds == sorted(rounds) and set(rounds) == {0, 1}
    keys = session.model.sample_keys
    online = sorted(int(k.split(":")[1]) for k in keys if k.startswith("online:"))
    assert online == [2, 4, 6, 8]  # two rounds of two frames, outward from frame 0
    assert set(session.model.annotations) == {0}  # the keyframe still overrides its frame
    assert session.model.fingerprint == job.fingerprint


def test_a_correction_after_the_rounds_continues_from_the_rounds_network():
    session, job, labels, store = _trained_session(steps=10)
    cfg = OnlineConfig(rounds=1, frames_per_round=2, stride=2)
    list(online_rounds(session, job, cfg))
    assert len(session.model.networks) == 2
    store.set(1, 6, labels[6] == 1)
    correction = session.train_job(store, Preset.FAST, correction=True, preview=False)
    steps = session.plan_for(correction)
    # one update, from the current model's first member: the rounds' network
    assert [(s.member, s.continues) for s in steps] == [(0, True)]
    list(session.train(correction))
    assert len(session.model.networks) == 1  # the snapshot from before the rounds is dropped


def test_the_rounds_estimate_counts_their_frames_updates_and_the_refresh():
    """What the train panel adds to its cost line when "Keep learning from the shot" is on."""
    costs = CostModel((854, 480))
    recipe = recipe_for(Preset.BALANCED)
    at_start = estimate_online(costs, recipe, [0], 100)
    in_middle = estimate_online(costs, recipe, [50], 100)
    assert 0 < at_start < in_middle  # a keyframe in the middle has frames on both sides
    assert estimate_online(costs, recipe, [0], 100, OnlineConfig(rounds=1)) < at_start
    assert estimate_online(costs, recipe, [0], 100, OnlineConfig(rounds=0)) == 0
    assert estimate_online(costs, recipe, [0], 1) == 0  # no frame to learn from
    # at least the refresh of every result with the averaged models
    assert at_start > 100 * costs.frame_seconds(recipe.segment, recipe.parents)
    line = CostEstimate(7.0, 0.11, 11.4, online_s=40.0).describe(40)
    assert line.splitlines() == [
        "~7 s training, then ~0.11 s per frame (~11 s for all 40)",
        "then learning from the shot: ~40 s more",
    ]
