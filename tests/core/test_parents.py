"""Two parent networks: each preset names the parent its models start from (Fast the standard
Lite0 parent, Balanced the larger Lite2 one, Best one of each), and a shot trains, saves, restores
and estimates with the right one."""

import dataclasses

import numpy as np
import pytest
import torch

import core.model.build as build
from core.annotations import AnnotationStore
from core.model.build import build_network, load_checkpoint
from core.shot.plan import CostModel, StepKind, plan
from core.shot.presets import (
    LARGE_PARENT,
    LARGE_PARENT_COST_RATIOS,
    STANDARD_PARENT,
    Preset,
    Recipe,
    UnitCosts,
    recipe_for,
)
from core.shot.segmenters import load_parents
from core.shot.session import ShotSession
from core.training import FineTuneConfig
from tests.helpers import ArraySource
from tests.synthetic import make_clip

LITE0, LITE2 = "efficientnet-lite0", "efficientnet-lite2"


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=4, height=96, width=128, seed=3)


@pytest.fixture(scope="module")
def nets():
    """(standard, large) parents: ImageNet backbones with the head drawn from the fixed seed."""
    return build_network(backbone_name=LITE0), build_network(backbone_name=LITE2)


def short(preset):
    return recipe_for(preset).with_overrides(steps=6, views_per_frame=2, refine_steps=2)


def session(frames, nets, *, with_large=True) -> ShotSession:
    standard, large = nets
    info = build.ModelInfo("imagenet", LITE0)
    parents = {LARGE_PARENT: large} if with_large else None
    return ShotSession(ArraySource(frames), standard, info, recipes=short, parents=parents)


def store_of(labels) -> AnnotationStore:
    store = AnnotationStore((labels.shape[2], labels.shape[1]))
    store.set(1, 0, labels[0] == 1)
    return store


def train(shot: ShotSession, store, preset):
    *_, model = shot.train(shot.train_job(store, preset, preview=False))
    return model


def test_each_preset_names_the_parent_of_each_model():
    assert recipe_for(Preset.FAST).parents == (STANDARD_PARENT,)
    assert recipe_for(Preset.BALANCED).parents == (LARGE_PARENT,)
    assert recipe_for(Preset.BEST).parents == (LARGE_PARENT, STANDARD_PARENT)
    steps = plan(recipe_for(Preset.BEST), models_trained=0, correction=False)
    assert [(s.kind, s.parent) for s in steps] == [
        (StepKind.PREVIEW, LARGE_PARENT),
        (StepKind.FULL, LARGE_PARENT),
        (StepKind.FULL, STANDARD_PARENT),
    ]
    segment = recipe_for(Preset.FAST).segment
    with pytest.raises(ValueError, match="per member"):
        Recipe(Preset.FAST, (FineTuneConfig(),), segment, (STANDARD_PARENT, LARGE_PARENT))
    with pytest.raises(ValueError, match="per member"):
        Recipe(Preset.FAST, (FineTuneConfig(),), segment, ("some other parent",))


def test_models_start_from_their_presets_parent_and_round_trip(clip, nets, tmp_path):
    frames, labels = clip
    shot = session(frames, nets)
    store = store_of(labels)
    # Fast then Best on one feature cache: the Lite0 views must not be reused for Lite2.
    assert [n.backbone_name for n in train(shot, store, Preset.FAST).networks] == [LITE0]
    best = train(shot, store, Preset.BEST)
    assert [n.backbone_name for n in best.networks] == [LITE2, LITE0]
    expected = shot.segmenter().segment_frame(2).probs
    path = tmp_path / "best.pt"
    shot.save_model(path)
    assert [m["backbone"] for m in load_checkpoint(path)["members"]] == [LITE0]
    for with_large in (True, False):  # without the large parent (a farm worker): built bare
        again = session(frames, nets, with_large=with_large)
        restored = again.restore_model(
            path, object_ids=(1,), annotations=best.annotations, fingerprint=None
        )
        assert [n.backbone_name for n in restored.networks] == [LITE2, LITE0]
        np.testing.assert_allclose(again.segmenter().segment_frame(2).probs, expected, atol=1e-5)


def test_a_shot_with_one_parent_trains_every_model_from_it(clip, nets):
    frames, labels = clip
    shot = session(frames, nets, with_large=False)
    assert shot.recipe(Preset.BEST).parents == (STANDARD_PARENT, STANDARD_PARENT)
    model = train(shot, store_of(labels), Preset.BALANCED)
    assert [n.backbone_name for n in model.networks] == [LITE0]
    standard, _ = nets
    for name, value in model.networks[0].backbone.state_dict().items():
        assert torch.equal(value, standard.backbone.state_dict()[name])  # head-only fine-tune


def test_estimates_price_each_models_parent():
    units = UnitCosts()
    large = units.for_parent(LARGE_PARENT)
    assert units.for_parent(STANDARD_PARENT) == units
    for name, ratio in LARGE_PARENT_COST_RATIOS.items():
        assert getattr(large, name) == pytest.approx(getattr(units, name) * ratio)
    costs = CostModel((854, 480), units)
    segment = recipe_for(Preset.BEST).segment
    both = costs.frame_seconds(segment, (LARGE_PARENT, STANDARD_PARENT))
    assert both > costs.frame_seconds(segment, (STANDARD_PARENT, STANDARD_PARENT))
    balanced = recipe_for(Preset.BALANCED)
    steps = plan(balanced, models_trained=0, correction=False, preview=False)
    on_standard = plan(
        dataclasses.replace(balanced, parents=(STANDARD_PARENT,)),
        models_trained=0,
        correction=False,
    )
    assert costs.step_seconds(steps[0], 1) > costs.step_seconds(on_standard[-1], 1)
    # a shot without the large parent (guided modes, --weights) prices those steps as standard
    alone = CostModel((854, 480), units, parents=(STANDARD_PARENT,))
    assert alone.step_seconds(steps[0], 1) == costs.step_seconds(on_standard[-1], 1)
    assert alone.frame_seconds(segment, (LARGE_PARENT,)) == alone.frame_seconds(
        segment, (STANDARD_PARENT,)
    )


def test_the_large_parent_is_loaded_only_for_the_shipped_plain_parent(monkeypatch, tmp_path):
    loaded = []

    def fake_build_model(*, weights):
        loaded.append(weights)
        backbone = LITE2 if weights == LARGE_PARENT else LITE0
        return object(), build.ModelInfo("parent", backbone)

    monkeypatch.setattr(build, "build_model", fake_build_model)
    _, _, parents = load_parents("osvos", "parent")
    assert list(parents) == [LARGE_PARENT] and loaded == ["parent", LARGE_PARENT]
    for mode, weights in (("refine", "parent"), ("osvos", "imagenet"), ("osvos", "my.pt")):
        loaded.clear()
        assert load_parents(mode, weights)[2] == {} and LARGE_PARENT not in loaded


def test_a_missing_large_parent_falls_back_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "LARGE_PARENT_WEIGHTS", tmp_path / "parent_lite2.pt")
    parent, info, parents = load_parents("osvos", "parent")
    assert parents == {}
    assert "parent_lite2.pt" in info.warning and "standard parent" in info.warning
    if build.DEFAULT_PARENT_WEIGHTS.exists():
        assert parent.backbone_name == LITE0 and info.source == "parent"


@pytest.mark.skipif(not build.LARGE_PARENT_WEIGHTS.exists(), reason="no shipped large parent")
def test_the_shipped_large_parent_loads_with_its_checksum():
    model, info = build.build_model(weights=LARGE_PARENT)
    assert info.source == "parent" and not info.warning
    assert model.backbone_name == LITE2 and model.num_objects == 1
