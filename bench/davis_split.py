"""DAVIS-layout folders for the bench scripts: sequence listing and the first-frame mask."""

from __future__ import annotations

from pathlib import Path


def davis_sequences(data: str | Path, wanted: str = "") -> tuple[Path, Path, list[str]]:
    """(JPEG root, annotation root, sorted sequence names) of a DAVIS-layout folder
    (`JPEGImages/480p/<seq>/`, `Annotations/480p/<seq>/`); `wanted`: comma-separated subset,
    "" for all."""
    data = Path(data)
    image_root, gt_root = data / "JPEGImages" / "480p", data / "Annotations" / "480p"
    sequences = sorted(p.name for p in image_root.iterdir() if p.is_dir())
    if wanted:
        sequences = [s for s in sequences if s in wanted.split(",")]
    return image_root, gt_root, sequences


def first_frame_mask_path(image_root: Path, gt_root: Path, seq: str) -> Path:
    """The ground-truth PNG of a sequence's first frame (the one-shot annotation)."""
    first = sorted((image_root / seq).glob("*.jpg"))[0].stem
    return gt_root / seq / f"{first}.png"
