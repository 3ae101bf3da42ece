"""`main.py export PROJECT`: finished mattes of a saved project, in every format."""

import cv2
import numpy as np
from PIL import Image

import main
from core.export import read_exr, read_matte
from tests.helpers import make_project
from tests.synthetic import iou


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
    assert list(read_exr(exr_out / "1_hero" / "frame_00002.exr")) == ["A"]  # Nuke: rgba.alpha
    # the multi-object file: a layer per object, Nuke's layer.channel names
    assert sorted(read_exr(exr_out / "objects" / "frame_00002.exr")) == [
        "1_hero.A",
        "2_side_kick.A",
    ]


def test_export_without_model_is_a_clear_error(tmp_path, capsys):
    folder, _ = make_project(tmp_path, train=False)
    assert main.main(["export", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "no trained model" in capsys.readouterr().err


def test_export_out_on_a_file_is_one_line_before_anything_loads(tmp_path, capsys):
    folder, _ = make_project(tmp_path, train=False)
    (tmp_path / "F").write_text("a file")
    assert main.main(["export", str(folder), "--out", str(tmp_path / "F")]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and err.count("\n") == 1  # not the missing model: checked first


def test_export_edge_matting_softens_a_wider_band(tmp_path, capsys):
    folder, labels = make_project(tmp_path)
    args = ["export", str(folder), "--format", "exr", "--first", "2", "--last", "2"]
    assert main.main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main.main([*args, "--out", str(tmp_path / "matted"), "--edge-matting", "4"]) == 0
    plain = read_exr(next((tmp_path / "plain" / "1_hero").glob("*.exr")))["A"]
    matted = read_exr(next((tmp_path / "matted" / "1_hero").glob("*.exr")))["A"]
    partial = lambda a: int(((a > 0.02) & (a < 0.98)).sum())  # noqa: E731
    assert not np.array_equal(plain, matted)
    assert iou(matted > 0.5, labels[2] == 1) > 0.6
    assert partial(matted) >= partial(plain)
