"""A second stream on optical-flow magnitude (the MaskTrack+Flow idea, Perazzi et al. 2017): the
same network, fine-tuned on images of how fast each pixel moves, and its probabilities averaged
with the RGB stream's. Motion can separate an object from a look-alike background that colour
cannot, and the flow image of a frame needs only its neighbour, so frames stay independent.

The flow is OpenCV's DIS (the library's fast dense flow; nothing here is hand-written but the
scaling). A frame's flow image is the magnitude of the flow to the next frame (the last frame:
to the previous one), per frame divided by its 99th percentile, as (H, W, 3) uint8 grey;
optionally the motion relative to the camera's (a similarity transform fitted by RANSAC), so a
camera that follows the object does not paint the background as the thing that moves.

Nothing in the app, CLI or farm uses it: averaged with the RGB stream it lost on the dev split
(docs/BENCHMARKS.md, "optical-flow magnitude"); bench/flow_stream_bench.py measures it again.
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


def flow_magnitude(
    a: np.ndarray, b: np.ndarray, dis: cv2.DISOpticalFlow, *, relative: bool = False
) -> np.ndarray:
    """Per-pixel flow magnitude from RGB frame `a` to `b` ((H, W, 3) uint8), (H, W) float32 in
    pixels of `a`; computed at most FLOW_LONG_SIDE px long and scaled back. relative: the
    magnitude of what is left after the camera's motion (camera_motion) is taken out."""
    height, width = a.shape[:2]
    scale = min(1.0, FLOW_LONG_SIDE / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = [
        cv2.cvtColor(cv2.resize(x, small, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        for x in (a, b)
    ]
    flow = dis.calc(grey[0], grey[1], None)
    if relative:
        flow = flow - camera_motion(flow)
    magnitude = np.hypot(flow[..., 0], flow[..., 1]) / scale
    return cv2.resize(magnitude, (width, height), interpolation=cv2.INTER_LINEAR)


def camera_motion(flow: np.ndarray, grid_px: int = 8) -> np.ndarray:
    """The flow (H, W, 2) float32 a camera move explains: a similarity transform (shift,
    rotation, zoom) fitted to the flow on a grid by OpenCV's RANSAC, so the object, a minority
    of the pixels, does not pull it; zeros when no fit is found."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[grid_px // 2 : height : grid_px, grid_px // 2 : width : grid_px]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    moved = points + flow[ys.ravel(), xs.ravel()]
    transform, _ = cv2.estimateAffinePartial2D(
        points, moved, method=cv2.RANSAC, ransacReprojThreshold=1.0
    )
    if transform is None:
        return np.zeros_like(flow)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    mapped_x = transform[0, 0] * gx + transform[0, 1] * gy + transform[0, 2]
    mapped_y = transform[1, 0] * gx + transform[1, 1] * gy + transform[1, 2]
    return np.stack([mapped_x - gx, mapped_y - gy], axis=2)


def magnitude_image(magnitude: np.ndarray) -> np.ndarray:
    """(H, W) float magnitude -> (H, W, 3) uint8 grey, its MAGNITUDE_PERCENTILE at white."""
    full = max(float(np.percentile(magnitude, MAGNITUDE_PERCENTILE)), MIN_FULL_SCALE_PX)
    grey = np.clip(magnitude * (255.0 / full), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


class FlowImageSource(FrameSource):
    """Each frame of `source` as its flow-magnitude image (same size, frames and stems), so a
    session, its training samples and its segmenter work on motion unchanged."""

    def __init__(
        self,
        source: FrameSource,
        *,
        relative: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        """relative: the motion left after the camera's (flow_magnitude)."""
        super().__init__(cache_bytes=cache_bytes)
        self.rgb = source
        self.relative = relative
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
        return magnitude_image(flow_magnitude(a, b, dis, relative=self.relative))

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
