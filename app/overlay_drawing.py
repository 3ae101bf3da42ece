"""Pixel drawing of the canvas overlay: object edges, hint strokes and the onion-skin outline.

Every function draws into an (H, W, 4) uint8 RGBA array in place; masks are (H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np

_KERNEL = np.ones((3, 3), np.uint8)


def outline_of(mask: np.ndarray) -> np.ndarray:
    """The 1-2 px edge of a mask (morphological gradient) -> (H, W) bool."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, _KERNEL) > 0


def draw_edge(rgba: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> None:
    """A solid outline keeps the edge readable at any opacity."""
    rgba[outline_of(mask)] = (*colour, 255)


def draw_strokes(
    rgba: np.ndarray, foreground: np.ndarray, painted: np.ndarray, colour: tuple[int, int, int]
) -> None:
    """Object strokes in the object's colour; background strokes as a fine black/white
    checker, visible on any plate."""
    rgba[foreground] = (*colour, 255)
    ys, xs = np.nonzero(painted & ~foreground)
    light = ((ys // 2 + xs // 2) % 2).astype(bool)
    rgba[ys, xs] = np.where(light[:, None], (235, 235, 235, 230), (20, 20, 20, 230))


def draw_onion_outline(rgba: np.ndarray, previous: np.ndarray) -> None:
    """The previous frame's matte as a light dashed-looking line: every other pixel along its
    outline."""
    ys, xs = np.nonzero(outline_of(previous))
    keep = ((ys + xs) % 3) != 0
    rgba[ys[keep], xs[keep]] = (255, 255, 255, 220)
