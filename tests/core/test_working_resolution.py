"""Working resolution (core.resolution): the network sees frames of at most N px on the long
side; mattes come back at the plate's size."""

import cv2
import numpy as np
import pytest

from core.errors import RotoshotError
from core.model.build import build_model
from core.resolution import WorkingResolution, bilinear_upsample, guided_upsample, working_size
from core.shot.presets import Preset, recipe_for
from core.shot.session import ShotSession
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


def test_the_working_size_keeps_the_aspect_and_never_upscales():
    assert working_size((3840, 2160), 1024) == (1024, 576)
    assert working_size((1920, 1080), 1024) == (1024, 576)
    assert working_size((1080, 1920), 1024) == (576, 1024)  # portrait
    assert working_size((854, 480), 1024) == (854, 480)  # DAVIS: untouched
    assert working_size((4096, 1716), 0) == (4096, 1716)  # 0: the plate's size
    assert WorkingResolution.for_source((854, 480)).is_identity


def test_masks_shrink_by_area_coverage():
    working = WorkingResolution((8, 4), (4, 2))
    masks = np.zeros((1, 4, 8), bool)
    masks[0, :, :3] = True  # covers working column 0 fully and half of column 1
    masks[0, :2, 3] = True  # tips column 1 over half: 3 of its 4 source px
    out = working.masks(masks)
    assert out.shape == (1, 2, 4) and out.dtype == bool
    assert out[0].tolist() == [[True, True, False, False], [True, False, False, False]]


def test_guided_upsampling_puts_a_blurred_edge_back_on_the_plates_edge():
    # A plate with a sharp vertical edge at x = 203, and a working-size (1/4) probability
    # that is blurred and misplaced by 3 source px, as a network's edge would be.
    height, width, factor = 64, 400, 4
    plate = np.full((height, width, 3), 40, np.uint8)
    plate[:, 203:] = 220
    truth = np.zeros((height, width), bool)
    truth[:, 203:] = True
    small = (width // factor, height // factor)
    misplaced = np.roll(truth, 3, axis=1).astype(np.float32)
    low = cv2.resize(misplaced, small, interpolation=cv2.INTER_AREA)
    low = cv2.GaussianBlur(low, (0, 0), 1.5)[None]
    guided = guided_upsample(low, plate, small, radius=2, eps=1e-4)[0]
    smooth = bilinear_upsample(low, (width, height))[0]
    assert guided.shape == (height, width) and 0.0 <= guided.min() <= guided.max() <= 1.0
    assert ((guided > 0.5) == truth).all()  # the matte's edge is the plate's edge
    assert ((smooth > 0.5) != truth).any(axis=0).sum() >= 2  # the plain upsample is off
    # and it is a step there, not a ramp
    assert guided[:, 203].min() - guided[:, 202].max() > 0.5 > smooth[0, 203] - smooth[0, 202]


def _short(preset):
    return recipe_for(preset).with_overrides(steps=30, views_per_frame=3)


@pytest.fixture(scope="module")
def large_clip():
    """A 256x192 clip worked at 128x96: the object as large, in working px, as in the
    128x96 clips the other tests use."""
    return make_clip(num_frames=6, height=192, width=256, seed=4)


def test_a_session_trains_small_and_writes_mattes_at_the_plates_size(large_clip, tmp_path):
    frames, labels = large_clip
    parent, info = build_model(weights="imagenet")
    session = ShotSession(ArraySource(frames), parent, info, recipes=_short, working_long_side=128)
    assert session.working.size == (128, 96) and session.costs.frame_size == (128, 96)
    from core.annotations import AnnotationStore

    store = AnnotationStore((256, 192))
    store.set(1, 0, labels[0] == 1)
    job = session.train_job(store, Preset.FAST, preview=False)
    assert job.samples[0].image.shape == (96, 128, 3)
    assert job.samples[0].masks.shape == (1, 96, 128)
    assert job.annotations[0].masks.shape == (1, 192, 256)  # overrides stay at the plate's size
    list(session.train(job))
    segmenter = session.segmenter()
    assert segmenter.raw_probs(3).shape == (1, 96, 128)
    result = segmenter.segment_frame(3)
    assert result.probs.shape == (1, 192, 256) and result.labels.shape == (192, 256)
    assert iou(result.labels == 1, labels[3] == 1) > 0.6
    # the keyframe itself is the artist's mask, pixel for pixel, at the plate's size
    assert (segmenter.segment_frame(0).labels == labels[0]).all()

    session.save_model(tmp_path / "model.pt")
    other, info = build_model(weights="imagenet")
    full_size = ShotSession(ArraySource(frames), other, info, recipes=_short, working_long_side=0)
    with pytest.raises(RotoshotError, match="trained at 128x96"):
        full_size.restore_model(
            tmp_path / "model.pt", object_ids=(1,), annotations={}, fingerprint=None
        )
