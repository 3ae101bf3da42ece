"""VFX plates: EXR, DPX and Cineon frames read through OpenImageIO and turned display-referred
through OpenColorIO, so the network (and the viewer) see what a compositor's viewer shows.

The input colour space is a per-clip setting with a guess from the file: EXR/HDR are scene-linear,
DPX/Cineon follow the header's transfer (log by convention), anything else is sRGB-encoded. The
matte is data: nothing here is ever written back into the plate's colour.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import RotoshotError

PLATE_EXTENSIONS = (".exr", ".dpx", ".cin", ".hdr")

# Input colour spaces (names in OpenColorIO's built-in studio config, plus Cineon log, which
# that config does not carry and is built from OCIO's log transform below).
SRGB = "sRGB Encoded Rec.709 (sRGB)"
LINEAR = "Linear Rec.709 (sRGB)"
ACESCG = "ACEScg"
ACES = "ACES2065-1"
CINEON = "Cineon log"
INPUT_SPACES = (SRGB, LINEAR, ACESCG, ACES, CINEON)
BUILTIN_CONFIG = "ocio://default"

# Kodak Cineon: code value 685 of 1023 is 100 % white, 95 is black, 0.002 density per code value,
# negative gamma 0.6. As an OCIO LogAffineTransform (log = a * log10(b * lin + c) + d):
_CINEON_BLACK = 10 ** ((95 - 685) * 0.002 / 0.6)
_CINEON_LOG_SLOPE = 0.6 / (0.002 * 1023)
_CINEON_LOG_OFFSET = 685 / 1023


@dataclass(frozen=True)
class PlateInfo:
    """What a plate's header says. size: (W, H) of the display window; channels: names;
    bits: bits per channel of the file; space: the guessed input colour space."""

    size: tuple[int, int]
    channels: tuple[str, ...]
    bits: int
    space: str


def _oiio():
    import OpenImageIO as oiio

    return oiio


def plate_info(path: str | os.PathLike) -> PlateInfo:
    """Read a plate's header only (first part of a multi-part EXR)."""
    oiio = _oiio()
    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise RotoshotError(f"cannot read image {path}: {oiio.geterror() or 'unknown format'}")
    try:
        spec = image.spec()
        bits = int(spec.get_int_attribute("oiio:BitsPerSample", spec.format.size() * 8))
        info = PlateInfo(
            (spec.full_width, spec.full_height),
            tuple(spec.channelnames),
            bits,
            guess_input_space(Path(path).suffix, spec),
        )
    finally:
        image.close()
    return info


def guess_input_space(suffix: str, spec) -> str:
    """The input colour space a file most likely is: its header's colour space when it names
    one, else EXR/HDR scene-linear, DPX/Cineon log (unless the header says linear or a
    video transfer), anything else sRGB-encoded."""
    named = str(spec.get_string_attribute("oiio:ColorSpace", "")).lower()
    if "acescg" in named:
        return ACESCG
    if "aces" in named and "2065" in named:
        return ACES
    if "srgb" in named and "lin" not in named:
        return SRGB
    if named.startswith("lin") or "linear" in named or "scene_linear" in named:
        return LINEAR
    suffix = suffix.lower()
    if suffix in (".exr", ".hdr"):
        return LINEAR
    if suffix in (".dpx", ".cin"):
        transfer = str(spec.get_string_attribute("dpx:Transfer", "")).lower()
        if "linear" in transfer:
            return LINEAR
        if any(video in transfer for video in ("709", "601", "srgb", "user")):
            return SRGB
        return CINEON
    return SRGB


def read_plate(path: str | os.PathLike) -> np.ndarray:
    """A plate's display window as (H, W, 3) float32 in its own colour space (not clipped):
    R, G, B by channel name (grey repeated; other channels ignored), pixels outside the data
    window black, the first part of a multi-part EXR."""
    oiio = _oiio()
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise RotoshotError(f"cannot read image {path}: {buf.geterror()}")
    spec = buf.spec()
    if spec.roi != spec.roi_full:
        # Data window != display window (an EXR rendered with overscan or a crop): the frame is
        # the display window, black where there is no data.
        buf = oiio.ImageBufAlgo.crop(buf, spec.roi_full)
    pixels = buf.get_pixels(oiio.FLOAT)
    if pixels is None or buf.has_error:
        raise RotoshotError(f"cannot read image {path}: {buf.geterror()}")
    pixels = np.asarray(pixels, dtype=np.float32).reshape(
        spec.full_height, spec.full_width, spec.nchannels
    )
    names = [n.split(".")[-1].upper() for n in spec.channelnames]
    if all(c in names for c in "RGB"):
        picked = pixels[..., [names.index(c) for c in "RGB"]]
    elif spec.nchannels >= 3:
        picked = pixels[..., :3]
    else:
        picked = np.repeat(pixels[..., :1], 3, axis=-1)
    return np.ascontiguousarray(picked)


class DisplayTransform:
    """Plate colour -> the display-referred sRGB the network was trained on, (H, W, 3) float32
    -> (H, W, 3) uint8, through OpenColorIO.

    input_space: one of INPUT_SPACES (or, with a `config` file / $OCIO, a colour space of that
    config, shown through its default display and view).
    """

    def __init__(self, input_space: str, config: str | None = None) -> None:
        self.input_space = input_space
        self.config_path = config or os.environ.get("OCIO") or BUILTIN_CONFIG
        self._cpu = _processor(input_space, self.config_path)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        display = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        if self._cpu is not None:
            self._cpu.applyRGB(display)
        return (np.clip(display, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def linear_to_cineon(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values (any shape, float) -> Cineon log code values / 1023 in [0, 1]: how a
    log DPX or Cineon plate stores them (the inverse of reading one as CINEON)."""
    lin = np.maximum(np.asarray(linear, np.float64) * (1 - _CINEON_BLACK) + _CINEON_BLACK, 1e-10)
    return np.clip(_CINEON_LOG_SLOPE * np.log10(lin) + _CINEON_LOG_OFFSET, 0.0, 1.0)


@functools.lru_cache(maxsize=16)
def _processor(input_space: str, config_path: str):
    """An OCIO CPU processor for (input space, config), or None for no change."""
    import PyOpenColorIO as ocio

    try:
        if config_path == BUILTIN_CONFIG:
            config = ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
        else:
            config = ocio.Config.CreateFromFile(config_path)
    except ocio.Exception as exc:
        raise RotoshotError(f"cannot load the colour config {config_path}: {exc}") from None
    try:
        if config_path != BUILTIN_CONFIG and input_space not in INPUT_SPACES:
            display = config.getDefaultDisplay()
            transform = ocio.DisplayViewTransform(
                src=input_space, display=display, view=config.getDefaultView(display)
            )
        elif input_space == SRGB:
            return None
        elif input_space == CINEON:
            config = ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
            to_linear = ocio.LogAffineTransform(
                logSideSlope=[_CINEON_LOG_SLOPE] * 3,
                logSideOffset=[_CINEON_LOG_OFFSET] * 3,
                linSideSlope=[1 - _CINEON_BLACK] * 3,
                linSideOffset=[_CINEON_BLACK] * 3,
                direction=ocio.TRANSFORM_DIR_INVERSE,
            )
            to_linear.setBase(10.0)
            transform = ocio.GroupTransform(
                [to_linear, ocio.ColorSpaceTransform(src=LINEAR, dst=SRGB)]
            )
        elif input_space in INPUT_SPACES:
            config = ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
            transform = ocio.ColorSpaceTransform(src=input_space, dst=SRGB)
        else:
            raise RotoshotError(
                f"unknown input colour space {input_space!r}: one of {', '.join(INPUT_SPACES)}"
            )
        return config.getProcessor(transform).getDefaultCPUProcessor()
    except ocio.Exception as exc:
        raise RotoshotError(f"cannot convert from {input_space!r}: {exc}") from None
