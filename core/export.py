"""Writing mattes: atomic PNG writes (the start of the export module)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from core.errors import RotoshotError


def write_png_atomic(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a PNG via a temp file + rename, so a reader never sees half a file.

    image: (H, W) uint8/uint16 grey, or (H, W, 3|4) uint8/uint16 RGB(A).
    """
    path = Path(path)
    if image.ndim == 3:
        code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RotoshotError(f"cannot encode {path.name} as PNG")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(encoded.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RotoshotError(f"cannot write {path}: {exc.strerror or exc}") from None
