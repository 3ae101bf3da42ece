"""The built-in demo clip: generated, not downloaded (a textured scene with a moving object)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DEMO_FRAMES = 60
DEMO_SIZE = (854, 480)  # (width, height), like DAVIS 480p


def demo_frame(t: int, *, size: tuple[int, int] = DEMO_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of the demo: image (H, W, 3) uint8 RGB and the object's mask (H, W) bool.

    A striped, rotating orange blob travels across a hilly, textured landscape and passes in
    front of a grey rock (a partial occlusion of the background, never of the object).
    """
    width, height = size
    rng = np.random.default_rng(7)
    sky = np.linspace(200, 120, height, dtype=np.float32)[:, None, None] * np.array(
        [0.55, 0.75, 1.0]
    )
    image = np.broadcast_to(sky, (height, width, 3)).copy()
    xs = np.arange(width)
    hill = (height * 0.55 + 40 * np.sin(xs / 90.0) + 20 * np.sin(xs / 37.0)).astype(int)
    ground = np.arange(height)[:, None] >= hill[None, :]
    noise = cv2.resize(
        rng.integers(0, 255, (height // 8, width // 8, 3)).astype(np.uint8),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    grass = np.array([70, 120, 50], np.float32) + (noise.astype(np.float32) - 128) * 0.35
    image[ground] = grass[ground]
    cv2.ellipse(
        image, (int(width * 0.7), int(height * 0.62)), (70, 45), 0, 0, 360, (120, 118, 112), -1
    )
    phase = t / max(1, DEMO_FRAMES - 1)
    cx = int(width * (0.15 + 0.7 * phase))
    cy = int(height * (0.55 - 0.15 * np.sin(np.pi * phase)))
    mask = np.zeros((height, width), np.uint8)
    axes = (int(60 + 15 * np.sin(phase * 6)), 42)
    cv2.ellipse(mask, (cx, cy), axes, 25 * np.sin(phase * 5), 0, 360, 1, -1)
    cv2.circle(
        mask, (cx + axes[0] - 10, cy - 30), 22, 1, -1
    )  # a "head" makes the shape less trivial
    stripes = ((xs[None, :] + 3 * t) // 10 % 2).astype(np.float32)
    body = np.stack([240 - 40 * stripes, 140 - 30 * stripes, 40 + 0 * stripes], axis=-1)
    body = np.broadcast_to(body, (height, width, 3))
    image[mask > 0] = body[mask > 0]
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    return image, mask > 0


def ensure_demo_clip(folder: str | Path) -> Path:
    """Write the demo frames as JPEGs into `folder`/frames once; returns that folder."""
    frames_dir = Path(folder) / "frames"
    if len(list(frames_dir.glob("demo.*.jpg"))) == DEMO_FRAMES:
        return frames_dir
    frames_dir.mkdir(parents=True, exist_ok=True)
    for t in range(DEMO_FRAMES):
        image, _ = demo_frame(t)
        cv2.imwrite(
            str(frames_dir / f"demo.{t:04d}.jpg"),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 92],
        )
    return frames_dir
