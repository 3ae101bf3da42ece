"""DAVIS metrics: region similarity J (IoU) and boundary F-measure, with mean/recall/decay.

Follows the DAVIS-2016 protocol (Perazzi et al. 2016): boundaries matched within a tolerance of
0.008 x the image diagonal; first and last frame of each sequence excluded; statistics per
sequence; a dataset's score is the mean over its sequences. Written here (not imported) because
the official package pulls in dependencies we do not ship; hand-computed cases pin it in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.morphology import disk

from core.annotations import read_label_mask
from core.errors import RotoshotError

BOUNDARY_TOLERANCE = 0.008


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J: intersection over union of two (H, W) bool masks; 1.0 when both are empty."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool one-pixel boundary as DAVIS defines it: pixels that differ from their right,
    bottom or bottom-right neighbour (on either side of the edge); outside the image counts as
    background, except that the last row compares only rightwards and the last column only
    downwards, and the corner pixel is never boundary."""
    seg = mask.astype(bool)
    right = np.zeros_like(seg)
    down = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    down[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    boundary = (seg ^ right) | (seg ^ down) | (seg ^ diag)
    boundary[-1, :] = seg[-1, :] ^ right[-1, :]
    boundary[:, -1] = seg[:, -1] ^ down[:, -1]
    boundary[-1, -1] = False
    return boundary


def boundary_f_measure(
    pred: np.ndarray, gt: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE
) -> float:
    """F: boundary F-measure of two (H, W) bool masks with a tolerance of `tolerance` x diagonal
    (>= 1 means pixels). 1.0 when both boundaries are empty, 0.0 when only one is."""
    radius = tolerance if tolerance >= 1 else math.ceil(tolerance * math.hypot(*pred.shape))
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    kernel = disk(radius).astype(np.uint8)
    gt_near = cv2.dilate(gt_b.astype(np.uint8), kernel) > 0
    pred_near = cv2.dilate(pred_b.astype(np.uint8), kernel) > 0
    precision = float((pred_b & gt_near).sum() / n_pred)
    recall = float((gt_b & pred_near).sum() / n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Statistics:
    """mean; recall: fraction of frames scoring > 0.5; decay: mean of the first quarter of frames
    minus mean of the last quarter (DAVIS: loss of quality over time)."""

    mean: float
    recall: float
    decay: float


def statistics(per_frame: list[float]) -> Statistics:
    values = np.asarray(per_frame, dtype=np.float64)
    if values.size == 0:
        return Statistics(math.nan, math.nan, math.nan)
    bins = np.array_split(values, 4) if values.size >= 4 else [values, values]
    decay = float(np.mean(bins[0]) - np.mean(bins[-1]))
    return Statistics(float(values.mean()), float((values > 0.5).mean()), decay)


@dataclass(frozen=True)
class SequenceScore:
    """Per-sequence DAVIS scores (frames scored: all but the first and last)."""

    name: str
    frames: int
    J: Statistics
    F: Statistics

    @property
    def JF(self) -> float:
        return (self.J.mean + self.F.mean) / 2


def evaluate_sequence(name: str, preds: list[np.ndarray], gts: list[np.ndarray]) -> SequenceScore:
    """Score aligned lists of (H, W) bool masks, excluding the first and last frame."""
    if len(preds) != len(gts):
        raise RotoshotError(f"{name}: {len(preds)} predictions for {len(gts)} ground-truth frames")
    pairs = counted_pairs(preds, gts)
    j = [region_similarity(p, g) for p, g in pairs]
    f = [boundary_f_measure(p, g) for p, g in pairs]
    return SequenceScore(name, len(pairs), statistics(j), statistics(f))


def counted_pairs(
    preds: list[np.ndarray], gts: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The aligned (prediction, ground truth) pairs the DAVIS score counts: all but the first
    and last frame (all of them for a clip of two frames or fewer)."""
    pairs = list(zip(preds, gts, strict=True))
    return pairs[1:-1] if len(gts) > 2 else pairs


def _mask_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.png"))}


def evaluate_pair(pred_dir: Path, gt_dir: Path, name: str) -> SequenceScore:
    """Score one sequence: every ground-truth PNG must have a prediction of the same name."""
    return evaluate_sequence(name, *read_pair(pred_dir, gt_dir, name))


def read_pair(pred_dir: Path, gt_dir: Path, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A sequence's predictions and ground truth as aligned lists of (H, W) bool masks, in
    frame order. RotoshotError when a ground-truth PNG has no prediction of the same name and
    size."""
    gt_files = _mask_files(gt_dir)
    pred_files = _mask_files(pred_dir)
    if not gt_files:
        raise RotoshotError(f"no ground-truth PNGs in {gt_dir}")
    missing = [stem for stem in gt_files if stem not in pred_files]
    if missing:
        raise RotoshotError(
            f"{name}: {len(missing)} predictions missing in {pred_dir} (first: {missing[0]}.png)"
        )
    preds, gts = [], []
    for stem, gt_path in gt_files.items():
        gt = read_label_mask(gt_path) > 0
        pred = read_label_mask(pred_files[stem]) > 0
        if pred.shape != gt.shape:
            raise RotoshotError(
                f"{name}/{stem}.png: prediction {pred.shape[::-1]} vs ground truth {gt.shape[::-1]}"
            )
        preds.append(pred)
        gts.append(gt)
    return preds, gts


def evaluate_folder(pred_dir: str | Path, gt_dir: str | Path) -> list[SequenceScore]:
    """One sequence (GT_DIR holds PNGs) or many (GT_DIR holds one folder per sequence)."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for folder in (pred_dir, gt_dir):
        if not folder.is_dir():
            raise RotoshotError(f"not a folder: {folder}")
    if any(gt_dir.glob("*.png")):
        return [evaluate_pair(pred_dir, gt_dir, gt_dir.name)]
    sequences = sorted(p.name for p in gt_dir.iterdir() if p.is_dir())
    if not sequences:
        raise RotoshotError(f"no ground truth in {gt_dir}")
    return [evaluate_pair(pred_dir / s, gt_dir / s, s) for s in sequences]


def format_report(scores: list[SequenceScore]) -> str:
    """A plain-text table: per sequence J/F mean, then the mean over sequences with recall/decay."""
    lines = [f"{'sequence':<22}{'frames':>7}{'J':>8}{'F':>8}{'J&F':>8}"]
    for s in scores:
        lines.append(
            f"{s.name:<22}{s.frames:>7}{s.J.mean * 100:>8.1f}{s.F.mean * 100:>8.1f}{s.JF * 100:>8.1f}"
        )

    def avg(values: list[float]) -> float:
        return float(np.mean(values)) * 100

    j_mean, f_mean = avg([s.J.mean for s in scores]), avg([s.F.mean for s in scores])
    lines.append("-" * 53)
    lines.append(
        f"J mean {j_mean:.1f}  recall {avg([s.J.recall for s in scores]):.1f}  decay {avg([s.J.decay for s in scores]):.1f}"
    )
    lines.append(
        f"F mean {f_mean:.1f}  recall {avg([s.F.recall for s in scores]):.1f}  decay {avg([s.F.decay for s in scores]):.1f}"
    )
    lines.append(f"J&F {(j_mean + f_mean) / 2:.1f}")
    return "\n".join(lines)
