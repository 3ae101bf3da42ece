"""`main.py export PROJECT`: finished mattes of a saved project, in every format."""

import cv2
import numpy as np
from PIL import Image

import main
from core.annotations import AnnotationStore
from core.export import read_exr, read_matte
from core.matte import FinishSettings
from core.model.build import build_model, save_checkpoint
from core.project import Project, save_annotations, save_manifest
from core.training import FineTuneConfig, TrainingSample, fine_tune, run_to_end
from tests.synthetic import iou, make_clip, write_image_folder


def make_project(tmp_path, *, train=True):
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


def test_export_project_png16_exr_cutouts_labels(tmp_path, capsys):
    folder, labels = make_project(tmp_path)
    out = tmp_path / "out"
    assert (
        main.main(
            [
                "export",
                str(folder),
                "--out",
                str(out),
                "--format",
                "png16",
                "--cutouts",
                "--first",
                "1",
                "--last",
                "4",
            ]
        )
        == 0
    )
    hero = sorted((out / "1_hero").glob("*.png"))
    assert [p.stem for p in hero] == [f"frame_{i:05d}" for i in range(1, 5)]
    assert cv2.imread(str(hero[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert iou(read_matte(hero[2]) > 0.5, labels[3] == 1) > 0.6
    assert len(list((out / "2_side_kick_rgba").glob("*.png"))) == 4
    with Image.open(out / "labels" / "frame_00002.png") as image:  # indexed PNG: read the ids
        label_map = np.asarray(image)
    assert set(np.unique(label_map)) <= {0, 1, 2}
    exr_out = tmp_path / "exr"
    assert (
        main.main(
            [
                "export",
                str(folder),
                "--out",
                str(exr_out),
                "--format",
                "exr",
                "--temporal",
                "1",
                "--first",
                "2",
                "--last",
                "2",
            ]
        )
        == 0
    )
    assert list(read_exr(exr_out / "1_hero" / "frame_00002.exr")) == ["1_hero"]
    assert sorted(read_exr(exr_out / "objects" / "frame_00002.exr")) == ["1_hero", "2_side_kick"]


def test_export_without_model_is_a_clear_error(tmp_path, capsys):
    folder, _ = make_project(tmp_path, train=False)
    assert main.main(["export", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "no trained model" in capsys.readouterr().err
