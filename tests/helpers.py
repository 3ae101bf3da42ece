"""Helpers shared by test modules (test modules never import each other)."""

from __future__ import annotations

import numpy as np

import main
from core.annotations import AnnotationStore
from core.matte import FinishSettings
from core.model.build import build_model, save_checkpoint
from core.project import Project, save_annotations, save_manifest
from core.training import FineTuneConfig, TrainingSample, fine_tune, run_to_end
from tests.synthetic import make_clip, write_image_folder


class ArraySource:
    """A FrameSource stand-in over an in-memory array of (H, W, 3) uint8 frames."""

    def __init__(self, frames):
        self.frames = frames
        self.stems = [f"f{i:04d}" for i in range(len(frames))]
        self.fps = 25.0

    def __len__(self):
        return len(self.frames)

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def read(self, i):
        return self.frames[i]

    def close(self) -> None:
        pass


def run_cli(args, capsys):
    """main.main(args) -> (exit code, stdout, stderr)."""
    code = main.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def segment_one(folder, out, capsys, *extra):
    """Run `segment` on folder/frames with folder/one.png on frame 0 (ImageNet weights)."""
    mask = folder / "one.png"
    args = ["segment", str(folder / "frames"), "--annotation", f"0:{mask}", "--out", str(out)]
    return run_cli([*args, "--weights", "imagenet", *extra], capsys)


def make_project(tmp_path, *, train=True):
    """A saved two-object project ("hero", "side kick") on a 6-frame clip, trained unless
    `train` is False. Returns (project folder, labels (T, H, W))."""
    frames, labels = make_clip(num_frames=6, height=96, width=128, num_objects=2, seed=6)
    write_image_folder(tmp_path / "clip", frames)
    project = Project(str(tmp_path / "clip"))
    project.objects.append(project.next_object("hero"))
    project.objects.append(project.next_object("side kick"))
    project.objects[0].finish = FinishSettings(grow_px=1)
    store = AnnotationStore((128, 96))
    store.set(1, 0, labels[0] == 1)
    store.set(2, 0, labels[0] == 2)
    folder = tmp_path / "shot"
    save_manifest(folder, project)
    save_annotations(folder, store)
    if not train:
        return folder, labels
    model, _ = build_model(weights="imagenet")
    masks = np.stack([labels[0] == 1, labels[0] == 2])
    run_to_end(
        fine_tune(
            model,
            [TrainingSample(frames[0], masks, np.ones(2, bool))],
            FineTuneConfig(steps=120, views_per_frame=6),
        )
    )
    save_checkpoint(model, folder / "model.pt", extra={"object_ids": [1, 2]})
    return folder, labels
