"""A second stream on optical-flow magnitude (the MaskTrack+Flow idea, Perazzi et al. 2017): the
same network, fine-tuned on images of how fast each pixel moves, and its probabilities averaged
with the RGB stream's. Motion can separate an object from a look-alike background that colour
cannot, and the flow image of a frame needs only its neighbour, so frames stay independent.

The flow is OpenCV's DIS (the library's fast dense flow; nothing here is hand-written but the
scaling). A frame's flow image is the magnitude of the flow to the next frame (the last frame:
to the previous one), per frame divided by its 99th percentile, as (H, W, 3) uint8 grey.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from core.shot.segmenters import OsvosSegmenter
from core.video import DEFAULT_CACHE_BYTES, FrameSource

FLOW_LONG_SIDE = 960  # flow is computed at most this large: the network works near 480-1024 px
MAGNITUDE_PERCENTILE = 99.0  # the magnitude that maps to white, per frame
MIN_FULL_SCALE_PX = 1.0  # a still frame stays dark instead of amplifying noise to white


def flow_magnitude(a: np.ndarray, b: np.ndarray, dis: cv2.DISOpticalFlow) -> np.ndarray:
    """Per-pixel flow magnitude from RGB frame `a` to `b` ((H, W, 3) uint8), (H, W) float32 in
    pixels of `a`; computed at most FLOW_LONG_SIDE px long and scaled back."""
    height, width = a.shape[:2]
    scale = min(1.0, FLOW_LONG_SIDE / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = [
        cv2.cvtColor(cv2.resize(x, small, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        for x in (a, b)
    ]
    flow = dis.calc(grey[0], grey[1], None)
    magnitude = np.hypot(flow[..., 0], flow[..., 1]) / scale
    return cv2.resize(magnitude, (width, height), interpolation=cv2.INTER_LINEAR)


def magnitude_image(magnitude: np.ndarray) -> np.ndarray:
    """(H, W) float magnitude -> (H, W, 3) uint8 grey, its MAGNITUDE_PERCENTILE at white."""
    full = max(float(np.percentile(magnitude, MAGNITUDE_PERCENTILE)), MIN_FULL_SCALE_PX)
    grey = np.clip(magnitude * (255.0 / full), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


class FlowImageSource(FrameSource):
    """Each frame of `source` as its flow-magnitude image (same size, frames and stems), so a
    session, its training samples and its segmenter work on motion unchanged."""

    def __init__(self, source: FrameSource, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(cache_bytes=cache_bytes)
        self.rgb = source
        self.path = getattr(source, "path", "")
        self.fps = getattr(source, "fps", 25.0)
        self.size = source.size
        self.stems = list(source.stems)
        self._local = threading.local()  # a DIS object is not shared between threads

    def _decode(self, frame_idx: int) -> np.ndarray:
        other = frame_idx + 1 if frame_idx + 1 < len(self) else frame_idx - 1
        if other < 0:  # a one-frame clip does not move
            return np.zeros((self.height, self.width, 3), np.uint8)
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        a, b = np.asarray(self.rgb.read(frame_idx)), np.asarray(self.rgb.read(other))
        return magnitude_image(flow_magnitude(a, b, dis))

    def close(self) -> None:
        close = getattr(self.rgb, "close", None)
        if close is not None:
            close()


class TwoStreamSegmenter(OsvosSegmenter):
    """Per-frame OSVOS whose raw probabilities are the mean of the RGB models' (this segmenter's
    own) and `flow`'s, a segmenter of the flow-image stream over the same frames; the gate,
    threshold and keyframe overrides then work on the mean as usual."""

    def __init__(self, *args, flow: OsvosSegmenter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flow = flow

    def _compute_raw(self, frame_idx: int) -> np.ndarray:
        return (super()._compute_raw(frame_idx) + self.flow.raw_probs(frame_idx)) / 2
