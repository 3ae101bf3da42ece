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


@dataclass(frozen=True)
class DreamConfig:
    """Ranges for `Dreamer` views (lucid data dreaming): object_scale: zoom range of the
    objects about their own centre; object_rotate_deg: +- degrees; object_translate: +- fraction
    of the frame size the objects move; the background gets `background`'s milder transform."""

    object_scale: tuple[float, float] = (0.6, 1.5)
    object_rotate_deg: float = 15.0
    object_translate: float = 0.2
    background: AugmentConfig = AugmentConfig(scale=(0.95, 1.1), rotate_deg=3.0, translate=0.03)


class Dreamer:
    """In-domain training views made from one annotated frame ("lucid data dreaming", Khoreva
    et al.): the annotated objects are cut out, the hole they leave is inpainted, and each view
    pastes the objects back at their own random scale, rotation and place over a separately
    transformed background. The one-shot fine-tune then sees the object at sizes and positions
    the frame alone never shows (what the benchmark's scale-change shots need) and against
    background it has not been paired with.

    image (H, W, 3) uint8 RGB; masks (K, H, W) bool; `use` (K,) bool: the objects annotated on
    this frame, which move together (an unannotated object's mask carries no loss, so it may
    stay in the background).
    """

    def __init__(
        self,
        image: np.ndarray,
        masks: np.ndarray,
        use: np.ndarray,
        cfg: DreamConfig = DreamConfig(),
    ) -> None:
        self.image = image
        self.masks = masks
        self.cfg = cfg
        union = masks[np.asarray(use, bool)].any(axis=0) if len(masks) else np.zeros(0)
        self.ok = bool(np.any(union))
        if not self.ok:
            return
        self.union = union
        ys, xs = np.nonzero(union)
        self.centre = (float(xs.mean()), float(ys.mean()))
        self.background = _inpaint_background(image, union)

    def view(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One dreamed (image, masks) pair with the input's shapes and dtypes."""
        cfg = self.cfg
        height, width = self.image.shape[:2]
        bg_matrix = random_affine(rng, width, height, cfg.background)
        background = cv2.warpAffine(
            self.background, bg_matrix, (width, height), borderMode=cv2.BORDER_REFLECT_101
        )
        # Log-uniform zoom: shrinking by 1/s and growing by s equally likely.
        lo, hi = np.log(cfg.object_scale[0]), np.log(cfg.object_scale[1])
        scale = float(np.exp(rng.uniform(lo, hi)))
        angle = rng.uniform(-cfg.object_rotate_deg, cfg.object_rotate_deg)
        matrix = cv2.getRotationMatrix2D(self.centre, angle, scale)
        matrix[0, 2] += rng.uniform(-cfg.object_translate, cfg.object_translate) * width
        matrix[1, 2] += rng.uniform(-cfg.object_translate, cfg.object_translate) * height
        if rng.random() < 0.5:  # mirror the objects about their own centre
            cx = self.centre[0]
            flip = np.array([[-1.0, 0.0, 2 * cx], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            matrix = matrix @ flip
        size = (width, height)
        moved = np.stack(
            [
                cv2.warpAffine(m.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST)
                for m in self.masks
            ]
        )
        union = cv2.warpAffine(self.union.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST)
        ys, xs = np.nonzero(union)
        if len(ys):
            # Warp and blend only the box around the pasted objects (the rest is background):
            # a whole-frame blend and colour jitter cost ~4x more per view.
            top, bottom = max(0, ys.min() - 2), min(height, ys.max() + 3)
            left, right = max(0, xs.min() - 2), min(width, xs.max() + 3)
            shifted = matrix.copy()
            shifted[:, 2] -= (left, top)
            objects = cv2.warpAffine(
                self.image, shifted, (right - left, bottom - top), flags=cv2.INTER_LINEAR
            )
            # The objects' own lighting (it differs from the background's): gain and offset.
            gain, offset = 1 + rng.uniform(-0.1, 0.1), rng.uniform(-12, 12)
            lut = np.clip(np.arange(256) * gain + offset, 0, 255).astype(np.uint8)
            objects = cv2.LUT(objects, lut)
            # A slightly blurred alpha hides the hard cut line the network could otherwise key on.
            box = union[top:bottom, left:right].astype(np.float32)
            alpha = cv2.GaussianBlur(box, (3, 3), 0)[..., None]
            region = background[top:bottom, left:right]
            background[top:bottom, left:right] = alpha * objects + (1 - alpha) * region
        image = jitter_colour(rng, background, cfg.background)
        return image, moved.astype(self.masks.dtype)


def _inpaint_background(image: np.ndarray, union: np.ndarray) -> np.ndarray:
    """The frame with the objects removed: OpenCV's Telea inpainting run at quarter resolution
    (a full-resolution inpaint of a large object took seconds), pasted back only inside the
    slightly grown object area. image (H, W, 3) uint8, union (H, W) bool."""
    height, width = image.shape[:2]
    hole = cv2.dilate(union.astype(np.uint8), np.ones((9, 9), np.uint8))
    small_size = (max(8, width // 4), max(8, height // 4))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, small_size, interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hole > 0] = filled[hole > 0]
    return out
