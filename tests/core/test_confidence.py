"""The confidence score: low where the trained network's result is doubtful."""

import numpy as np

from core.confidence import KeyframeAreas, frame_confidence, object_confidences
from core.farm.render import RenderTarget, ShotRenderer
from core.farm.shots import ShotSpec, prepare_shot, train_shot
from tests.synthetic import make_clip, write_image_folder, write_mask


def test_the_score_reads_the_probabilities_band_and_area():
    crisp = np.zeros((1, 40, 40), np.float32)
    crisp[0, 10:30, 10:30] = 1.0
    blurred = crisp * 0.6
    assert object_confidences(crisp)[0] == (1.0, 0.25)
    assert object_confidences(blurred)[0][0] == 0.0  # every object pixel is in the 0.2-0.8 band
    assert frame_confidence(crisp, [0.25]) == 1.0
    assert frame_confidence(crisp, [0.0625]) < 1.0  # four times the keyframe's area
    assert frame_confidence(np.zeros_like(crisp), [0.25]) == 0.0  # the object is gone
    as_uint8 = (crisp * 255).astype(np.uint8)
    assert object_confidences(as_uint8) == object_confidences(crisp)


def square(side: int, size: int = 40) -> np.ndarray:
    """(size, size) bool with a side x side object."""
    mask = np.zeros((size, size), bool)
    mask[:side, :side] = True
    return mask


def test_keyframe_areas_follow_the_object_through_time():
    # A shrinking object keyframed large on frame 0 and small on frame 20; a second object
    # has no full-mask keyframe.
    areas = KeyframeAreas.of([[(20, square(10)), (0, square(20))], []])
    assert areas.at(0) == [0.25, None]
    assert areas.at(10)[0] == (0.25 + 0.0625) / 2  # halfway between the two keyframes
    assert areas.at(20)[0] == areas.at(35)[0] == 0.0625  # the nearest keyframe beyond them
    assert KeyframeAreas().at(3) == []
    # A frame beside the large keyframe with the large object's area is not flagged: against
    # the keyframes' mean area it would be, and a frame matching neither would look as sure.
    large = square(20)[None].astype(np.float32)
    assert frame_confidence(large, areas.at(1)[:1]) > 0.99
    assert frame_confidence(large, [(0.25 + 0.0625) / 2]) < 0.9


def test_a_hidden_or_doubled_object_scores_lower_than_a_normal_frame(tmp_path):
    frames, labels = make_clip(num_frames=10, height=96, width=128, seed=3)
    background = np.where(labels[9][..., None] == 0, frames[9], frames[0])
    hidden = background.copy()  # the object walked out of the frame
    doubled = frames[3].copy()  # a look-alike beside the object
    ys, xs = np.nonzero(labels[3])
    doubled[ys, np.clip(xs + 50, 0, 127)] = frames[3][ys, xs]
    write_image_folder(tmp_path / "clip", np.concatenate([frames, hidden[None], doubled[None]]))
    write_mask(tmp_path / "mask.png", labels[0] * 255)
    spec = ShotSpec(
        frames=str(tmp_path / "clip"), annotations=(f"0:{tmp_path / 'mask.png'}",), steps=80
    )
    payload, _ = train_shot(prepare_shot(spec))
    renderer = ShotRenderer(payload, RenderTarget(str(tmp_path / "clip"), str(tmp_path / "out")))

    def score(frame_idx: int) -> float:
        probs = renderer.segmenter.segment_frame(frame_idx).probs
        return frame_confidence(probs, renderer.keyframe_areas.at(frame_idx))

    normal = score(3)
    assert normal > 0.6
    assert score(10) < normal - 0.2  # hidden
    assert score(11) < normal  # doubled
