"""An EXR plate opens in the app as the CLI reads it: display-referred, its own frame numbers."""

import numpy as np
import OpenImageIO as oiio

from tests.qt_helpers import TIMEOUT_MS, new_window


def test_a_linear_exr_sequence_opens_display_referred(qtbot, settings, tmp_path):
    plates = tmp_path / "plates"
    plates.mkdir()
    for i in range(3):
        spec = oiio.ImageSpec(64, 48, 3, oiio.HALF)
        out = oiio.ImageOutput.create(str(plates / f"shot.{1001 + i}.exr"))
        out.open(str(plates / f"shot.{1001 + i}.exr"), spec)
        out.write_image(np.full((48, 64, 3), 0.18, np.float32))
        out.close()
    win = new_window(qtbot, settings)
    win.show()
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(plates))
    doc = win.document
    assert doc.source.numbers == [1001, 1002, 1003]
    assert abs(int(doc.frame_image()[10, 10, 0]) - 118) <= 1  # linear 0.18 shown as ~0.46
    win.close()
