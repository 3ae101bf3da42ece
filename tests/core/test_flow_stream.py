"""The flow-magnitude stream (core.flow_stream, issue #12's MaskTrack+Flow): flow images show
what moves, keep the clip's frames and size, and the two-stream segmenter averages the streams."""

import numpy as np
import torch

from core.flow_stream import FlowImageSource, TwoStreamSegmenter, magnitude_image
from core.model.build import build_model
from core.segmentation import SegmentConfig
from core.shot.segmenters import OsvosSegmenter
from tests.helpers import ArraySource
from tests.synthetic import textured_background


def moving_square_clip(num_frames=4, height=96, width=128, step=4):
    """A still textured background with a textured square moving `step` px right per frame;
    frames (N, H, W, 3) uint8 and the square's masks (N, H, W) bool."""
    rng = np.random.default_rng(0)
    background = textured_background(rng, height, width)
    square = textured_background(rng, 24, 24)
    frames, masks = [], []
    for i in range(num_frames):
        frame, mask = background.copy(), np.zeros((height, width), bool)
        x = 20 + step * i
        frame[36:60, x : x + 24] = square
        mask[36:60, x : x + 24] = True
        frames.append(frame)
        masks.append(mask)
    return np.stack(frames), np.stack(masks)


def test_magnitude_image_is_grey_uint8_with_its_percentile_at_white():
    magnitude = np.linspace(0, 10, 100 * 50, dtype=np.float32).reshape(50, 100)
    image = magnitude_image(magnitude)
    assert image.shape == (50, 100, 3) and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 2]).all()
    assert image.max() == 255 and image[0, 0, 0] == 0
    assert (magnitude_image(np.full((8, 8), 0.2, np.float32)) < 60).all()  # still: stays dark


def test_flow_images_show_the_moving_object_and_keep_the_clip():
    frames, masks = moving_square_clip()
    flow = FlowImageSource(ArraySource(frames))
    assert len(flow) == 4 and flow.size == (128, 96) and flow.stems == ArraySource(frames).stems
    for f in range(len(flow)):  # the last frame's flow goes to the one before it
        grey = flow.read(f)[..., 0].astype(float)
        inside = masks[f][40:56, 24 + 4 * f : 40 + 4 * f]
        assert inside.all()
        moving = grey[40:56, 24 + 4 * f : 40 + 4 * f].mean()
        still = grey[:, 90:][~masks[f][:, 90:]].mean() if f < 3 else grey[:20].mean()
        assert moving > still + 60, (f, moving, still)
    one = FlowImageSource(ArraySource(frames[:1]))
    assert not one.read(0).any()  # a single frame does not move


def test_the_two_stream_segmenter_averages_the_streams():
    frames, _ = moving_square_clip(num_frames=3)
    rgb_source = ArraySource(frames)
    flow_source = FlowImageSource(rgb_source)
    torch.manual_seed(1)
    net_rgb, _ = build_model(weights="imagenet")
    torch.manual_seed(2)  # another head: the streams differ
    net_flow, _ = build_model(weights="imagenet")
    config = SegmentConfig()
    rgb = OsvosSegmenter([net_rgb], rgb_source, config=config)
    flow = OsvosSegmenter([net_flow], flow_source, config=config)
    both = TwoStreamSegmenter([net_rgb], rgb_source, config=config, flow=flow)
    expected = (rgb.raw_probs(1) + flow.raw_probs(1)) / 2
    assert np.allclose(both.raw_probs(1), expected, atol=2e-3)  # float16-cached probabilities
    assert both.segment_frame(1).probs.shape == (1, 96, 128)


def test_camera_motion_is_taken_out_so_a_followed_object_is_what_moves():
    from core.flow_stream import camera_motion

    # The camera pans 5 px right after an object that stays put in the frame: raw flow is the
    # background moving, the object still.
    flow = np.zeros((96, 128, 2), np.float32)
    flow[..., 0] = 5.0
    flow[30:60, 40:80] = 0.0
    residual = np.hypot(*np.moveaxis(flow - camera_motion(flow), 2, 0))
    assert residual[30:60, 40:80].mean() > 4.5  # the followed object now moves
    assert np.median(residual[:20]) < 0.5  # the background does not
    assert not camera_motion(np.zeros((20, 20, 2), np.float32)).any()
