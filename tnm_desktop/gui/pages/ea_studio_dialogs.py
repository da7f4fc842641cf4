"""EA Studio's questions and windows: unsaved edits, and the diff of two versions.

Every dialog is opened with ``open()``, never ``exec()``: a nested event loop would run asyncio
callbacks inside it, and the answer comes back through a signal either way.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import EaProject, EaVersion
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets.diff_view import DiffView


def unsaved_changes_box(parent: QWidget, version_number: int, answered: Callable[[str], None]) -> QMessageBox:
    """Ask what to do with unsaved edits; ``answered`` gets "save", "discard" or "cancel".

    The box is returned (already open) so callers and tests can find its buttons.
    """
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                      f"Your edits to version {version_number} are not saved.",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("unsavedChanges")
    box.setInformativeText("Save them as a new version, discard them, or stay where you are?")
    save = box.addButton("Save as new version", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton(QMessageBox.StandardButton.Discard)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        clicked = box.clickedButton()
        answered("save" if clicked is save else "discard" if clicked is discard else "cancel")
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box


class DiffDialog(QDialog):
    """Two versions of a project side by side; either side can be changed.

    Args:
        ctx: The view context (sources are fetched through its tasks).
        project: The project.
        versions: The versions to choose from.
        old_id: The version shown on the left.
        new_id: The version shown on the right.
        parent: Qt parent.
    """

    def __init__(self, ctx: ViewContext, project: EaProject, versions: list[EaVersion], old_id: str, new_id: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._sources: dict[str, str] = {}
        self.setWindowTitle(f"Compare versions — {project.name}")
        self.resize(1100, 680)
        self.old_box = QComboBox()
        self.new_box = QComboBox()
        for box in (self.old_box, self.new_box):
            for version in versions:
                note = f" — {version.note}" if version.note else ""
                box.addItem(f"v{version.version_number}{note}", version.id)
        self.old_box.setCurrentIndex(self.old_box.findData(old_id))
        self.new_box.setCurrentIndex(self.new_box.findData(new_id))
        self.diff = DiffView()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Left:"))
        pick.addWidget(self.old_box, 1)
        pick.addSpacing(16)
        pick.addWidget(QLabel("Right:"))
        pick.addWidget(self.new_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addWidget(self.diff, 1)
        layout.addWidget(buttons)
        self.old_box.currentIndexChanged.connect(self._on_box_current_index_changed)
        self.new_box.currentIndexChanged.connect(self._on_box_current_index_changed)
        self._on_box_current_index_changed()

    @property
    def loaded(self) -> bool:
        """Whether both chosen sources are shown."""
        return self._shown == (self.old_box.currentData(), self.new_box.currentData())

    _shown: tuple[str, str] | None = None

    def _on_box_current_index_changed(self, _index: int = 0) -> None:
        old_id, new_id = str(self.old_box.currentData()), str(self.new_box.currentData())
        missing = [i for i in {old_id, new_id} if i not in self._sources]

        async def fetch() -> dict[str, str]:
            return {i: (await self._ctx.services.data.get_ea_version(i)).source_code or "" for i in missing}

        def show(fetched: dict[str, str]) -> None:
            self._sources.update(fetched)
            self.diff.set_texts(self._sources[old_id], self._sources[new_id],
                                old_title=self.old_box.currentText(), new_title=self.new_box.currentText())
            self._shown = (old_id, new_id)

        self._ctx.tasks.spawn(fetch(), name="ea-studio: diff", key=f"ea-diff:{id(self)}", on_result=show)
