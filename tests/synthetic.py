"""Synthetic clips with exact ground truth: a textured background and moving textured shapes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: smoothed colour noise over a gradient (something for a CNN to see)."""
    noise = rng.integers(0, 255, (height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(40, 120, width, dtype=np.float32)[None, :, None]
    return np.clip(0.5 * noise + ramp * np.array([0.6, 0.8, 1.0]), 0, 255).astype(np.uint8)


def make_clip(
    num_frames: int = 12,
    height: int = 96,
    width: int = 128,
    *,
    num_objects: int = 1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """frames (N, H, W, 3) uint8 and labels (N, H, W) uint8 (0 background, k object k).

    Object k is a striped, saturated ellipse moving left to right along its own row.
    """
    rng = np.random.default_rng(seed)
    background = textured_background(rng, height, width)
    colours = [(230, 40, 40), (40, 220, 60), (250, 220, 30)]
    frames, labels = [], []
    for t in range(num_frames):
        frame = background.copy()
        label = np.zeros((height, width), np.uint8)
        for k in range(num_objects):
            cx = int(width * (0.25 + 0.5 * t / max(1, num_frames - 1)))
            cy = int(height * (k + 1) / (num_objects + 1))
            axes = (width // 8, height // (5 + 2 * num_objects))
            shape = np.zeros((height, width), np.uint8)
            cv2.ellipse(shape, (cx, cy), axes, 10 * t, 0, 360, 1, -1)
            stripes = ((np.arange(width)[None, :] // 4 + t) % 2).astype(np.float32)
            colour = np.array(colours[k % len(colours)], np.float32)
            texture = np.broadcast_to(
                colour * (0.75 + 0.25 * stripes[..., None]), (height, width, 3)
            )
            frame[shape > 0] = texture[shape > 0].astype(np.uint8)
            label[shape > 0] = k + 1
        frames.append(frame)
        labels.append(label)
    return np.stack(frames), np.stack(labels)


def write_image_folder(folder: Path, frames: np.ndarray, *, ext: str = ".png") -> list[Path]:
    """Write frames as `frame_00000.png`, ...; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"frame_{i:05d}{ext}"
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def write_mask(path: Path, mask: np.ndarray) -> Path:
    """Write a (H, W) uint8 mask/label PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8))
    return path


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)
