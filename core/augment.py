"""Cheap image + mask augmentation for fine-tuning and parent training (OpenCV, numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms. scale: zoom factor range; rotate_deg: +- degrees;
    translate: +- fraction of the frame size; colour: +- fraction for brightness/contrast/
    saturation; hue_deg: +- hue shift; flip: horizontal flips allowed."""

    scale: tuple[float, float] = (0.85, 1.2)
    rotate_deg: float = 12.0
    translate: float = 0.08
    colour: float = 0.2
    hue_deg: float = 6.0
    flip: bool = True


def random_affine(
    rng: np.random.Generator, width: int, height: int, cfg: AugmentConfig
) -> np.ndarray:
    """A random 2x3 affine matrix (flip, scale, rotation, translation about the frame centre)."""
    scale = rng.uniform(*cfg.scale)
    angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
    centre = (width / 2.0, height / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[0, 2] += rng.uniform(-cfg.translate, cfg.translate) * width
    matrix[1, 2] += rng.uniform(-cfg.translate, cfg.translate) * height
    if cfg.flip and rng.random() < 0.5:
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = matrix @ flip
    return matrix


def jitter_colour(rng: np.random.Generator, image: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast, saturation and hue; (H, W, 3) uint8 RGB in and out."""
    if cfg.colour <= 0 and cfg.hue_deg <= 0:
        return image
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_deg, cfg.hue_deg) / 2.0) % 180.0
    hsv[..., 1] *= 1.0 + rng.uniform(-cfg.colour, cfg.colour)
    value = hsv[..., 2]
    mean = float(value.mean())
    value = (value - mean) * (1.0 + rng.uniform(-cfg.colour, cfg.colour)) + mean
    hsv[..., 2] = value * (1.0 + rng.uniform(-cfg.colour, cfg.colour))
    np.clip(hsv, 0, [179, 255, 255], out=hsv)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def augment_pair(
    rng: np.random.Generator,
    image: np.ndarray,
    masks: np.ndarray,
    cfg: AugmentConfig = AugmentConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random geometric + colour transform to a frame and its masks.

    image (H, W, 3) uint8; masks (K, H, W) uint8 or bool. Returns the same shapes and dtypes
    (masks resampled nearest-neighbour so they stay binary). Borders are mirrored in both, so
    image and label stay consistent.
    """
    height, width = image.shape[:2]
    matrix = random_affine(rng, width, height, cfg)
    out_image = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    out_masks = np.stack(
        [
            cv2.warpAffine(
                m.astype(np.uint8),
                matrix,
                (width, height),
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            for m in masks
        ]
    ).astype(masks.dtype)
    return jitter_colour(rng, out_image, cfg), out_masks
