"""Clip ▸ Working Resolution and Clip ▸ Input Colour Space, per-clip settings that need a new
engine session.

Working Resolution: the per-clip size the network trains and segments at
(core.resolution). Changing it opens the clip again, so the engine starts a session at the new
size; the keyframes are on disk already, and a model of another size is retrained, not reused.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from app.document import ShotDocument
from core.plates import INPUT_SPACES
from core.resolution import DEFAULT_WORKING_LONG_SIDE, working_size

# Long sides offered (0: the plate's own size). Larger costs time about with the pixel count.
WORKING_CHOICES = (DEFAULT_WORKING_LONG_SIDE, 1536, 2048, 0)


class ClipSettingMenu(QMenu):
    """Exclusive choices of one per-clip project setting (`setting`, a ProjectSettings field).
    Choosing another value saves it and calls `reopen`, so the engine starts a session with it;
    subclasses label, enable and tick the choices in `refresh`."""

    setting = ""

    def __init__(
        self,
        title: str,
        values: tuple,
        document: ShotDocument,
        reopen: Callable[[], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.document = document
        self.reopen = reopen
        self.group = QActionGroup(self)
        self.choices: dict[object, QAction] = {}
        for value in values:
            action = QAction(self)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, v=value: self.choose(v))
            self.group.addAction(action)
            self.addAction(action)
            self.choices[value] = action
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        raise NotImplementedError

    def current(self):
        """The project's value of the setting (None without a project)."""
        project = self.document.project
        return getattr(project.settings, self.setting) if project is not None else None

    def choose(self, value) -> None:
        """Make `value` the clip's setting and open the clip again with it."""
        doc = self.document
        if doc.project is None or self.current() == value:
            return
        setattr(doc.project.settings, self.setting, value)
        doc.save_manifest()
        self.reopen()


class WorkingResolutionMenu(ClipSettingMenu):
    """Exclusive choices of the clip's working long side; `reopen` is called after a change."""

    setting = "working_long_side"

    def __init__(
        self, document: ShotDocument, reopen: Callable[[], object], parent: QWidget | None = None
    ) -> None:
        super().__init__("&Working Resolution", WORKING_CHOICES, document, reopen, parent)

    def refresh(self) -> None:
        """Label each choice with the size it gives this clip; tick the project's setting."""
        doc = self.document
        plate = doc.source.size if doc.source is not None else None
        current = self.current()
        for long_side, action in self.choices.items():
            name = "Plate Size" if long_side == 0 else f"{long_side} px"
            if long_side == DEFAULT_WORKING_LONG_SIDE:
                name += " (default)"
            if plate is not None:
                width, height = working_size(plate, long_side)
                name += f"  —  {width}×{height}"
                # a choice at or above the plate's size is the plate's size
                action.setEnabled(long_side == 0 or long_side < max(plate))
            else:
                action.setEnabled(False)
            action.setText(name)
            action.setChecked(long_side == current)


class InputSpaceMenu(ClipSettingMenu):
    """Clip ▸ Input Colour Space: what an EXR/DPX plate's values mean (core.plates). "Guess"
    takes the file's word for it (EXR scene-linear, DPX log unless its header says otherwise).
    The network and the viewer see the plate through the same view transform; a change opens the
    clip again, so the model is trained anew on what the artist now sees. 8-bit clips are sRGB
    and the menu is disabled for them."""

    setting = "input_space"

    def __init__(
        self, document: ShotDocument, reopen: Callable[[], object], parent: QWidget | None = None
    ) -> None:
        super().__init__("Input &Colour Space", ("", *INPUT_SPACES), document, reopen, parent)

    def refresh(self) -> None:
        """Enable the menu for plates; name the guess; tick the project's setting."""
        doc = self.document
        shown = getattr(doc.source, "input_space", "") if doc.source is not None else ""
        chosen = self.current() or ""
        for space, action in self.choices.items():
            action.setEnabled(bool(shown))
            action.setChecked(space == chosen)
            action.setText(space or "Guess from the File")
        if shown and not chosen:
            self.choices[""].setText(f"Guess from the File  —  {shown}")


# Menu labels of the segmentation modes (core.shot.segmenters.MODES), with what each costs; the
# guided ones are marked experimental while they lose to the default (docs/BENCHMARKS.md).
MODE_LABELS = {
    "osvos": "Each Frame Alone (default)",
    "refine": "Refine Each Frame (experimental)  —  guided second pass, 2× the time",
    "propagate": "Propagate from Keyframes (experimental)  —  each frame guided by the one before",
}


class ModeMenu(ClipSettingMenu):
    """Clip ▸ Segmentation Mode (issue #12): plain OSVOS, or the mask-guided network refining
    each frame's own result, or following the object frame to frame outward from the keyframes.
    A guided mode uses another parent network, so a change opens the clip again and trains
    anew."""

    setting = "mode"

    def __init__(
        self, document: ShotDocument, reopen: Callable[[], object], parent: QWidget | None = None
    ) -> None:
        super().__init__("Segmentation &Mode", tuple(MODE_LABELS), document, reopen, parent)

    def refresh(self) -> None:
        current = self.current()
        for mode, action in self.choices.items():
            action.setText(MODE_LABELS[mode])
            action.setEnabled(self.document.project is not None)
            action.setChecked(mode == current)
