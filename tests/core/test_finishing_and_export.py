"""Matte finishing, contour snapping, vectorising and every export format, re-read and compared."""

import cv2
import numpy as np
import pytest

from core.contours import mask_to_polygons, polygons_to_mask, snap_to_contours
from core.errors import RotoshotError
from core.export import (
    cutout_rgba,
    import_matte_sequence,
    read_exr,
    read_matte,
    write_cutout,
    write_label_png,
    write_matte,
)
from core.matte import FinishSettings, finish_matte, temporal_smooth
from core.metrics import boundary_f_measure
from tests.synthetic import textured_background


def blob(height=120, width=160):
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (80, 60), (45, 30), 15, 0, 360, 1, -1)
    return mask > 0


def test_finish_threshold_grow_shrink_feather():
    prob = blob().astype(np.float32) * 0.8
    base = finish_matte(prob, FinishSettings())
    assert set(np.unique(base)) == {0.0, 1.0}
    grown = finish_matte(prob, FinishSettings(grow_px=3))
    shrunk = finish_matte(prob, FinishSettings(grow_px=-3))
    assert shrunk.sum() < base.sum() < grown.sum()
    assert finish_matte(prob, FinishSettings(threshold=0.9)).sum() == 0
    soft = finish_matte(prob, FinishSettings(feather_px=6))
    assert 0 < ((soft > 0.01) & (soft < 0.99)).sum()  # a soft edge
    assert soft[60, 80] == pytest.approx(1.0, abs=1e-3)


def test_fill_holes_and_remove_specks():
    mask = blob()
    mask[55:60, 75:80] = False  # a 25 px hole
    mask[5:7, 5:7] = True  # a 4 px speck
    out = finish_matte(
        mask.astype(np.float32), FinishSettings(fill_holes_px=50, remove_specks_px=10)
    )
    assert out[57, 77] == 1.0 and out[5, 5] == 0.0
    kept = finish_matte(mask.astype(np.float32), FinishSettings())
    assert kept[57, 77] == 0.0 and kept[5, 5] == 1.0


def test_temporal_smoothing_averages_neighbours():
    probs = [np.full((2, 2), v, np.float32) for v in (0.0, 1.0, 0.0)]
    assert temporal_smooth(probs, 1, 1)[0, 0] == pytest.approx(1 / 3)
    assert temporal_smooth(probs, 1, 0)[0, 0] == 1.0


def test_snapping_raises_boundary_f_of_a_blurred_mask():
    rng = np.random.default_rng(0)
    truth = blob()
    image = textured_background(rng, 120, 160)
    image[truth] = (230, 60, 40)
    # the network's kind of error: a smooth, slightly bloated outline
    blurred = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 4) > 0.3
    blurred = cv2.dilate(blurred.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    snapped = snap_to_contours(blurred, image)
    assert boundary_f_measure(snapped, truth) > boundary_f_measure(blurred, truth) + 0.1
    assert not snap_to_contours(np.zeros_like(truth), image).any()


def test_vectorise_rasterise_round_trip_within_one_pixel():
    mask = blob()
    mask[50:70, 70:90] = False  # a hole
    polygons = mask_to_polygons(mask, tolerance_px=0.5)
    back = polygons_to_mask(polygons, *mask.shape)
    ring = cv2.dilate((mask ^ back).astype(np.uint8), np.ones((1, 1), np.uint8)) > 0
    edge = (
        cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    )
    assert (ring & ~edge).sum() == 0  # every difference lies on the 1 px boundary band
    assert (mask ^ back).sum() < 0.05 * mask.sum()


@pytest.mark.parametrize(
    "fmt, ext, dtype, top",
    [
        ("png8", ".png", np.uint8, 255),
        ("png16", ".png", np.uint16, 65535),
        ("tiff16", ".tif", np.uint16, 65535),
    ],
)
def test_matte_formats_bit_depth(tmp_path, fmt, ext, dtype, top):
    alpha = np.linspace(0, 1, 64 * 32, dtype=np.float32).reshape(32, 64)
    path = tmp_path / f"shot.0001{ext}"
    write_matte(path, alpha, fmt)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == dtype and raw.shape == (32, 64)
    assert np.abs(read_matte(path) - alpha).max() <= 0.5 / top + 1e-6


def test_exr_half_with_object_named_channels(tmp_path):
    alpha = np.linspace(0, 1, 32 * 16, dtype=np.float32).reshape(16, 32)
    path = tmp_path / "shot.0001.exr"
    write_matte(path, alpha, "exr", channel="hero")
    channels = read_exr(path)
    assert list(channels) == ["hero"]
    assert np.abs(channels["hero"] - alpha).max() < 1e-3  # half precision
    assert np.abs(read_matte(path) - alpha).max() < 1e-3


def test_cutout_premultiplication(tmp_path):
    image = np.full((4, 4, 3), 200, np.uint8)
    alpha = np.full((4, 4), 0.5, np.float32)
    straight = cutout_rgba(image, alpha, premultiplied=False)
    premult = cutout_rgba(image, alpha, premultiplied=True)
    assert straight[0, 0, 0] == pytest.approx(200 / 255)
    assert premult[0, 0, 0] == pytest.approx(200 / 255 * 0.5)
    assert premult[0, 0, 3] == straight[0, 0, 3] == 0.5
    write_cutout(tmp_path / "c.png", image, alpha, premultiplied=True)
    rgba = cv2.cvtColor(
        cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA
    )
    assert tuple(rgba[0, 0]) == (100, 100, 100, 128)
    write_cutout(tmp_path / "c.exr", image, alpha, premultiplied=False)
    channels = read_exr(tmp_path / "c.exr")
    assert sorted(channels) == ["A", "B", "G", "R"] and channels["R"][0, 0] == pytest.approx(
        200 / 255, abs=1e-3
    )


def test_indexed_label_png(tmp_path):
    from PIL import Image

    labels = np.array([[0, 1], [2, 1]], np.uint8)
    write_label_png(tmp_path / "l.png", labels, {1: (255, 0, 0), 2: (0, 0, 255)})
    with Image.open(tmp_path / "l.png") as image:
        assert image.mode == "P"
        assert np.array_equal(np.asarray(image), labels)
        assert image.getpalette()[3:9] == [255, 0, 0, 0, 0, 255]


def test_png_import_export_identity(tmp_path):
    stems = ["shot.0001", "shot.0002", "shot.0003"]
    rng = np.random.default_rng(2)
    masks = [rng.random((20, 30)) > 0.5 for _ in stems]
    for stem, mask in zip(stems, masks, strict=True):
        write_matte(tmp_path / f"{stem}.png", mask.astype(np.float32), "png8")
    imported = import_matte_sequence(tmp_path, stems)
    out = tmp_path / "again"
    out.mkdir()
    for frame_idx, mask in imported.items():
        write_matte(out / f"{stems[frame_idx]}.png", mask.astype(np.float32), "png8")
    for stem in stems:
        assert (tmp_path / f"{stem}.png").read_bytes() == (out / f"{stem}.png").read_bytes()
    with pytest.raises(RotoshotError, match="named after"):
        import_matte_sequence(tmp_path, ["other.0001"])


def test_failed_write_names_the_file(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")  # a write "into" a file fails for root too (unlike chmod)
    with pytest.raises(RotoshotError, match="cannot write .*shot.0001.png"):
        write_matte(not_a_folder / "shot.0001.png", np.zeros((4, 4), np.float32), "png8")


@pytest.mark.parametrize("codec, ext", [("h264", ".mp4"), ("prores4444", ".mov")])
def test_preview_video_round_trip(tmp_path, codec, ext):
    import av

    from core.export import PreviewVideoWriter

    path = tmp_path / f"preview{ext}"
    writer = PreviewVideoWriter(path, fps=24, size=(64, 48), codec=codec)
    for t in range(5):
        frame = np.zeros((48, 64, 4 if codec == "prores4444" else 3), np.uint8)
        frame[:, : 10 + 8 * t] = 255
        writer.write(frame)
    writer.close()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ("h264" if codec == "h264" else "prores")
        decoded = [f.to_ndarray(format="rgba") for f in container.decode(stream)]
    assert len(decoded) == 5
    assert decoded[2][:, :20, 0].mean() > 200 and decoded[2][:, 40:, 0].mean() < 50
    if codec == "prores4444":
        assert (
            decoded[4][:, :30, 3].mean() > 200 and decoded[4][:, 60:, 3].mean() < 50
        )  # alpha kept


def test_a_soft_matte_keeps_the_network_edge_and_the_finished_shape():
    from core.matte import SOFT_EDGE_PX

    yy, xx = np.mgrid[0:60, 0:80]
    prob = np.clip(1.0 - np.hypot(yy - 30, xx - 40) / 40.0, 0, 1).astype(np.float32)  # a soft blob
    prob[5, 5] = 0.9  # a speck
    settings = FinishSettings(remove_specks_px=4)
    hard = finish_matte(prob, settings)
    soft = finish_matte(prob, settings, soft=True)
    assert set(np.unique(hard)) == {0.0, 1.0}
    assert ((soft > 0) & (soft < 1)).sum() > 20  # graded at the edge
    assert np.array_equal(soft > 0.5, hard > 0.5)  # same shape at the threshold
    assert soft[5, 5] == 0.0  # the removed speck stays removed
    far = cv2.distanceTransform((hard == 0).astype(np.uint8), cv2.DIST_L2, 3) > SOFT_EDGE_PX + 1
    assert (soft[far] == 0).all()  # soft only near the finished edge
    grown = finish_matte(prob, FinishSettings(grow_px=2), soft=True)
    assert set(np.unique(grown)) == {0.0, 1.0}  # a grown edge is not the network's: hard


def test_preview_movies_are_named_for_what_they_hold():
    from core.export_job import preview_file_name

    assert preview_file_name("overlay", "h264") == "preview_overlay.mp4"
    assert preview_file_name("matte", "h264") == "preview_matte.mp4"
    assert preview_file_name("overlay", "prores4444") == "shot_with_matte_alpha.mov"
