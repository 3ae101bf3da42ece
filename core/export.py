"""Writing mattes, cutouts and label maps (PNG 8/16-bit, TIFF 16-bit, OpenEXR half), atomically,
and reading them back (matte import). Every write goes to a temp file renamed into place, so a
re-export never leaves a half-written frame and a failed write names the file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

from core.atomic import atomic_path, write_bytes_atomic
from core.errors import RotoshotError


def write_png_atomic(path: str | os.PathLike, image: np.ndarray, *, durable: bool = True) -> None:
    """Write a PNG atomically (core.atomic), so a reader never sees half a file.

    image: (H, W) uint8/uint16 grey, or (H, W, 3|4) uint8/uint16 RGB(A); durable: see
    core.atomic.atomic_path.
    """
    path = Path(path)
    if image.ndim == 3:
        code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RotoshotError(f"cannot encode {path.name} as PNG")
    write_bytes_atomic(path, encoded.tobytes(), durable=durable)


MatteFormat = Literal["png8", "png16", "tiff16", "exr"]
MATTE_FORMATS: tuple[MatteFormat, ...] = get_args(MatteFormat)


def _encode(path: Path, image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise RotoshotError(f"cannot encode {path.name}")
    return encoded.tobytes()


def quantize(alpha: np.ndarray, bits: int) -> np.ndarray:
    """alpha (H, W[, C]) float in [0, 1] -> uint8 or uint16, rounded."""
    top = (1 << bits) - 1
    return np.round(np.clip(alpha, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)


def write_exr(
    path: str | os.PathLike, channels: dict[str, np.ndarray], *, half: bool = True
) -> None:
    """Write named float channels {name: (H, W) or (H, W, 4) for "RGBA"} as OpenEXR (ZIP),
    half or full float, atomically."""
    import OpenEXR  # imported here: only EXR export needs it

    path = Path(path)
    dtype = np.float16 if half else np.float32
    data = {name: np.ascontiguousarray(values, dtype=dtype) for name, values in channels.items()}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(path) as tmp:
        OpenEXR.File(header, data).write(str(tmp))


def read_exr(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Named channels of an OpenEXR file as float32 arrays."""
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr:
        return {name: np.asarray(c.pixels, dtype=np.float32) for name, c in exr.channels().items()}


def write_matte(
    path: str | os.PathLike, alpha: np.ndarray, fmt: MatteFormat, *, channel: str = "A"
) -> None:
    """One object's matte, alpha (H, W) float in [0, 1], as png8 / png16 / tiff16 / exr (half,
    one channel named `channel`). The file extension must match the format."""
    path = Path(path)
    if fmt == "png8":
        write_bytes_atomic(path, _encode(path, quantize(alpha, 8)))
    elif fmt in ("png16", "tiff16"):
        write_bytes_atomic(path, _encode(path, quantize(alpha, 16)))
    elif fmt == "exr":
        write_exr(path, {channel: alpha})
    else:
        raise RotoshotError(f"unknown matte format {fmt!r}; choose one of {MATTE_FORMATS}")


def cutout_rgba(image: np.ndarray, alpha: np.ndarray, *, premultiplied: bool) -> np.ndarray:
    """image (H, W, 3) uint8 RGB + alpha (H, W) float [0, 1] -> (H, W, 4) float32 in [0, 1];
    premultiplied: colour multiplied by alpha (what compositors' "over" expects)."""
    rgb = image.astype(np.float32) / 255.0
    if premultiplied:
        rgb = rgb * alpha[..., None]
    return np.concatenate([rgb, alpha[..., None].astype(np.float32)], axis=-1)


def write_cutout(
    path: str | os.PathLike,
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    premultiplied: bool,
    bits: int = 8,
) -> None:
    """An RGBA cutout as PNG (8 or 16 bit) or EXR (half), chosen by the extension."""
    path = Path(path)
    rgba = cutout_rgba(image, alpha, premultiplied=premultiplied)
    if path.suffix.lower() == ".exr":
        write_exr(path, {"RGBA": rgba})
        return
    write_png_atomic(path, quantize(rgba, bits))


def write_label_png(
    path: str | os.PathLike, labels: np.ndarray, colours: dict[int, tuple[int, int, int]]
) -> None:
    """A multi-object label map (H, W) uint8 as an indexed (palette) PNG: pixel = object id,
    palette entry id = the object's colour, so it reads as ids and looks right in a viewer."""
    from PIL import Image

    path = Path(path)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    palette = [0, 0, 0] * 256
    for object_id, colour in colours.items():
        palette[3 * object_id : 3 * object_id + 3] = list(colour)
    image.putpalette(palette)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def read_matte(path: str | os.PathLike) -> np.ndarray:
    """Any matte file written above (or by another tool) as (H, W) float32 in [0, 1]."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        channels = read_exr(path)
        if not channels:
            raise RotoshotError(f"{path.name} has no channels")
        name = "A" if "A" in channels else sorted(channels)[0]
        values = channels[name]
        return values[..., -1] if values.ndim == 3 else values
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise RotoshotError(f"cannot read matte {path}")
    if image.ndim == 3:
        image = image[..., 3] if image.shape[2] == 4 else image[..., 0]
    top = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float32) / top


def import_matte_sequence(folder: str | os.PathLike, stems: list[str]) -> dict[int, np.ndarray]:
    """Mattes named after the clip's frames ({stem}.png/.tif/.exr...) -> {frame_idx: (H, W) bool}
    (alpha > 0.5), ready to become an object's annotations."""
    folder = Path(folder)
    files = {
        p.stem: p for p in folder.iterdir() if p.suffix.lower() in (".png", ".tif", ".tiff", ".exr")
    }
    out = {}
    for frame_idx, stem in enumerate(stems):
        if stem in files:
            out[frame_idx] = read_matte(files[stem]) > 0.5
    if not out:
        raise RotoshotError(f"no mattes in {folder} are named after the clip's frames")
    return out


PREVIEW_CODECS = {
    "h264": ("libx264", "yuv420p", ".mp4"),
    "prores4444": ("prores_ks", "yuva444p10le", ".mov"),
}


class PreviewVideoWriter:
    """A preview movie through PyAV (its wheel bundles ffmpeg: no system ffmpeg needed).

    codec "h264": MP4, yuv420p (matte or overlay previews for review);
    codec "prores4444": MOV ProRes 4444 with the matte as alpha (for editors that take alpha).
    Frames go in as (H, W, 3) uint8 RGB, or (H, W, 4) RGBA for ProRes 4444.
    Written to a temp file and renamed on close, so a failed export leaves no broken movie.
    """

    def __init__(
        self, path: str | os.PathLike, *, fps: float, size: tuple[int, int], codec: str = "h264"
    ) -> None:
        from fractions import Fraction

        import av

        if codec not in PREVIEW_CODECS:
            raise RotoshotError(
                f"unknown preview codec {codec!r}; choose one of {sorted(PREVIEW_CODECS)}"
            )
        encoder, self._pix_fmt, _ = PREVIEW_CODECS[codec]
        self.path = Path(path)
        # Held open until close()/abort(): the container writes into the temp file directly.
        self._atomic = atomic_path(self.path, suffix=self.path.suffix)
        self._tmp = self._atomic.__enter__()
        width, height = size
        try:
            if codec == "h264" and (width % 2 or height % 2):
                raise RotoshotError("H.264 needs an even width and height")
            self._container = av.open(str(self._tmp), mode="w")
        except (OSError, RotoshotError) as exc:
            self._atomic.__exit__(type(exc), exc, None)
            if isinstance(exc, RotoshotError):
                raise
            raise RotoshotError(f"cannot write {self.path}: {exc}") from None
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(encoder, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = self._pix_fmt
        if codec == "prores4444":
            self._stream.options = {"profile": "4444"}
        else:
            self._stream.options = {"crf": "18", "preset": "veryfast"}
        self._rgba = codec == "prores4444"

    def write(self, frame: np.ndarray) -> None:
        import av

        fmt = "rgba" if frame.shape[2] == 4 else "rgb24"
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()
        error = RotoshotError("preview aborted")
        with contextlib.suppress(RotoshotError):
            self._atomic.__exit__(RotoshotError, error, None)
