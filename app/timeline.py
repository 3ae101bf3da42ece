"""Timeline: per-frame result state, confidence and approval, annotation markers, the current
frame; click/drag to scrub."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.document import COMPUTED, NOT_COMPUTED, STALE, ShotDocument

STATE_COLOURS = {
    NOT_COMPUTED: QColor(70, 70, 70),
    COMPUTED: QColor(70, 170, 90),
    STALE: QColor(200, 140, 40),
}


APPROVED_COLOUR = QColor(90, 160, 255)


def confidence_colour(score: float | None, approved: bool) -> QColor | None:
    """The confidence strip's colour: blue when the artist approved the frame, else red the
    less sure the model is (none from 0.95 up, full red at 0.5 and below)."""
    if approved:
        return APPROVED_COLOUR
    if score is None:
        return None
    strength = min(1.0, max(0.0, (0.95 - score) / 0.45))
    return QColor(235, 60, 50, int(255 * strength)) if strength > 0 else None


class TimelineWidget(QWidget):
    """A strip with one cell per frame, coloured by result state; triangles mark keyframes."""

    def __init__(self, document: ShotDocument, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.setMinimumHeight(60)
        # Clicking the timeline takes the keyboard focus from a text field, so the single-key
        # shortcuts (",", ".", "B", ...) reach the window again.
        self.setFocusPolicy(Qt.ClickFocus)
        self.setToolTip(
            "Frames: grey not computed, green computed, orange stale after retraining; "
            "triangles mark painted keyframes; frames outside the in/out range (Alt+I, Alt+O) are "
            "dimmed. The thin strip below: red where the model is unsure (N jumps to the least "
            "sure frame), blue where you approved the frame (A). Click or drag to scrub."
        )
        for signal in (
            document.clip_loaded,
            document.results_invalidated,
            document.objects_changed,
        ):
            signal.connect(self.update)
        document.frame_changed.connect(lambda _f: self.update())
        document.range_changed.connect(lambda _a, _b: self.update())
        document.result_changed.connect(lambda _f: self.update())
        document.annotation_changed.connect(lambda _o, _f: self.update())
        document.approval_changed.connect(lambda _f: self.update())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 62)

    def frame_at(self, x: float) -> int:
        n = max(1, self.document.num_frames)
        return int(min(n - 1, max(0, x / max(1, self.width()) * n)))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.document.set_frame(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton:
            self.document.set_frame(self.frame_at(event.position().x()))

    def paintEvent(self, _event) -> None:  # noqa: N802
        doc = self.document
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        n = doc.num_frames
        if n == 0:
            return
        width = self.width() / n
        bar = QRectF(0, 14, 0, self.height() - 40)  # the confidence strip, then numbers below
        strip = QRectF(0, bar.bottom() + 2, 0, 6)
        for frame_idx in range(n):
            bar.moveLeft(frame_idx * width)
            bar.setWidth(max(1.0, width - (1 if width > 4 else 0)))
            painter.fillRect(bar, STATE_COLOURS[doc.result_state(frame_idx)])
            strip.moveLeft(bar.left())
            strip.setWidth(bar.width())
            colour = confidence_colour(doc.confidence(frame_idx), doc.is_approved(frame_idx))
            if colour is not None:
                painter.fillRect(strip, colour)
        first, last = doc.work_range()
        if first > 0 or last < n - 1:  # outside the in/out range: dimmed, with brackets
            shade = QColor(0, 0, 0, 150)
            painter.fillRect(QRectF(0, 0, first * width, self.height() - 16), shade)
            painter.fillRect(
                QRectF((last + 1) * width, 0, (n - last - 1) * width, self.height() - 16), shade
            )
            painter.setPen(QPen(QColor(255, 220, 80), 2))
            painter.drawLine(int(first * width) + 1, 0, int(first * width) + 1, self.height() - 16)
            painter.drawLine(
                int((last + 1) * width) - 1, 0, int((last + 1) * width) - 1, self.height() - 16
            )
        colours = {o.object_id: QColor(*o.colour) for o in doc.project.objects}
        painter.setPen(Qt.NoPen)
        for object_id, frame_idx in doc.store.keys():
            x = (frame_idx + 0.5) * width
            painter.setBrush(colours.get(object_id, QColor(255, 255, 255)))
            painter.drawPolygon(QPolygonF([QPointF(x - 5, 2), QPointF(x + 5, 2), QPointF(x, 12)]))
        x = (doc.current_frame + 0.5) * width
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(int(x), 0, int(x), self.height())
        # The source's own frame numbers (e.g. 1001): first, last, and the current frame's.
        numbers = doc.source.numbers
        painter.setPen(QColor(200, 200, 200))
        font = painter.font()
        font.setPointSize(8)
        painter.setFont(font)
        top = self.height() - 16
        metrics = painter.fontMetrics()
        current = str(numbers[doc.current_frame])
        half = metrics.horizontalAdvance(current) / 2 + 3
        centre = min(max(x, 2 + half), self.width() - 2 - half)
        painter.drawText(QRectF(centre - 30, top, 60, 14), Qt.AlignHCenter, current)
        # The ends' numbers only where the current frame's number leaves room for them.
        first, last = str(numbers[0]), str(numbers[-1])
        if centre - half > 2 + metrics.horizontalAdvance(first) + 6:
            painter.drawText(QRectF(2, top, 60, 14), Qt.AlignLeft, first)
        if centre + half < self.width() - 2 - metrics.horizontalAdvance(last) - 6:
            painter.drawText(QRectF(self.width() - 62, top, 60, 14), Qt.AlignRight, last)
