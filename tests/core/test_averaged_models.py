"""The Best setting keeps two models per shot: recipes, averaging, checkpoint, CLI and export."""

import copy

import numpy as np
import pytest
import torch

import core.shot.plan
import main
from core.errors import RotoshotError
from core.export import read_matte
from core.model.build import (
    build_model,
    load_checkpoint,
    load_members,
    load_weights_into,
    save_checkpoint,
)
from core.segmentation import SegmentConfig, Segmenter
from core.shot.presets import BEST_FROM, Preset, preset_for, recipe_for
from core.shot.segmenters import SEGMENTER_MODES, OsvosSegmenter
from core.training import FineTuneConfig, TrainingSample, fine_tune, run_to_end
from tests.helpers import ArraySource, make_project, segment_one
from tests.synthetic import iou, make_clip, write_image_folder, write_mask


@pytest.fixture(scope="module")
def two_models():
    """Two differently fine-tuned models of one synthetic object, and the clip."""
    frames, labels = make_clip(num_frames=6, height=96, width=128, seed=3)
    sample = TrainingSample(frames[0], labels[0:1] == 1, np.ones(1, bool))
    first, _ = build_model(weights="imagenet")
    second = copy.deepcopy(first)
    run_to_end(fine_tune(first, [sample], FineTuneConfig(steps=40, views_per_frame=3)))
    config = FineTuneConfig(steps=15, trainable="all", seed=1)
    run_to_end(fine_tune(second, [sample], config))
    return first, second, frames


def test_slider_keeps_two_models_from_the_best_setting():
    for q in (0.0, 0.5, BEST_FROM - 0.01):
        assert len(recipe_for(preset_for(q)).members) == 1
    assert preset_for(BEST_FROM) is preset_for(1.0) is Preset.BEST
    head, whole = recipe_for(Preset.BEST).members
    assert head == recipe_for(Preset.BALANCED).members[0]  # the Balanced recipe, trained first
    assert whole.trainable == "all"
    shorter = recipe_for(Preset.BEST).with_overrides(max_seconds=9)
    assert all(c.max_seconds == 9 for c in shorter.members)


def test_segmenter_averages_its_models(two_models):
    first, second, frames = two_models
    config = SegmentConfig(flip=True, bf16=False)
    source = ArraySource(frames)
    a = Segmenter(first, source, config=config).predict_image(frames[3])
    b = Segmenter(second, source, config=config).predict_image(frames[3])
    both = Segmenter([first, second], source, config=config).predict_image(frames[3])
    assert not np.allclose(a, b, atol=1e-2)  # two genuinely different models
    np.testing.assert_allclose(both, (a + b) / 2, atol=1e-5)
    with pytest.raises(ValueError):
        Segmenter([], source)


def test_models_with_one_backbone_share_its_pass(two_models, monkeypatch):
    """An online round's model and the one before it are head-only fine-tunes of one parent:
    one backbone pass per test-time input serves both, with the same average as two passes."""
    first, _, frames = two_models
    # any target will do: the point is a second head on the same backbone
    sample = TrainingSample(frames[0], frames[0][None, ..., 0] > 128, np.ones(1, bool))
    later = copy.deepcopy(first)
    run_to_end(fine_tune(later, [sample], FineTuneConfig(steps=10, views_per_frame=2, seed=4)))
    config = SegmentConfig(flip=True, bf16=False)
    source = ArraySource(frames)
    a = Segmenter(first, source, config=config).predict_image(frames[3])
    b = Segmenter(later, source, config=config).predict_image(frames[3])
    assert not np.allclose(a, b, atol=1e-3)  # the heads differ
    passes = []
    original = Segmenter._features
    monkeypatch.setattr(
        Segmenter,
        "_features",
        lambda self, member, index, inp: passes.append(index) or original(self, member, index, inp),
    )
    both = Segmenter([first, later], source, config=config)
    np.testing.assert_allclose(both.predict_image(frames[3]), (a + b) / 2, atol=1e-5)
    assert passes == [0, 0]  # one pass per input (plain and mirrored), the first model's
    # once the backbones differ, each model runs its own again
    with torch.no_grad():
        next(later.backbone.parameters()).mul_(1.01)
    passes.clear()
    both.predict_image(frames[3])
    assert passes == [0, 1, 0, 1]


def test_checkpoint_keeps_the_averaged_models(two_models, tmp_path):
    first, second, frames = two_models
    path = tmp_path / "model.pt"
    save_checkpoint(first, path, extra={"object_ids": [1]}, members=[second])
    payload = load_checkpoint(path)  # torch.load(weights_only=True)
    template, _ = build_model(weights="imagenet")
    loaded = load_members(payload, lambda _: template, path=str(path))
    assert len(loaded) == 1
    for key, value in second.state_dict().items():
        assert torch.equal(loaded[0].state_dict()[key], value), key
    # a checkpoint without members (one model per shot) has none
    save_checkpoint(first, path, extra={"object_ids": [1]})
    assert load_members(load_checkpoint(path), lambda _: template, path=str(path)) == []
    payload["members"] = "not a list of models"
    with pytest.raises(RotoshotError, match="averaged models"):
        load_members(payload, lambda _: template, path=str(path))
    payload["members"] = [{"num_objects": 2, "state_dict": second.state_dict()}]
    with pytest.raises(RotoshotError, match="disagree on the number of objects"):
        load_members(payload, lambda _: template, path=str(path))
    payload["members"] = [{"num_objects": 1, "state_dict": {"nonsense": torch.zeros(1)}}]
    with pytest.raises(RotoshotError, match="do not match the network"):
        load_members(payload, lambda _: template, path=str(path))


def _record_model_counts(monkeypatch) -> list[int]:
    """Make the per-frame segmenter record how many models it averages."""
    used = []

    class Recording(OsvosSegmenter):
        def __init__(self, model, *args, **kwargs):
            super().__init__(model, *args, **kwargs)
            used.append(len(self.models))

    monkeypatch.setitem(SEGMENTER_MODES, "osvos", Recording)
    return used


def test_cli_best_fine_tunes_two_models_from_the_parent(tmp_path, capsys, monkeypatch):
    frames, labels = make_clip(num_frames=4, height=96, width=128, seed=4)
    write_image_folder(tmp_path / "frames", frames)
    write_mask(tmp_path / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    used = _record_model_counts(monkeypatch)
    trained = []
    real_fine_tune = core.shot.plan.fine_tune

    def recording_fine_tune(model, samples, config, **kwargs):
        trained.append((config.trainable, config.steps))
        yield from real_fine_tune(model, samples, config, **kwargs)

    monkeypatch.setattr(core.shot.plan, "fine_tune", recording_fine_tune)
    out = tmp_path / "out"
    code, _, err = segment_one(tmp_path, out, capsys, "--quality", "1", "--steps", "12")
    assert code == 0, err
    assert used == [2]
    assert trained == [("head", 12), ("all", 12)]  # no preview in the CLI
    assert len(list(out.glob("*.png"))) == 4


def test_export_segments_with_every_saved_model(tmp_path, capsys, monkeypatch):
    folder, labels = make_project(tmp_path)
    payload = load_checkpoint(folder / "model.pt")
    model, _ = build_model(weights="imagenet")
    load_weights_into(model, payload)
    second = copy.deepcopy(model)
    with torch.no_grad():
        for p in second.head.parameters():
            p.mul_(0.9)
    save_checkpoint(model, folder / "model.pt", extra=payload["extra"], members=[second])
    used = _record_model_counts(monkeypatch)
    out = tmp_path / "out"
    assert main.main(["export", str(folder), "--out", str(out), "--last", "1"]) == 0
    assert used == [2]
    hero = sorted((out / "1_hero").glob("*.png"))
    assert len(hero) == 2 and iou(read_matte(hero[1]) > 0.5, labels[1] == 1) > 0.6
