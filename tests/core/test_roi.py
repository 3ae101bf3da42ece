"""Region of interest (core.roi, core.resolution): the network sees only a region of the plate,
at the working size; mattes come back at the plate's size, empty outside the region."""

import numpy as np
import pytest

from core.annotations import AnnotationStore
from core.errors import RotoshotError
from core.model.build import build_model
from core.resolution import WorkingResolution
from core.roi import MIN_ROI_PX, check_roi, fit_roi, mask_extent, parse_roi
from core.shot.presets import Preset, recipe_for
from core.shot.session import ShotSession
from tests.helpers import ArraySource
from tests.synthetic import iou, make_clip


def test_a_region_is_cropped_then_brought_to_the_working_size():
    working = WorkingResolution.for_source((400, 300), 100, roi=(100, 50, 300, 150))
    assert working.size == (100, 50) and working.seen_size == (200, 100)
    assert working.scale == 0.5 and not working.is_identity
    image = np.zeros((300, 400, 3), np.uint8)
    image[50:150, 100:300] = 200  # exactly the region: the working frame is all of it
    assert working.image(image).shape == (50, 100, 3) and (working.image(image) == 200).all()
    masks = np.zeros((1, 300, 400), bool)
    masks[0, 100:150, 200:300] = True  # the region's bottom-right quarter
    small = working.masks(masks)[0]
    assert small[25:, 50:].all() and not small[:25].any() and not small[:, :50].any()
    weights = working.weights(masks.astype(np.float32))
    assert weights.shape == (1, 50, 100) and weights[0, 30, 60] == 1.0


def test_upsampled_results_are_the_plates_size_and_empty_outside_the_region():
    plate = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    for edges in ("plate", "smooth"):
        working = WorkingResolution.for_source((400, 300), 100, edges, roi=(100, 50, 300, 150))
        out = working.upsample(np.ones((2, 50, 100), np.float32), plate)
        assert out.shape == (2, 300, 400) and out.dtype == np.float32
        assert (out[:, 50:150, 100:300] > 0.99).all()
        out[:, 50:150, 100:300] = 0
        assert not out.any()
    # A region the working size does not shrink is pasted back as it is.
    native = WorkingResolution.for_source((400, 300), 1024, roi=(10, 20, 110, 120))
    assert native.size == (100, 100) and not native.is_identity
    probs = np.random.default_rng(1).random((1, 100, 100)).astype(np.float32)
    assert np.array_equal(native.upsample(probs, plate)[0, 20:120, 10:110], probs[0])


def test_the_whole_frame_is_no_region():
    assert WorkingResolution.for_source((400, 300), 1024, roi=(0, 0, 400, 300)).is_identity


def test_regions_are_checked_with_one_clear_line():
    assert check_roi((-20, 10.4, 500, 200), (400, 300)) == (0, 10, 400, 200)  # clipped
    assert parse_roi("", (400, 300)) is None
    assert parse_roi("10,20,110,120", (400, 300)) == (10, 20, 110, 120)
    bad = {
        "1,2,3": "four numbers",
        "a,b,c,d": "expected x0,y0,x1,y1",
        "100,100,50,200": "empty",
        "500,0,600,100": "outside the 400x300 frame",
        "0,0,20,200": f"smaller than {MIN_ROI_PX} px",
    }
    for text, message in bad.items():
        with pytest.raises(RotoshotError, match=message) as caught:
            parse_roi(text, (400, 300))
        assert "\n" not in str(caught.value)


def test_fitting_covers_every_mask_with_a_margin_inside_the_frame():
    first, second = np.zeros((300, 400), bool), np.zeros((300, 400), bool)
    first[100:140, 50:150] = True
    second[120:200, 250:300] = True
    assert mask_extent(first) == (50, 100, 150, 140)
    boxes = [mask_extent(m) for m in (first, second, np.zeros_like(first))]
    x0, y0, x1, y1 = fit_roi(boxes, (400, 300))
    assert (x0, y0, x1, y1) == (50 - 25, 100 - 25, 300 + 25, 200 + 25)  # 10 % of 250 px
    edge = np.zeros((300, 400), bool)
    edge[0:5, 395:400] = True  # a speck in the corner: grown to the smallest region, inside
    x0, y0, x1, y1 = fit_roi([mask_extent(edge)], (400, 300))
    assert x1 == 400 and y0 == 0 and x1 - x0 >= MIN_ROI_PX and y1 - y0 >= MIN_ROI_PX
    assert fit_roi([mask_extent(np.zeros((300, 400), bool))], (400, 300)) is None


def _short(preset):
    return recipe_for(preset).with_overrides(steps=30, views_per_frame=3)


@pytest.fixture(scope="module")
def small_object_plate():
    """A 128x96 clip set into a 512x384 grey plate at (200, 150): a small object in a large
    frame, as a bird in a 4K plate."""
    frames, labels = make_clip(num_frames=6, height=96, width=128, seed=4)
    plate = np.full((len(frames), 384, 512, 3), 128, np.uint8)
    plate_labels = np.zeros((len(frames), 384, 512), labels.dtype)
    plate[:, 150:246, 200:328] = frames
    plate_labels[:, 150:246, 200:328] = labels
    return plate, plate_labels


def _trained(plate, labels, roi):
    parent, info = build_model(weights="imagenet")
    session = ShotSession(
        ArraySource(plate), parent, info, recipes=_short, working_long_side=128, roi=roi
    )
    store = AnnotationStore((512, 384))
    store.set(1, 0, labels[0] == 1)
    list(session.train(session.train_job(store, Preset.FAST, preview=False)))
    return session


def test_a_region_segments_a_small_object_better_than_the_whole_frame(small_object_plate, tmp_path):
    plate, labels = small_object_plate
    roi = (190, 140, 338, 256)  # drawn around where the object moves
    in_region = _trained(plate, labels, roi)
    assert in_region.working.roi == roi and in_region.working.scale > 0.5
    whole = _trained(plate, labels, None)
    assert whole.working.scale == 0.25
    scores = {}
    for name, session in (("roi", in_region), ("whole", whole)):
        results = [session.segmenter().segment_frame(f) for f in range(1, 6)]
        scores[name] = np.mean([iou(r.labels == 1, labels[r.frame_idx] == 1) for r in results])
        assert results[0].probs.shape == (1, 384, 512)
    x0, y0, x1, y1 = roi
    outside = in_region.segmenter().segment_frame(3).probs[0].copy()
    outside[y0:y1, x0:x1] = 0
    assert not outside.any()
    assert scores["roi"] > 0.6 and scores["roi"] > scores["whole"] + 0.05, scores

    # A model knows the region it learnt in: another region (or none) must train again.
    in_region.save_model(tmp_path / "model.pt")
    with pytest.raises(RotoshotError, match="trained on the region"):
        whole.restore_model(
            tmp_path / "model.pt", object_ids=(1,), annotations={}, fingerprint=None
        )


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from tests.synthetic import write_image_folder, write_mask

    folder = tmp_path_factory.mktemp("roi_clip")
    frames, labels = make_clip(num_frames=4, height=96, width=128, seed=5)
    write_image_folder(folder / "frames", frames)
    write_mask(folder / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    return folder


@pytest.mark.parametrize(
    "roi, message",
    [
        ("200,10,300,50", "outside the 128x96 frame"),
        ("0,0,20,20", "smaller than"),
        ("1,2,3", "four numbers"),
        ("left,top,right,bottom", "expected x0,y0,x1,y1"),
    ],
)
def test_a_bad_roi_on_the_command_line_gives_one_clear_line(
    clip_dir, tmp_path, capsys, roi, message
):
    from tests.helpers import run_cli

    args = ["segment", str(clip_dir / "frames"), "--annotation", f"0:{clip_dir / 'one.png'}"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "o"), "--roi", roi], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("rotoshot: error:"), err
    assert message in lines[0]


def test_the_command_line_renders_in_a_region_and_the_model_file_keeps_it(
    clip_dir, tmp_path, capsys
):
    from core.farm.model_file import load_model_file
    from tests.helpers import run_cli

    model = tmp_path / "shot.rsm"
    args = ["train", str(clip_dir / "frames"), "--annotation", f"0:{clip_dir / 'one.png'}"]
    code, out, err = run_cli(
        [*args, "--model", str(model), "--roi", "0,0,96,80", "--steps", "5"], capsys
    )
    assert code == 0, err
    assert "of the region 0,0,96,80" in out + err
    assert load_model_file(model)[1].roi == (0, 0, 96, 80)
    mattes = tmp_path / "mattes"
    code, _, err = run_cli(
        ["segment", str(clip_dir / "frames"), "--model", str(model), "--out", str(mattes)], capsys
    )
    assert code == 0, err
    import cv2

    for path in sorted(mattes.glob("*.png"))[1:]:
        matte = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert matte.shape == (96, 128) and not matte[80:].any() and not matte[:, 96:].any()


def test_a_project_keeps_its_region_and_ignores_a_bad_one(tmp_path):
    import json

    from core.project import MANIFEST, Project, load_project, save_manifest

    project = Project("clip")
    project.settings.roi = [10, 20, 110, 90]
    save_manifest(tmp_path, project)
    assert load_project(tmp_path, size=(128, 96))[0].settings.roi == [10, 20, 110, 90]
    for bad in ([10, 20, 110], [10, 20, 500, 600, 7], ["a", 1, 2, 3], [200, 0, 300, 50], True):
        data = json.loads((tmp_path / MANIFEST).read_text())
        data["settings"]["roi"] = bad
        (tmp_path / MANIFEST).write_text(json.dumps(data))
        assert load_project(tmp_path, size=(128, 96))[0].settings.roi == []


def test_a_box_prompt_looks_in_the_whole_frame_whatever_the_region():
    from core.box_prompt import box_to_mask
    from core.guidance import bounding_box
    from core.model.build import GUIDED_PARENT_WEIGHTS

    if not GUIDED_PARENT_WEIGHTS.exists():
        pytest.skip("no shipped guided parent")
    frames, labels = make_clip(num_frames=1, height=288, width=384, seed=7)
    model, _ = build_model(weights="guided")
    x0, y0, x1, y1 = bounding_box(labels[0] == 1)
    box = (x0 - 8, y0 - 8, x1 + 8, y1 + 8)
    far = (0, 0, 64, 64) if x0 > 100 else (300, 200, 384, 288)  # a region away from the box
    source = ArraySource(frames)
    plain, how = box_to_mask(
        model, source, 0, box, working=WorkingResolution.for_source((384, 288))
    )
    regional, how_regional = box_to_mask(
        model, source, 0, box, working=WorkingResolution.for_source((384, 288), roi=far)
    )
    assert how == how_regional == "network" and np.array_equal(plain, regional)
    assert iou(regional, labels[0] == 1) > 0.7


def test_an_object_painted_only_outside_the_region_says_so():
    from core.shot.samples import build_samples

    frames, labels = make_clip(num_frames=2, height=96, width=128, seed=5)
    store = AnnotationStore((128, 96))
    mask = np.zeros((96, 128), bool)
    mask[70:90, 100:120] = True  # bottom right, outside the region below
    store.set(1, 0, mask)
    working = WorkingResolution.for_source((128, 96), roi=(0, 0, 80, 64))
    with pytest.raises(RotoshotError, match="outside the region of interest"):
        build_samples(store, ArraySource(frames), [1], working=working)
    build_samples(store, ArraySource(frames), [1])  # the whole frame: fine
