"""Corrections (a result the artist edited): what was painted is kept apart from what was kept
from the result and from where the model was unsure; it survives a save and reopen; training
weighs kept pixels KEPT_WEIGHT and unsure ones nothing."""

import numpy as np
import torch

from core.annotations import AnnotationStore
from core.corrections import KEPT_WEIGHT, Correction, mask_from_image, mask_to_image
from core.model.losses import balanced_bce
from core.project import Project, load_project, save_annotation, save_manifest
from core.resolution import WorkingResolution
from core.shot.samples import build_samples
from core.training import FineTuneConfig
from core.training_views import ViewMaker, view_rng
from tests.helpers import ArraySource


def _correction(height=48, width=64):
    mask = np.zeros((height, width), bool)
    mask[10:30, 10:40] = True
    probs = np.where(mask, 0.95, 0.05).astype(np.float32)
    probs[8:12, 5:60] = 0.5  # the model was unsure along the top edge
    painted = np.zeros_like(mask)
    painted[10:30, 30:40] = True  # painted in
    painted[35:40, 50:60] = True  # painted out (background)
    return mask, Correction.start(probs).painted_over(painted)


def test_a_correction_starts_unsure_where_the_result_was():
    probs = np.array([[0.05, 0.3, 0.5, 0.7, 0.95]], np.float32)
    assert Correction.start(probs).unsure.tolist() == [[False, True, True, True, False]]
    as_uint8 = Correction.start(np.round(probs * 255).astype(np.uint8))
    assert np.array_equal(as_uint8.unsure, Correction.start(probs).unsure)
    assert not Correction.start(probs).painted.any()


def test_the_mask_image_keeps_the_correction_and_reads_as_a_mask():
    mask, correction = _correction()
    image = mask_to_image(mask, correction)
    assert len(np.unique(image)) == 6
    assert np.array_equal(image > 127, mask)  # any tool reading it as a mask reads the mask
    got_mask, got = mask_from_image(image)
    assert np.array_equal(got_mask, mask) and got.same_as(correction)
    assert np.array_equal(got.painted, correction.painted)
    plain = mask_from_image(mask.astype(np.uint8) * 255)
    assert np.array_equal(plain[0], mask) and plain[1] is None


def test_store_tells_a_correction_from_a_full_mask():
    mask, correction = _correction()
    store = AnnotationStore((64, 48))
    store.set(1, 0, mask)
    full = store.fingerprint()
    assert store.correction(1, 0) is None and store.frame_weights(0, [1]) is None
    store.set(1, 0, mask, correction=correction)
    assert store.correction(1, 0).same_as(correction)
    assert store.fingerprint() != full  # it trains differently, so it is another model
    weights = store.frame_weights(0, [1, 2])
    assert weights.shape == (2, 48, 64) and weights.dtype == np.float32
    painted, unsure = correction.painted, correction.unsure & ~correction.painted
    assert (weights[0][painted] == 1).all()
    assert (weights[0][unsure] == 0).all() and unsure.any()
    assert (weights[0][~painted & ~unsure] == KEPT_WEIGHT).all()
    assert (weights[1] == 1).all()
    everywhere = Correction(np.ones_like(mask), np.zeros_like(mask))
    store.set(1, 0, mask, correction=everywhere)  # painted everywhere: a full mask
    assert store.correction(1, 0) is None and store.fingerprint() == full


def test_a_correction_survives_save_and_reopen(tmp_path):
    mask, correction = _correction()
    project = Project(str(tmp_path / "clip"))
    project.objects.append(project.next_object("hero"))
    save_manifest(tmp_path, project)
    save_annotation(tmp_path, 1, 3, mask, correction=correction)
    _, store = load_project(tmp_path, size=(64, 48))
    assert np.array_equal(store.get(1, 3), mask)
    assert store.correction(1, 3).same_as(correction)


def test_training_samples_weigh_kept_pixels_less_at_the_working_size():
    mask, correction = _correction(96, 128)
    frames = np.random.default_rng(0).integers(0, 255, (2, 96, 128, 3), dtype=np.uint8)
    store = AnnotationStore((128, 96))
    store.set(1, 0, mask, correction=correction)
    working = WorkingResolution((128, 96), (64, 48))
    (sample,), _ = build_samples(store, ArraySource(frames), [1], working=working)
    assert sample.known.shape == (1, 48, 64) and sample.known.dtype == np.float32
    assert sample.known[0, 10, 17] == 1.0  # inside the painted-in block
    assert sample.known[0, 40, 2] == KEPT_WEIGHT
    assert sample.known[0, 4, 10] == 0.0  # the unsure band carries no loss
    levels = np.round(np.unique(sample.known) * 100)  # area-averaged edges add a few levels
    views = ViewMaker([sample], FineTuneConfig())
    for v in range(1, 4):
        image, masks, weights = views.make(view_rng(0, sample, 0, v), 0, identity=False)
        assert weights.shape == masks.shape == (1, 48, 64)
        assert np.isin(np.round(weights * 100), levels).all()  # warped, not blended
        assert weights.dtype == np.float32 and image.shape == (48, 64, 3)


def test_a_kept_pixel_pulls_the_loss_by_kept_weight_of_a_painted_one():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    known = torch.ones(1, 1, 8, 8)
    known[..., :, 4:] = KEPT_WEIGHT  # the right half was kept from the result
    logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    balanced_bce(logits, target, known=known).backward()
    grad = logits.grad[0, 0]
    assert torch.isclose(grad[3, 5] / grad[3, 3], torch.tensor(KEPT_WEIGHT))  # object pixels
    assert torch.isclose(grad[0, 6] / grad[0, 1], torch.tensor(KEPT_WEIGHT))  # background


def test_only_the_preview_focuses_on_a_new_correction(monkeypatch):
    from core.model.build import build_model
    from core.shot import plan as plan_module
    from core.shot.plan import PlanStep, StepKind, run_plan
    from core.training import TrainingSample

    mask, correction = _correction()
    image = np.zeros((48, 64, 3), np.uint8)
    plain = TrainingSample(image, mask[None], np.ones(1, bool), key="a")
    edited = TrainingSample(
        image, mask[None], np.ones(1, bool), key="b", known=correction.weights()[None]
    )
    assert edited.weighted and not plain.weighted
    seen = {}

    def fake_fine_tune(model, samples, config, *, focus=(), **_):
        seen[config.steps] = list(focus)
        return iter(())

    monkeypatch.setattr(plan_module, "fine_tune", fake_fine_tune)
    config = FineTuneConfig(steps=1)
    steps = (
        PlanStep(StepKind.PREVIEW, 0, config, continues=True),
        PlanStep(StepKind.UPDATE, 0, FineTuneConfig(steps=2), continues=True),
    )
    parent, _ = build_model(weights="parent")
    list(
        run_plan(
            steps,
            models=(parent,),
            parent_for=lambda _: parent,
            samples=[plain, edited],
            focus=[0, 1],
        )
    )
    assert seen == {1: [0, 1], 2: [0]}
