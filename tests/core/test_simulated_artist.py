"""The simulated-artist benchmark's robots and rounds (bench/simulated_artist.py)."""

import numpy as np

from bench.artist_robots import frame_robot, largest_region, stroke_robot
from bench.simulated_artist import simulate
from core.confidence import least_confident
from core.model.build import build_model
from core.shot.presets import recipe_for
from core.shot.session import ShotSession
from core.video import open_frames
from tests.synthetic import make_clip, write_image_folder


def test_least_confident_skips_keyframes_and_prefers_the_earliest_tie():
    scores = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.3}
    assert least_confident(scores) == 0
    assert least_confident(scores, skip=[0]) == 2
    assert least_confident(scores, skip=scores) is None


def test_robots_fix_the_largest_errors_only():
    truth = np.zeros((60, 80), bool)
    truth[10:40, 10:40] = True
    result = truth.copy()
    result[10:40, 25:40] = False  # a large miss
    result[50:58, 60:75] = True  # a large wrong region
    result[2:4, 70:72] = True  # a tiny wrong speck the artist leaves alone
    assert (frame_robot(result, truth)[0] == truth).all()
    fixed, painted = stroke_robot(result, truth, brush_px=5)
    assert (painted == (fixed != result)).all()  # what the robot painted, and only that
    assert fixed[12:38, 27:38].all()  # the miss, painted in
    assert not fixed[52:56, 62:73].any()  # the wrong region, painted out
    assert fixed[2:4, 70:72].all()  # too small to notice: kept
    assert (
        largest_region(result & ~truth) == (result & ~truth & (np.arange(60) > 40)[:, None])
    ).all()


def test_a_correction_round_raises_the_score_on_a_synthetic_clip(tmp_path):
    frames, labels = make_clip(num_frames=10, height=96, width=128, seed=5)
    write_image_folder(tmp_path / "clip", frames)
    parent, info = build_model(weights="parent")
    truths = [label > 0 for label in labels]
    for robot, chooser in ((frame_robot, "oracle"), (stroke_robot, "tool")):
        session = ShotSession(
            open_frames(tmp_path / "clip"),
            parent,
            info,
            recipes=lambda p: recipe_for(p).with_overrides(steps=10, views_per_frame=2),
        )
        rounds = list(simulate(session, truths, robot, chooser, rounds=1))
        assert [r.keyframes for r in rounds] == [1, 2]
        assert rounds[0].chosen > 0
        assert rounds[1].J > rounds[0].J
        assert rounds[1].latency_s > 0 and np.isnan(rounds[0].latency_s)
