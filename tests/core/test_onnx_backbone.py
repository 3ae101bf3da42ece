"""The frozen backbone in ONNX Runtime (`--backend onnx`) and the folded view encoder: the same
features and probabilities as torch, one export per weights and shape, torch when it fails."""

import logging

import numpy as np
import pytest
import torch

from core.model import onnx_backbone
from core.model.build import build_model
from core.model.onnx_backbone import OnnxBackbone
from core.segmentation import SegmentConfig, Segmenter
from core.training import FineTuneConfig, TrainingSample, _view_encoder, fine_tune, run_to_end
from tests.helpers import ArraySource, segment_one
from tests.synthetic import make_clip, write_image_folder, write_mask

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture
def fresh_sessions():
    onnx_backbone._sessions.clear()
    onnx_backbone._broken.clear()
    yield
    onnx_backbone._sessions.clear()
    onnx_backbone._broken.clear()


@pytest.fixture(scope="module")
def clip():
    frames, labels = make_clip(num_frames=4, height=96, width=128, seed=7)
    return frames, labels


def _normalised(model, image):
    return model.normalize(torch.from_numpy(image.copy()).permute(2, 0, 1)[None])


@pytest.mark.parametrize("guided", [False, True])
def test_onnx_features_equal_torch_features(clip, fresh_sessions, guided):
    frames, _ = clip
    model, _ = build_model(weights="parent")
    if guided:
        model.make_guided()
        with torch.no_grad():  # a guidance channel that matters, so a wrong input would show
            model.stem_conv.weight[:, 3:].normal_(0, 0.1)
    model.eval()
    encoder = OnnxBackbone(model)
    for image in (frames[0], frames[1][:64, :96]):  # two shapes: one graph each
        x = _normalised(model, image)
        if guided:
            x = torch.cat([x[:, :3], torch.rand_like(x[:, :1])], dim=1)
        with torch.no_grad():
            expected = model.backbone(x)
        got = encoder.features(x)
        assert got is not None and len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)
    assert len(onnx_backbone._sessions) == 2


def test_segmenter_probabilities_match_torch_fp32(clip, fresh_sessions):
    frames, _ = clip
    model, _ = build_model(weights="parent")
    source = ArraySource(frames)
    by_torch = Segmenter(model, source, config=SegmentConfig(backend="torch-fp32"))
    by_onnx = Segmenter(model, source, config=SegmentConfig(backend="onnx", bf16=False))
    assert by_onnx._onnx is not None and not by_torch.use_bf16
    np.testing.assert_allclose(by_onnx.raw_probs(2), by_torch.raw_probs(2), atol=1e-3)


def test_a_copy_with_equal_weights_reuses_the_session(clip, fresh_sessions, monkeypatch):
    frames, _ = clip
    model, _ = build_model(weights="parent")
    exports = []
    real_export = onnx_backbone._export
    monkeypatch.setattr(
        onnx_backbone, "_export", lambda *a: exports.append(a[1]) or real_export(*a)
    )
    x = _normalised(model, frames[0])
    OnnxBackbone(model).features(x)
    copy_of_model, _ = build_model(weights="parent")  # a shot model: equal weights, new tensors
    OnnxBackbone(copy_of_model).features(x)
    assert len(exports) == 1
    with torch.no_grad():
        copy_of_model.backbone.stages[4][0]._project_conv.weight.mul_(1.01)  # it trained
    OnnxBackbone(copy_of_model).features(x)
    assert len(exports) == 2


def test_a_failing_runtime_falls_back_to_torch_once(clip, fresh_sessions, monkeypatch, caplog):
    frames, _ = clip
    model, _ = build_model(weights="parent")

    def broken(*_):
        raise RuntimeError("no such operator")

    monkeypatch.setattr(onnx_backbone, "_export", broken)
    segmenter = Segmenter(model, ArraySource(frames), config=SegmentConfig(backend="onnx"))
    with caplog.at_level(logging.WARNING):
        probs = segmenter.raw_probs(1)
        segmenter.raw_probs(2)
    reference = Segmenter(model, ArraySource(frames), config=SegmentConfig(backend="torch"))
    np.testing.assert_allclose(probs, reference.raw_probs(1), atol=1e-6)
    assert sum("ONNX Runtime backbone failed" in r.message for r in caplog.records) == 1
    assert not onnx_backbone.onnx_available()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_view_encoder_gives_the_training_models_features(clip, fresh_sessions, backend):
    frames, _ = clip
    model, _ = build_model(weights="parent")
    model.train()  # as fine-tuning holds it: BatchNorm frozen by OSVOSNet.train
    x = _normalised(model, frames[0])
    encode = _view_encoder(model, 5, backend, torch.device("cpu"))
    with torch.no_grad():
        expected = model.backbone(x)
        got = encode(x)
    for a, b in zip(got, expected, strict=True):
        assert a.is_contiguous()
        torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)


def test_fine_tune_on_onnx_views_learns_as_on_torch_views(clip, fresh_sessions):
    frames, labels = clip
    sample = TrainingSample(frames[0], labels[0:1] == 1, np.ones(1, bool))
    results = []
    for backend in ("torch", "onnx"):
        model, _ = build_model(weights="parent")
        config = FineTuneConfig(steps=20, views_per_frame=2, backend=backend)
        run_to_end(fine_tune(model, [sample], config))
        segmenter = Segmenter(model, ArraySource(frames), config=SegmentConfig(bf16=False))
        results.append(segmenter.raw_probs(3))
    np.testing.assert_allclose(results[0], results[1], atol=0.02)


def test_cli_backend_choice(tmp_path, capsys, fresh_sessions):
    frames, labels = make_clip(num_frames=3, height=96, width=128, seed=8)
    write_image_folder(tmp_path / "frames", frames)
    write_mask(tmp_path / "one.png", (labels[0] == 1).astype(np.uint8) * 255)
    code, _, err = segment_one(tmp_path, tmp_path / "bad", capsys, "--backend", "quantum")
    assert code != 0
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("unknown --backend 'quantum'; choose one of torch, torch-fp32, onnx")
    )
    code, _, _ = segment_one(tmp_path, tmp_path / "out", capsys, "--backend", "onnx")
    assert code == 0 and len(list((tmp_path / "out").glob("*.png"))) == 3
