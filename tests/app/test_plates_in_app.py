"""An EXR plate opens in the app as the CLI reads it: display-referred, its own frame numbers."""

import numpy as np
import OpenImageIO as oiio

from core.project import load_project
from tests.qt_helpers import TIMEOUT_MS, new_window


def open_grey_exr_plates(qtbot, settings, folder):
    """A window showing three 64x48 half-float EXR frames shot.1001-1003 of linear 0.18 grey."""
    folder.mkdir()
    for i in range(3):
        path = str(folder / f"shot.{1001 + i}.exr")
        out = oiio.ImageOutput.create(path)
        out.open(path, oiio.ImageSpec(64, 48, 3, oiio.HALF))
        out.write_image(np.full((48, 64, 3), 0.18, np.float32))
        out.close()
    win = new_window(qtbot, settings)
    win.show()
    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        assert win.open_path(str(folder))
    return win


def test_a_linear_exr_sequence_opens_display_referred(qtbot, settings, tmp_path):
    win = open_grey_exr_plates(qtbot, settings, tmp_path / "plates")
    doc = win.document
    assert doc.source.numbers == [1001, 1002, 1003]
    assert abs(int(doc.frame_image()[10, 10, 0]) - 118) <= 1  # linear 0.18 shown as ~0.46
    win.close()


def test_clip_input_colour_space_is_saved_and_shown_through_the_new_transform(
    qtbot, settings, tmp_path
):
    win = open_grey_exr_plates(qtbot, settings, tmp_path / "plates")
    menu = win.space_menu
    menu.refresh()
    assert menu.choices[""].isChecked() and menu.choices[""].isEnabled()
    assert "Linear Rec.709" in menu.choices[""].text()  # the guess is named
    linear_grey = int(win.document.frame_image()[10, 10, 0])

    with qtbot.waitSignal(win.engine.model_ready, timeout=TIMEOUT_MS):
        menu.choose("sRGB Encoded Rec.709 (sRGB)")  # the values are display-referred already
    doc = win.document
    assert doc.project.settings.input_space == "sRGB Encoded Rec.709 (sRGB)"
    assert load_project(doc.folder)[0].settings.input_space == doc.project.settings.input_space
    assert doc.source.input_space == "sRGB Encoded Rec.709 (sRGB)"
    assert win.engine._session.source.input_space == doc.source.input_space  # network sees it too
    assert abs(int(doc.frame_image()[10, 10, 0]) - 46) <= 1 and linear_grey > 100  # 0.18 as is
    win.close()
