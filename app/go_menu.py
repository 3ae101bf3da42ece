"""Go menu: moving through the shot, in/out points, and the review actions that find the
frame to fix next and mark checked frames as approved."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu


def build_go_menu(window, go: QMenu) -> None:
    """Fill `go` with the window's navigation actions (window._action adds each)."""
    doc = window.document
    window._action("Previous Frame", lambda: window.step(-1), ",", go)
    window._action("Next Frame", lambda: window.step(1), ".", go)
    # One sequence each: on a US layout Shift+, arrives as "<" with Shift, which Qt's key
    # mapper also matches as "Shift+,"; registering both made the keypress ambiguous.
    window._action("Back 10 Frames", lambda: window.step(-10), "<", go)
    window._action("Forward 10 Frames", lambda: window.step(10), ">", go)
    window._action("Previous Keyframe", lambda: window.jump_to_keyframe(-1), "J", go)
    window._action("Next Keyframe", lambda: window.jump_to_keyframe(1), "K", go)
    window._action("First Frame", lambda: doc.set_frame(0), "Home", go)
    window._action("Last Frame", lambda: doc.set_frame(doc.num_frames - 1), "End", go)
    window._action("Play / Pause", window.toggle_playback, None, go)
    go.addSeparator()
    window._action("Set In Point", lambda: doc.set_work_range(first=doc.current_frame), "Alt+I", go)
    window._action("Set Out Point", lambda: doc.set_work_range(last=doc.current_frame), "Alt+O", go)
    window._action("Clear In/Out Range", lambda: doc.set_work_range(0, -1), "Alt+X", go)
    go.addSeparator()
    window._action("Next Frame to &Fix", lambda: go_to_frame_to_fix(window), "N", go)
    window._action("&Approve Frame", lambda: doc.toggle_approved(doc.current_frame), "A", go)


def go_to_frame_to_fix(window) -> None:
    """Show the least confident frame that is neither a keyframe nor approved, or say why
    there is none."""
    doc = window.document
    frame_idx = doc.next_frame_to_fix()
    if frame_idx is None:
        window.statusBar().showMessage(
            "No frame to fix: every segmented frame is a keyframe or approved "
            "(or none is segmented yet).",
            6000,
        )
        return
    doc.set_frame(frame_idx)
    score = doc.confidence(frame_idx)
    window.statusBar().showMessage(f"Least sure frame: {score:.0%} confident.", 6000)
