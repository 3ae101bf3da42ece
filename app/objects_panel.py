"""Object list: add, rename (double-click), delete, show/hide (checkbox), select the active one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.document import ShotDocument


def swatch(colour: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*colour))
    return QIcon(pixmap)


class ObjectListPanel(QWidget):
    """Mirrors document.project.objects; edits go back through the document."""

    def __init__(self, document: ShotDocument, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.list = QListWidget()
        self.list.setEditTriggers(QListWidget.DoubleClicked | QListWidget.EditKeyPressed)
        self.add_button = QPushButton("Add")
        self.delete_button = QPushButton("Delete")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._updating = False
        self.add_button.clicked.connect(lambda: document.add_object())
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.list.currentItemChanged.connect(self._on_list_current_changed)
        self.list.itemChanged.connect(self._on_list_item_changed)
        document.objects_changed.connect(self.refresh)
        document.active_object_changed.connect(lambda _o: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self._updating = True
        self.list.clear()
        for info in self.document.project.objects:
            item = QListWidgetItem(swatch(info.colour), info.name)
            item.setData(Qt.UserRole, info.object_id)
            item.setFlags(item.flags() | Qt.ItemIsEditable | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if info.visible else Qt.Unchecked)
            self.list.addItem(item)
            if info.object_id == self.document.active_object_id:
                self.list.setCurrentItem(item)
        self.delete_button.setEnabled(len(self.document.project.objects) > 1)
        self._updating = False

    def _on_list_current_changed(self, current, _previous) -> None:
        if current is not None and not self._updating:
            self.document.set_active_object(current.data(Qt.UserRole))

    def _on_list_item_changed(self, item) -> None:
        if self._updating:
            return
        # Read everything first: each document call rebuilds the list and deletes this item.
        object_id, name, visible = (
            item.data(Qt.UserRole),
            item.text(),
            item.checkState() == Qt.Checked,
        )
        self.document.rename_object(object_id, name)
        self.document.set_object_visible(object_id, visible)

    def _on_delete_clicked(self) -> None:
        info = self.document.object(self.document.active_object_id)
        if info is None:
            return
        answer = QMessageBox.question(
            self, "Delete object", f"Delete “{info.name}” and all its painted keyframes?"
        )
        if answer == QMessageBox.Yes:
            self.document.delete_object(info.object_id)
