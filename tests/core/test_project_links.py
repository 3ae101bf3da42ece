"""A project folder cannot be turned against the user: links planted inside it never redirect a
read, write, listing or delete, and a model or results cache of another training is never
taken as current."""

import os

import numpy as np
import pytest

from core.annotations import AnnotationStore
from core.errors import RotoshotError
from core.project import (
    Project,
    cached_result_frames,
    load_project,
    load_result,
    results_tag,
    save_annotation,
    save_annotations,
    save_manifest,
    save_result,
    tag_results,
)


def project_with_keyframe(folder):
    project = Project(str(folder / "clip.mp4"))
    project.objects.append(project.next_object())
    save_manifest(folder, project)
    store = AnnotationStore((20, 10))
    store.set(1, 0, np.ones((10, 20), bool))
    save_annotations(folder, store)
    return project, store


def outside_folder(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "000000.png").write_bytes(b"precious")
    (victim / "notes.txt").write_text("keep me")
    return victim


def test_a_linked_object_folder_is_neither_written_nor_cleaned_nor_read(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    project, store = project_with_keyframe(folder)
    victim = outside_folder(tmp_path)
    os.symlink(victim, folder / "annotations" / "2")
    with pytest.raises(RotoshotError, match="is a link"):
        save_annotation(folder, 2, 0, np.ones((10, 20), bool))
    # Save As cleans stale keyframes: never through the link
    with pytest.raises(RotoshotError, match="is a link"):
        save_annotations(folder, store)
    assert (victim / "000000.png").read_bytes() == b"precious"
    assert sorted(p.name for p in victim.iterdir()) == ["000000.png", "notes.txt"]
    # opening reads every real keyframe and names the link it left alone
    project.objects.append(project.next_object())
    save_manifest(folder, project)
    _, loaded = load_project(folder, size=(20, 10))
    assert loaded.frames() == [0] and loaded.object_ids() == [1]
    assert loaded.skipped == ["2/ (a link, not read)"]


def test_a_planted_manifest_link_or_temp_link_never_redirects_a_save(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    project, _ = project_with_keyframe(folder)
    target = tmp_path / "bashrc"
    target.write_text("original")
    for name in (".project.json.tmp", ".project.json.part", "project.json.tmp"):
        os.symlink(target, folder / name)
    save_manifest(folder, project)  # unique O_EXCL temp names: the planted links are not used
    assert target.read_text() == "original"
    (folder / "project.json").unlink()
    os.symlink(target, folder / "project.json")
    with pytest.raises(RotoshotError, match="is a link"):
        save_manifest(folder, project)
    with pytest.raises(RotoshotError, match="is a link"):
        load_project(folder)
    assert target.read_text() == "original"


def test_a_linked_results_cache_is_ignored_and_cleared_without_following(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    project_with_keyframe(folder)
    victim = outside_folder(tmp_path)
    os.symlink(victim, folder / "results")
    assert cached_result_frames(folder) == []
    assert load_result(folder, 0, 10) is None
    with pytest.raises(RotoshotError, match="is a link"):
        save_result(folder, 0, np.zeros((1, 10, 20), np.uint8))
    from core.project import clear_results

    clear_results(folder)
    assert not (folder / "results").exists()  # the link itself is gone ...
    assert sorted(p.name for p in victim.iterdir()) == ["000000.png", "notes.txt"]  # ... not this


def test_the_results_cache_says_which_model_it_belongs_to(tmp_path):
    assert results_tag(tmp_path) is None  # a cache of no known model
    tag_results(tmp_path, "abc", (1, 3))
    assert results_tag(tmp_path) == ("abc", (1, 3))
    (tmp_path / "results" / "model.json").write_text("{not json")
    assert results_tag(tmp_path) is None


def test_a_model_file_of_other_keyframes_is_refused(tmp_path):
    from core.model.build import build_model
    from core.shot.presets import Preset
    from core.shot.session import ShotSession
    from tests.helpers import ArraySource

    frames = np.zeros((2, 32, 32, 3), np.uint8)
    parent, info = build_model(weights="imagenet")
    session = ShotSession(ArraySource(frames), parent, info)
    session.untrained_model((1,), Preset.FAST)
    session.model = session.model.__class__(**{**session.model.__dict__, "fingerprint": "old"})
    session.save_model(tmp_path / "model.pt")
    with pytest.raises(RotoshotError, match="other keyframes"):
        session.restore_model(
            tmp_path / "model.pt", object_ids=(1,), annotations={}, fingerprint="new"
        )
    restored = session.restore_model(
        tmp_path / "model.pt", object_ids=(1,), annotations={}, fingerprint=None
    )
    assert restored.fingerprint == "old"  # the file's own, for the command line's export
