"""Farm rendering on a local Ray cluster (skipped without Ray). Every Ray run is a real
`main.py` process that starts its own 2-CPU cluster, as a farm job would, so the test process
itself never starts Ray."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("ray")

import main  # noqa: E402
from tests.synthetic import make_clip, write_image_folder, write_mask  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def rotoshot(*args: str) -> subprocess.CompletedProcess:
    """Run main.py in its own process; its output as text."""
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    command = [sys.executable, str(ROOT / "main.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A shot trained once (without Ray): (folder, clip, model file)."""
    folder = tmp_path_factory.mktemp("ray")
    frames, labels = make_clip(num_frames=16, height=64, width=96, num_objects=1, seed=8)
    write_image_folder(folder / "clip", frames)
    write_mask(folder / "mask.png", (labels[0] == 1).astype(np.uint8) * 255)
    model = folder / "shot.rsm"
    args = ["train", str(folder / "clip"), "--annotation", f"0:{folder / 'mask.png'}"]
    assert main.main([*args, "--weights", "imagenet", "--steps", "20", "--model", str(model)]) == 0
    return folder, folder / "clip", model


def images(out):
    return {p.name: cv2.imread(str(p), -1) for p in sorted(out.glob("*.png"))}


def test_chunks_rendered_on_ray_equal_the_single_process_render(cluster):
    folder, clip, model = cluster
    local, farm = folder / "local", folder / "farm"
    base = ["segment", str(clip), "--model", str(model)]
    assert main.main([*base, "--out", str(local)]) == 0
    done = rotoshot(*base, "--out", str(farm), "--ray", "auto", "--ray-cpus", "2", "--chunk", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rendered 16/16 frames" in done.stdout
    expected, got = images(local), images(farm)
    assert sorted(got) == sorted(expected) and len(got) == 16
    assert all(np.array_equal(got[name], expected[name]) for name in expected)
    assert (farm / "scores.csv").read_text() == (local / "scores.csv").read_text()


def test_a_worker_killed_mid_chunk_is_retried_and_every_frame_is_written_once(cluster):
    folder, clip, model = cluster
    out = folder / "killed"
    out.mkdir()
    killed = []

    def kill_a_rendering_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if any(out.glob("*.png")):  # a chunk is under way: kill whoever renders
                result = subprocess.run(["pkill", "-9", "-f", "ray::render_chunk"], check=False)
                if result.returncode == 0:
                    killed.append(time.monotonic())
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_rendering_worker)
    killer.start()
    args = ["segment", str(clip), "--model", str(model), "--out", str(out), "--chunk", "8"]
    done = rotoshot(*args, "--ray", "auto", "--ray-cpus", "2")
    killed.append("stop")  # the render is over: stop looking
    killer.join()
    assert killed[0] != "stop", "no rendering worker was found to kill"
    assert done.returncode == 0, done.stderr[-2000:]  # the killed chunk was retried
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(p.name for p in clip.iterdir()), "scores.csv"])  # once each
    rows = (out / "scores.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(16))
    if (folder / "local").exists():
        reference = images(folder / "local")
        assert all(np.array_equal(image, reference[n]) for n, image in images(out).items())


def test_a_render_queue_on_ray_trains_each_shot_once_and_survives_a_bad_one(cluster):
    folder, clip, _ = cluster
    queue = {
        "shots": [
            {"name": "good", "frames": "clip", "annotations": ["0:mask.png"], "out": "q/good",
             "steps": 10, "weights": "imagenet", "frames_range": "5-9", "chunk": 2},
            {"name": "bad", "frames": "no-such-clip", "annotations": ["0:mask.png"], "out": "q/bad"},
        ]
    }  # fmt: skip
    (folder / "queue.json").write_text(json.dumps(queue))
    done = rotoshot("render-queue", str(folder / "queue.json"), "--ray", "auto", "--ray-cpus", "2")
    assert done.returncode == 1, done.stderr[-2000:]
    out = done.stdout
    assert "good  5 frames of 1 object(s)" in out and "bad   failed to train" in out
    assert len(list((folder / "q" / "good").glob("*.png"))) == 5
    assert not (folder / "q" / "bad").exists()
