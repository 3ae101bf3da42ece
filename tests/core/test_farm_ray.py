"""Farm rendering on a local Ray cluster started by the test (skipped without Ray)."""

import json
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("ray")

import main  # noqa: E402
from core.farm.frames import chunks_of  # noqa: E402
from core.farm.model_file import load_model_file  # noqa: E402
from core.farm.ray_runner import start_ray, stop_ray  # noqa: E402
from core.farm.render import RenderTarget  # noqa: E402
from core.farm.shots import render_frames  # noqa: E402
from tests.synthetic import make_clip, write_image_folder, write_mask  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local 2-CPU Ray cluster and a shot trained once: (folder, clip, model file)."""
    folder = tmp_path_factory.mktemp("ray")
    frames, labels = make_clip(num_frames=16, height=64, width=96, num_objects=1, seed=8)
    write_image_folder(folder / "clip", frames)
    write_mask(folder / "mask.png", (labels[0] == 1).astype(np.uint8) * 255)
    model = folder / "shot.rsm"
    args = ["train", str(folder / "clip"), "--annotation", f"0:{folder / 'mask.png'}"]
    assert main.main([*args, "--weights", "imagenet", "--steps", "20", "--model", str(model)]) == 0
    start_ray("auto", num_cpus=2)
    yield folder, folder / "clip", model
    stop_ray()


def images(out):
    return {p.name: cv2.imread(str(p), -1) for p in sorted(out.glob("*.png"))}


def test_chunks_rendered_on_ray_equal_the_single_process_render(cluster, capsys):
    folder, clip, model = cluster
    local, farm = folder / "local", folder / "farm"
    base = ["segment", str(clip), "--model", str(model)]
    assert main.main([*base, "--out", str(local)]) == 0
    assert main.main([*base, "--out", str(farm), "--ray", "auto", "--chunk", "3"]) == 0
    assert "rendered 16/16 frames" in capsys.readouterr().out
    expected, got = images(local), images(farm)
    assert sorted(got) == sorted(expected) and len(got) == 16
    assert all(np.array_equal(got[name], expected[name]) for name in expected)
    assert (farm / "scores.csv").read_text() == (local / "scores.csv").read_text()


def test_a_worker_killed_mid_chunk_is_retried_and_every_frame_is_written_once(cluster):
    folder, clip, model = cluster
    out = folder / "killed"
    out.mkdir()
    payload, _ = load_model_file(model)
    target = RenderTarget(str(clip), str(out), threads=1)
    killed = []

    def kill_a_rendering_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if any(out.glob("*.png")):  # a chunk is under way: kill whoever renders
                result = subprocess.run(["pkill", "-9", "-f", "ray::render_chunk"], check=False)
                if result.returncode == 0:
                    killed.append(time.monotonic())
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_rendering_worker)
    killer.start()
    reports = list(render_frames(payload, target, chunks_of(list(range(16)), 8), on_ray=True))
    killer.join()
    assert killed, "no rendering worker was found to kill"
    assert sorted(f for r in reports for f in r.frames) == list(range(16))  # each chunk once
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(p.name for p in clip.iterdir()), "scores.csv"])  # no extras
    rendered = images(out)
    reference = images(folder / "local") if (folder / "local").exists() else rendered
    assert all(np.array_equal(rendered[n], reference[n]) for n in rendered)


def test_a_render_queue_on_ray_trains_each_shot_once_and_survives_a_bad_one(cluster, capsys):
    folder, clip, _ = cluster
    queue = {
        "shots": [
            {"name": "good", "frames": "clip", "annotations": ["0:mask.png"], "out": "q/good",
             "steps": 10, "weights": "imagenet", "frames_range": "5-9", "chunk": 2},
            {"name": "bad", "frames": "no-such-clip", "annotations": ["0:mask.png"], "out": "q/bad"},
        ]
    }  # fmt: skip
    (folder / "queue.json").write_text(json.dumps(queue))
    assert main.main(["render-queue", str(folder / "queue.json"), "--ray", "auto"]) == 1
    out = capsys.readouterr().out
    assert "good  5 frames of 1 object(s)" in out and "bad   failed to train" in out
    assert len(list((folder / "q" / "good").glob("*.png"))) == 5
    assert not (folder / "q" / "bad").exists()
