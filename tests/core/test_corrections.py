"""Corrections (a result the artist edited): the painted pixels are kept apart from the ones kept
from the result, survive a save and reopen, and the kept ones weigh KEPT_WEIGHT in training."""

import numpy as np
import torch

from core.annotations import KEPT_WEIGHT, AnnotationStore, mask_from_image, mask_to_image
from core.model.losses import balanced_bce
from core.project import Project, load_project, save_annotation, save_manifest
from core.resolution import WorkingResolution
from core.shot.session import build_samples
from core.training import FineTuneConfig
from core.training_views import ViewMaker, view_rng
from tests.helpers import ArraySource


def _correction(height=48, width=64):
    mask = np.zeros((height, width), bool)
    mask[10:30, 10:40] = True
    painted = np.zeros_like(mask)
    painted[10:30, 30:40] = True  # painted in
    painted[35:40, 50:60] = True  # painted out (background)
    return mask, painted


def test_the_mask_image_keeps_what_was_painted_and_reads_as_a_mask():
    mask, painted = _correction()
    image = mask_to_image(mask, painted)
    assert set(np.unique(image)) == {0, 85, 170, 255}
    assert np.array_equal(image > 127, mask)  # any tool reading it as a mask reads the mask
    got_mask, got_painted = mask_from_image(image)
    assert np.array_equal(got_mask, mask) and np.array_equal(got_painted, painted)
    plain = mask_from_image(mask.astype(np.uint8) * 255)
    assert np.array_equal(plain[0], mask) and plain[1] is None


def test_store_tells_a_correction_from_a_full_mask():
    mask, painted = _correction()
    store = AnnotationStore((64, 48))
    store.set(1, 0, mask)
    full = store.fingerprint()
    assert store.painted(1, 0) is None and store.frame_weights(0, [1]) is None
    store.set(1, 0, mask, painted=painted)
    assert np.array_equal(store.painted(1, 0), painted)
    assert store.fingerprint() != full  # it trains differently, so it is another model
    weights = store.frame_weights(0, [1, 2])
    assert weights.shape == (2, 48, 64) and weights.dtype == np.float32
    assert (weights[0][painted] == 1).all() and (weights[0][~painted] == KEPT_WEIGHT).all()
    assert (weights[1] == 1).all()
    store.set(1, 0, mask, painted=np.ones_like(mask))  # painted everywhere: a full mask
    assert store.painted(1, 0) is None and store.fingerprint() == full


def test_a_correction_survives_save_and_reopen(tmp_path):
    mask, painted = _correction()
    project = Project(str(tmp_path / "clip"))
    project.objects.append(project.next_object("hero"))
    save_manifest(tmp_path, project)
    save_annotation(tmp_path, 1, 3, mask, painted=painted)
    _, store = load_project(tmp_path, size=(64, 48))
    assert np.array_equal(store.get(1, 3), mask)
    assert np.array_equal(store.painted(1, 3), painted)


def test_training_samples_weigh_kept_pixels_less_at_the_working_size():
    mask, painted = _correction(96, 128)
    frames = np.random.default_rng(0).integers(0, 255, (2, 96, 128, 3), dtype=np.uint8)
    store = AnnotationStore((128, 96))
    store.set(1, 0, mask, painted=painted)
    working = WorkingResolution((128, 96), (64, 48))
    (sample,), _ = build_samples(store, ArraySource(frames), [1], working=working)
    assert sample.known.shape == (1, 48, 64) and sample.known.dtype == np.float32
    assert sample.known[0, 10, 17] == 1.0  # inside the painted-in block
    assert sample.known[0, 2, 2] == KEPT_WEIGHT
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
