"""Project folder round trips and corrupt-project handling."""

import json

import numpy as np
import pytest

from core.annotations import AnnotationStore
from core.errors import RotoshotError
from core.project import (
    Project,
    ProjectSettings,
    cached_result_frames,
    load_project,
    load_result,
    save_annotation,
    save_annotations,
    save_manifest,
    save_result,
)


def make_store(rng):
    store = AnnotationStore((40, 30))
    store.set(1, 0, rng.random((30, 40)) > 0.5)
    store.set(1, 7, np.zeros((30, 40), bool))  # "absent here" is an annotation too
    store.set(2, 3, rng.random((30, 40)) > 0.7)
    return store


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    # the app stores the clip's absolute path (a relative one resolves against the folder)
    clip = str(tmp_path / "clip.mp4")
    project = Project(clip, settings=ProjectSettings(quality=0.4, auto_train=False))
    project.objects.append(project.next_object("hero"))
    project.objects.append(project.next_object())
    store = make_store(rng)
    save_manifest(tmp_path, project)
    save_annotations(tmp_path, store)
    loaded, loaded_store = load_project(tmp_path, size=(40, 30))
    assert loaded == project
    assert loaded_store.keys() == store.keys()
    for key in store.keys():
        assert np.array_equal(loaded_store.get(*key), store.get(*key))
    assert loaded_store.fingerprint() == store.fingerprint()


def test_deleted_annotation_stays_deleted(tmp_path):
    project = Project("clip.mp4")
    project.objects.append(project.next_object())
    save_manifest(tmp_path, project)
    save_annotation(tmp_path, 1, 4, np.ones((30, 40), bool))
    save_annotation(tmp_path, 1, 4, None)
    assert load_project(tmp_path, size=(40, 30))[1].keys() == []


def test_results_cache_round_trip(tmp_path):
    probs = (np.random.default_rng(1).random((2, 30, 40)) * 255).astype(np.uint8)
    save_result(tmp_path, 5, probs)
    assert np.array_equal(load_result(tmp_path, 5, 30), probs) and cached_result_frames(
        tmp_path
    ) == [5]
    assert load_result(tmp_path, 5, 31) is None  # mis-sized: ignored, not crashed


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "corrupt"),
        ('{"app": "other"}', "corrupt"),
        ('{"app": "rotoshot", "schema_version": 99, "source_path": "x"}', "newer"),
    ],
)
def test_corrupt_projects_are_refused(tmp_path, content, message):
    (tmp_path / "project.json").write_text(content)
    with pytest.raises(RotoshotError, match=message):
        load_project(tmp_path)


def test_missing_manifest_and_mis_sized_annotation(tmp_path):
    with pytest.raises(RotoshotError, match="not a Rotoshot project"):
        load_project(tmp_path)
    project = Project("clip.mp4")
    project.objects.append(project.next_object())
    save_manifest(tmp_path, project)
    save_annotation(tmp_path, 1, 0, np.ones((10, 10), bool))
    with pytest.raises(RotoshotError, match="10x10"):
        load_project(tmp_path, size=(40, 30))
    assert json.loads((tmp_path / "project.json").read_text())["schema_version"] == 1


def test_one_unreadable_keyframe_is_skipped_not_fatal(tmp_path):
    project = Project("clip")
    project.objects.append(project.next_object())
    save_manifest(tmp_path, project)
    for frame in (2, 5):
        save_annotation(tmp_path, 1, frame, np.ones((30, 40), bool))
    (tmp_path / "annotations" / "1" / "000005.png").write_bytes(b"")  # a power cut
    _, store = load_project(tmp_path, size=(40, 30))
    assert store.keys() == [(1, 2)] and store.skipped == ["1/000005.png"]


@pytest.mark.parametrize(
    "objects, message",
    [
        ([{"object_id": 300, "name": "a", "colour": [1, 2, 3]}], "object id 300 is out of range"),
        ([{"object_id": 1, "name": "a", "colour": [999, 0, 0]}], "colour"),
        ([{"object_id": 1, "name": "a", "colour": [1, 2]}], "colour"),
        (
            [
                {"object_id": 1, "name": "a", "colour": [1, 2, 3]},
                {"object_id": 1, "name": "b", "colour": [1, 2, 3]},
            ],
            "share an id",
        ),
    ],
)
def test_crafted_manifest_values_are_one_clear_error(tmp_path, objects, message):
    data = {"schema_version": 1, "app": "rotoshot", "source_path": "clip", "objects": objects}
    (tmp_path / "project.json").write_text(json.dumps(data))
    with pytest.raises(RotoshotError, match=message):
        load_project(tmp_path)


def test_keyframes_beyond_the_clip_are_skipped_and_a_relative_source_is_beside_the_folder(
    tmp_path,
):
    project = Project("../plates/shot")  # travelled with its plate beside it
    project.objects.append(project.next_object())
    save_manifest(tmp_path / "proj", project)
    for frame in (2, 40):
        save_annotation(tmp_path / "proj", 1, frame, np.ones((30, 40), bool))
    loaded, store = load_project(tmp_path / "proj", size=(40, 30), num_frames=10)
    assert loaded.source_path == str((tmp_path / "plates" / "shot").resolve())
    assert store.keys() == [(1, 2)] and "000040.png" in store.skipped[0]
