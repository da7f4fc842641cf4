"""EA Studio's editor pane: the open version's title, the toolchain buttons, the editor, and saving.

The pane shows; the view decides. It holds no project state of its own: the view tells it what
is open (:meth:`EditorPane.show_state`) and connects to its buttons.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from tnm_desktop.domain import EaProject, EaVersion, JobType
from tnm_desktop.gui.pages.ea_studio_models import COMPILE_PHRASE, ORIGIN_PHRASE
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.code_editor import CodeEditor

TIMEFRAMES = ("M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1")
JOB_BUTTONS = {JobType.COMPILE: "Compile", JobType.DEPLOY: "Deploy", JobType.RUN: "Run", JobType.STOP: "Stop",
               JobType.TEST: "Test"}
_NEEDS_BUILD = (JobType.DEPLOY, JobType.RUN, JobType.TEST)


class EditorPane(QWidget):
    """The MQL5 editor with its header, market and toolchain row, and the save row.

    Args:
        parent: Qt parent.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("EA Studio")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600")
        self.title.setWordWrap(True)  # a long project name must not set the window's minimum width
        self.dirty_label = QLabel()
        self.position_label = QLabel()
        # Wide enough for any position, so moving the cursor does not shift the header.
        widest = self.position_label.fontMetrics().horizontalAdvance("Line 99999, column 999")
        self.position_label.setMinimumWidth(widest)
        self.editor = CodeEditor()
        self.editor.setReadOnly(True)
        self.editor.setPlaceholderText("Pick a project, or start a new EA from a template.")
        self.highlighter = self.editor.set_mql5_highlighting()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("What changed? (optional note for the new version)")
        self.save_button = QPushButton("Save as new version")
        self.save_button.setToolTip("Save the editor's text as a new version (Ctrl+S); it becomes the open one.")
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("Symbol")
        self.symbol_edit.setMinimumWidth(90)
        self.symbol_edit.setMaximumWidth(110)
        self.timeframe_box = QComboBox()
        self.timeframe_box.addItems(TIMEFRAMES)
        self.job_buttons = {job_type: QPushButton(text) for job_type, text in JOB_BUTTONS.items()}
        self.job_buttons[JobType.TEST].setToolTip("Run the deployed version in the Strategy Tester.")
        self.job_hint = QLabel()
        self.job_hint.setWordWrap(True)

        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.dirty_label)
        head.addSpacing(12)
        head.addWidget(self.position_label)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Market:"))
        tools.addWidget(self.symbol_edit)
        tools.addWidget(self.timeframe_box)
        tools.addSpacing(12)
        for button in self.job_buttons.values():
            tools.addWidget(button)
        tools.addStretch(1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.note_edit, 1)
        save_row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addLayout(tools)
        layout.addWidget(self.job_hint)  # under the buttons: beside them it set the window's minimum width
        layout.addWidget(self.editor, 1)
        layout.addLayout(save_row)
        self.editor.cursorPositionChanged.connect(self._on_editor_cursor_position_changed)

    def set_market(self, project: EaProject) -> None:
        """Fill the market row from the project's symbol and timeframe."""
        self.symbol_edit.setText(project.symbol or "")
        if project.timeframe in TIMEFRAMES:
            self.timeframe_box.setCurrentText(project.timeframe)

    def show_state(self, project: EaProject | None, version: EaVersion | None, dirty: bool, *,
                   running: bool = False) -> None:
        """Show what is open, whether it has unsaved edits, and which jobs make sense now.

        ``running``: the project's EA was last asked to run (not stopped since), so Stop means something.
        """
        if project is None or version is None:
            self.title.setText("EA Studio")
        else:
            status = COMPILE_PHRASE.get(version.compile_status, version.compile_status)
            self.title.setText(f"{project.name} — v{version.version_number} · "
                               f"{ORIGIN_PHRASE[version.origin]} · {status}")
        self.dirty_label.setText("● Unsaved changes" if dirty else "")
        theme.tint(self.dirty_label, "color: {warn}; font-weight: 600")
        self.save_button.setEnabled(dirty)
        compiled = version is not None and version.compile_status == "success"
        for job_type, button in self.job_buttons.items():
            # Jobs act on the saved version: with unsaved edits they would not do what the trader sees.
            button.setEnabled(version is not None and not dirty and (compiled or job_type not in _NEEDS_BUILD))
        self.job_buttons[JobType.STOP].setEnabled(project is not None and running)
        self.job_buttons[JobType.STOP].setToolTip("Stop the EA running on the agent's terminal." if running else
                                                  "Nothing is running: Run starts this EA on the agent's terminal.")
        self.job_hint.setText("Save your edits as a new version to compile them." if dirty else
                              "Compile this version to deploy, run or test it." if version and not compiled else "")
        self.job_hint.setVisible(bool(self.job_hint.text()))

    def _on_editor_cursor_position_changed(self) -> None:
        line, column = self.editor.cursor_line_column()
        self.position_label.setText(f"Line {line}, column {column}")
