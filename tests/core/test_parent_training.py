"""Parent training on a synthetic DAVIS-layout folder: loss falls, checkpoints load, resume works,
broken weights are refused and the engine falls back to ImageNet-only with a warning."""

import json

import numpy as np
import pytest
import torch

from core.errors import RotoshotError
from core.model.build import DEFAULT_PARENT_WEIGHTS, build_model, load_checkpoint, sha256_of
from core.parent_training import ParentTrainConfig, train_parent
from tests.synthetic import make_clip, write_image_folder, write_mask


@pytest.fixture(scope="module")
def davis_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    for seq, seed in (("alpha", 0), ("beta", 1)):
        frames, labels = make_clip(num_frames=4, height=96, width=128, seed=seed)
        paths = write_image_folder(root / "JPEGImages" / "480p" / seq, frames, ext=".jpg")
        for path, label in zip(paths, labels, strict=True):
            write_mask(root / "Annotations" / "480p" / seq / f"{path.stem}.png", (label > 0) * 255)
    return root


def small_config(**overrides):
    base = dict(minutes=5, batch_size=2, crop=64, max_steps=30, checkpoint_minutes=100)
    base.update(overrides)
    return ParentTrainConfig(**base)


def test_training_lowers_loss_and_writes_strict_checkpoint(davis_dir, tmp_path):
    out = tmp_path / "parent.pt"
    progress = list(train_parent(davis_dir, out, small_config()))
    assert len(progress) == 30
    losses = [p.loss for p in progress]
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    model, info = build_model(weights=out)  # strict load; raises on any mismatch
    assert info.source == "parent"
    payload = load_checkpoint(out)
    assert all(
        v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point()
    )


def test_resume_continues_from_last_step(davis_dir, tmp_path):
    out = tmp_path / "parent.pt"
    list(train_parent(davis_dir, out, small_config(max_steps=5)))
    state = load_checkpoint(out.with_name("parent.pt.ckpt"))
    assert state["extra"]["step"] == 5
    resumed = list(train_parent(davis_dir, out, small_config(max_steps=8)))
    assert [p.step for p in resumed] == [6, 7, 8]


def test_corrupt_and_mismatched_checkpoints_are_refused(davis_dir, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(RotoshotError, match="cannot read weights"):
        build_model(weights=corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save(
        {
            "format": "rotoshot-osvos",
            "backbone": "efficientnet-lite0",
            "state_dict": {"x": torch.zeros(1)},
        },
        foreign,
    )
    with pytest.raises(RotoshotError, match="do not match"):
        build_model(weights=foreign)
    not_ours = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    with pytest.raises(RotoshotError, match="not a Rotoshot checkpoint"):
        build_model(weights=not_ours)


def test_broken_default_parent_falls_back_to_imagenet(monkeypatch, tmp_path, caplog):
    broken = tmp_path / "parent_lite0.pt"
    broken.write_bytes(b"broken")
    monkeypatch.setattr("core.model.build.DEFAULT_PARENT_WEIGHTS", broken)
    model, info = build_model(weights="parent")
    assert info.source == "imagenet"
    assert "ImageNet-only" in info.warning
    assert any("ImageNet-only" in r.message for r in caplog.records)


def test_bad_data_folder(tmp_path):
    with pytest.raises(RotoshotError, match="DAVIS-layout"):
        list(train_parent(tmp_path, tmp_path / "p.pt", small_config()))


@pytest.mark.skipif(not DEFAULT_PARENT_WEIGHTS.exists(), reason="no shipped parent weights")
def test_shipped_parent_weights_match_their_hash():
    manifest = json.loads(DEFAULT_PARENT_WEIGHTS.with_suffix(".json").read_text())
    assert sha256_of(DEFAULT_PARENT_WEIGHTS) == manifest["sha256"]
    assert DEFAULT_PARENT_WEIGHTS.stat().st_size <= 25 * 1024 * 1024
    model, info = build_model()
    assert info.source == "parent" and not info.warning


@pytest.mark.skipif(not DEFAULT_PARENT_WEIGHTS.exists(), reason="no shipped parent weights")
@pytest.mark.parametrize("checksum", ["missing", "corrupt", "no hash", "wrong hash"])
def test_the_shipped_parent_check_fails_closed(monkeypatch, tmp_path, checksum):
    """Without a valid matching checksum the shipped weights are never read: ImageNet-only, with
    a warning that says why."""
    import shutil

    import core.model.build as build

    weights = tmp_path / "parent_lite0.pt"
    shutil.copyfile(DEFAULT_PARENT_WEIGHTS, weights)
    manifest = weights.with_suffix(".json")
    if checksum == "corrupt":
        manifest.write_text("{not json")
    elif checksum == "no hash":
        manifest.write_text(json.dumps({"file": "parent_lite0.pt"}))
    elif checksum == "wrong hash":
        manifest.write_text(json.dumps({"sha256": "0" * 64}))
    monkeypatch.setattr(build, "DEFAULT_PARENT_WEIGHTS", weights)
    read = []
    monkeypatch.setattr(build, "load_checkpoint", lambda path: read.append(path))
    model, info = build.build_model()
    assert info.source == "imagenet" and not read  # never loaded
    assert "parent_lite0" in info.warning and "ImageNet" in info.warning


@pytest.mark.skipif(not DEFAULT_PARENT_WEIGHTS.exists(), reason="no shipped parent weights")
def test_the_shipped_parent_with_its_checksum_loads():
    _, info = build_model()
    assert info.source == "parent" and not info.warning


@pytest.mark.parametrize("share", ["1.5", "-0.1"])
def test_a_still_share_outside_0_to_1_is_one_clear_line(davis_dir, tmp_path, capsys, share):
    from tests.helpers import run_cli

    args = ["train-parent", "--data", str(davis_dir), "--out", str(tmp_path / "p.pt")]
    code, _, err = run_cli([*args, "--still-share", share, "--max-steps", "1"], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--still-share must be between 0 and 1" in lines[0], err
    assert not (tmp_path / "p.pt").exists()


def test_a_parent_on_another_backbone_from_the_cli(davis_dir, tmp_path, capsys):
    from tests.helpers import run_cli

    out = tmp_path / "p.pt"
    args = ["train-parent", "--data", str(davis_dir), "--out", str(out), "--max-steps", "1"]
    code, _, err = run_cli([*args, "--backbone", "efficientnet-lite2"], capsys)
    assert code == 0, err
    model, info = build_model(weights=out)
    assert info.source == "parent" and model.backbone_name == "efficientnet-lite2"


def test_backbone_and_init_together_are_one_clear_line(davis_dir, tmp_path, capsys):
    from tests.helpers import run_cli

    args = ["train-parent", "--data", str(davis_dir), "--out", str(tmp_path / "p.pt")]
    args += ["--backbone", "efficientnet-lite1", "--init", "parent", "--max-steps", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--backbone or --init" in lines[0], err
    assert not (tmp_path / "p.pt").exists()


def test_held_out_sequences_are_left_out_of_the_training_data(davis_dir):
    from core.parent_training import load_davis_folder

    assert [c.name for c in load_davis_folder(davis_dir)] == ["alpha", "beta"]
    assert [c.name for c in load_davis_folder(davis_dir, exclude=("alpha",))] == ["beta"]


def test_a_parent_with_a_held_out_sequence_from_the_cli(davis_dir, tmp_path, capsys, caplog):
    from tests.helpers import run_cli

    out = tmp_path / "p.pt"
    args = ["train-parent", "--data", str(davis_dir), "--out", str(out), "--max-steps", "1"]
    with caplog.at_level("INFO", logger="core.parent_training"):
        code, _, err = run_cli([*args, "--hold-out", "beta", "--seed", "3"], capsys)
    assert code == 0, err
    assert "parent data: 1 sequences, 4 frames, seed 3" in caplog.text
    assert "held out: beta" in caplog.text
    assert build_model(weights=out)[1].source == "parent"


def test_a_misspelt_held_out_sequence_is_one_clear_line(davis_dir, tmp_path, capsys):
    from tests.helpers import run_cli

    args = ["train-parent", "--data", str(davis_dir), "--out", str(tmp_path / "p.pt")]
    code, _, err = run_cli([*args, "--hold-out", "beta,gamma", "--max-steps", "1"], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "no sequence gamma" in lines[0], err
    assert not (tmp_path / "p.pt").exists()


def test_a_seed_names_one_run_and_another_seed_another(davis_dir, tmp_path):
    def trained(seed: int, name: str) -> tuple[list[float], dict[str, torch.Tensor]]:
        out = tmp_path / name
        losses = [
            p.loss for p in train_parent(davis_dir, out, small_config(max_steps=2, seed=seed))
        ]
        return losses, build_model(weights=out)[0].state_dict()

    (losses, weights), (losses_again, weights_again) = trained(0, "a.pt"), trained(0, "b.pt")
    # Threaded CPU sums may differ in the last bit, which fp16 weights can show.
    assert np.allclose(losses, losses_again, rtol=1e-5)
    assert all(
        torch.allclose(weights[k].float(), weights_again[k].float(), atol=2e-3) for k in weights
    )
    other_losses, other_weights = trained(1, "c.pt")
    assert not np.allclose(losses, other_losses, rtol=1e-3)
    head = [k for k in weights if not k.startswith("backbone.")]
    assert any(
        not torch.allclose(weights[k].float(), other_weights[k].float(), atol=2e-3) for k in head
    )
