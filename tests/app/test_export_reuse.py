"""An export from the app reuses the results already computed for the current model and runs the
network only for the rest; 16-bit and EXR mattes carry the network's soft edge."""

import cv2
import numpy as np
from PySide6.QtCore import Qt

from core.shot.segmenters import OsvosSegmenter
from tests.qt_helpers import TIMEOUT_MS, paint_object


def test_export_computes_only_the_frames_not_on_screen(
    qtbot, window, clip_folder, tmp_path, monkeypatch
):
    _, labels = clip_folder
    window.train_panel.auto_train.setChecked(False)
    paint_object(qtbot, window, labels, 0)
    with qtbot.waitSignal(window.engine.segmentation_idle, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.train_panel.train_button, Qt.LeftButton)
    doc = window.document
    assert len(doc.cached_frames()) == 10
    doc.result_writer.flush()
    (doc.folder / "results" / "000004.png").unlink()  # one frame's cache lost: computed again
    computed = []
    real = OsvosSegmenter.segment_frame

    def counting(self, frame_idx):
        computed.append(frame_idx)
        return real(self, frame_idx)

    monkeypatch.setattr(OsvosSegmenter, "segment_frame", counting)
    out = tmp_path / "export"
    with qtbot.waitSignal(window.engine.export_finished, timeout=TIMEOUT_MS):
        window.export_controller.start(str(out), 0, 9, fmt="png8")
    assert computed == [4]
    for f in range(10):
        matte = cv2.imread(str(out / "1_Object_1" / f"frame_{f:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(matte > 127, doc.display_mask(1, f)), f

    computed.clear()
    with qtbot.waitSignal(window.engine.export_finished, timeout=TIMEOUT_MS):
        window.export_controller.start(str(tmp_path / "soft"), 6, 6, fmt="png16")
    soft = cv2.imread(
        str(tmp_path / "soft" / "1_Object_1" / "frame_00006.png"), cv2.IMREAD_UNCHANGED
    )
    assert soft.dtype == np.uint16 and computed == []
    inbetween = (soft > 0) & (soft < 65535)
    assert inbetween.any()  # the network's edge, not a binary 0/65535 matte
    assert np.array_equal(soft > 32767, doc.display_mask(1, 6))  # the same shape at 50 %
