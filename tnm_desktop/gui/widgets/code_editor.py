"""A plain-text code editor: line numbers, the current line, and marks for diagnostics.

Built on :class:`QPlainTextEdit` the way Qt's own code-editor example is: a gutter widget on the
left margin, painted by the editor block by block, so it stays in step with scrolling and
folding of long lines for free. Everything drawn over the text (current line, diagnostics, the
diff view's coloured rows) is an extra selection, composed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from tnm_desktop.gui.widgets.mql5_highlighter import Mql5Highlighter, is_dark

TAB_WIDTH = 3  # MetaEditor's default indentation


@dataclass(frozen=True, slots=True)
class LineMark:
    """A diagnostic shown in the editor: 1-based line and column."""

    line: int
    column: int
    severity: str  # "error" | "warning" | "info"
    message: str = ""


def monospace_font() -> QFont:
    """The system's fixed-pitch font, a little larger than the UI's."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    return font


class _Gutter(QWidget):
    # Paints nothing itself: the editor knows where each visible block is.
    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self._editor = editor

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(self._editor.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        self._editor.paint_gutter(event)


class CodeEditor(QPlainTextEdit):
    """A monospace editor with a line-number gutter, current-line highlight and diagnostic marks.

    Args:
        parent: Qt parent.
        highlight_current_line: Tint the line holding the cursor (off for read-only panes).
    """

    def __init__(self, parent: QWidget | None = None, *, highlight_current_line: bool = True) -> None:
        super().__init__(parent)
        self._gutter = _Gutter(self)
        self._highlight_current = highlight_current_line
        self._labels: list[str] | None = None
        self._backgrounds: dict[int, QColor] = {}
        self._spans: list[tuple[int, int, int, QColor]] = []
        self._marks: list[LineMark] = []
        self.highlighter: Mql5Highlighter | None = None  # recoloured when the theme changes
        self.setFont(monospace_font())
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * TAB_WIDTH)
        self.blockCountChanged.connect(self._on_document_block_count_changed)
        self.updateRequest.connect(self._on_editor_update_request)
        self.cursorPositionChanged.connect(self._on_editor_cursor_position_changed)
        self._on_document_block_count_changed(0)
        self._refresh_selections()

    # What other widgets set ----------------------------------------------------------------

    def set_line_labels(self, labels: list[str] | None) -> None:
        """Show these labels in the gutter instead of 1, 2, 3… (the diff view's own numbers)."""
        self._labels = labels
        self._on_document_block_count_changed(0)
        self._gutter.update()

    def set_line_backgrounds(self, backgrounds: dict[int, QColor]) -> None:
        """Tint whole lines, by 0-based block number."""
        self._backgrounds = dict(backgrounds)
        self._refresh_selections()

    def set_char_spans(self, spans: list[tuple[int, int, int, QColor]]) -> None:
        """Tint stretches of text: (0-based block, start, length, colour)."""
        self._spans = list(spans)
        self._refresh_selections()

    def set_marks(self, marks: list[LineMark]) -> None:
        """Underline and flag the lines diagnostics point at."""
        self._marks = list(marks)
        self._refresh_selections()
        self._gutter.update()

    @property
    def marks(self) -> list[LineMark]:
        """The diagnostics shown."""
        return list(self._marks)

    def go_to(self, line: int, column: int = 1) -> None:
        """Put the cursor on a 1-based line and column (clamped to the text) and show it."""
        doc = self.document()
        block = doc.findBlockByNumber(max(0, min(line - 1, doc.blockCount() - 1)))
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.MoveAnchor,
                            max(0, min(column - 1, block.length() - 1)))
        self.setTextCursor(cursor)
        self.centerCursor()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def cursor_line_column(self) -> tuple[int, int]:
        """The cursor's 1-based line and column."""
        cursor = self.textCursor()
        return cursor.blockNumber() + 1, cursor.positionInBlock() + 1

    # The gutter -----------------------------------------------------------------------------

    def gutter_width(self) -> int:
        """Pixels the gutter needs for the widest label, plus room for a diagnostic flag."""
        if self._labels is not None:
            widest = max((len(label) for label in self._labels), default=1)
        else:
            widest = len(str(max(1, self.blockCount())))
        return 14 + self.fontMetrics().horizontalAdvance("9") * max(widest, 2)

    def paint_gutter(self, event: QPaintEvent) -> None:
        """Paint the visible part of the gutter (called by the gutter widget)."""
        painter = QPainter(self._gutter)
        palette = self.palette()
        dark = is_dark(palette)
        painter.fillRect(event.rect(), palette.color(QPalette.ColorRole.Window).darker(110 if not dark else 90))
        flags = {m.line - 1: m.severity for m in self._marks}
        current = self.textCursor().blockNumber()
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        strong = palette.color(QPalette.ColorRole.Text)
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        height = self.fontMetrics().height()
        width = self._gutter.width()
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                if number in flags:
                    painter.setBrush(_severity_colour(flags[number]))
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.drawEllipse(3, top + (height - 7) // 2, 7, 7)
                label = self._label(number)
                font = self.font()
                font.setBold(number == current and self._highlight_current)
                painter.setFont(font)
                painter.setPen(strong if number == current and self._highlight_current else dim)
                painter.drawText(0, top, width - 5, height, Qt.AlignmentFlag.AlignRight, label)
            block = block.next()
            top = bottom
            number += 1
        painter.end()

    def _label(self, number: int) -> str:
        if self._labels is None:
            return str(number + 1)
        return self._labels[number] if number < len(self._labels) else ""

    def set_mql5_highlighting(self) -> Mql5Highlighter:
        """Colour the text as MQL5, in colours for the current (and any later) theme."""
        self.highlighter = Mql5Highlighter(self.document(), dark=is_dark(self.palette()))
        return self.highlighter

    def changeEvent(self, event: QEvent) -> None:  # Qt override
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if self.highlighter is not None:
                self.highlighter.set_dark(is_dark(self.palette()))
            self._refresh_selections()

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        rect = self.contentsRect()
        self._gutter.setGeometry(QRect(rect.left(), rect.top(), self.gutter_width(), rect.height()))

    def _on_document_block_count_changed(self, _count: int) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _on_editor_update_request(self, rect: QRect, dy: int) -> None:
        if dy:
            self._gutter.scroll(0, dy)
        else:
            self._gutter.update(0, rect.y(), self._gutter.width(), rect.height())

    def _on_editor_cursor_position_changed(self) -> None:
        if self._highlight_current:
            self._refresh_selections()
            self._gutter.update()

    # Extra selections -----------------------------------------------------------------------

    def _refresh_selections(self) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        doc = self.document()
        for number, colour in sorted(self._backgrounds.items()):
            selections.append(_line_selection(QTextCursor(doc.findBlockByNumber(number)), colour))
        if self._highlight_current and not self.isReadOnly():
            tint = self.palette().color(QPalette.ColorRole.Highlight)
            tint.setAlpha(28)
            selections.append(_line_selection(self.textCursor(), tint))
        for number, start, length, colour in self._spans:
            cursor = QTextCursor(doc.findBlockByNumber(number))
            cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.MoveAnchor, start)
            cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor, length)
            selections.append(_selection(cursor, background=colour))
        for mark in self._marks:
            block = doc.findBlockByNumber(mark.line - 1)
            if not block.isValid():
                continue
            cursor = QTextCursor(block)
            cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
            selections.append(_selection(cursor, underline=_severity_colour(mark.severity)))
        self.setExtraSelections(selections)


def _severity_colour(severity: str) -> QColor:
    return QColor({"error": "#d64545", "warning": "#d49a1a"}.get(severity, "#3d8bd9"))


def _line_selection(cursor: QTextCursor, colour: QColor) -> QTextEdit.ExtraSelection:
    selection = QTextEdit.ExtraSelection()
    selection.format.setBackground(colour)
    selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
    cursor.clearSelection()
    selection.cursor = cursor
    return selection


def _selection(cursor: QTextCursor, *, background: QColor | None = None,
               underline: QColor | None = None) -> QTextEdit.ExtraSelection:
    selection = QTextEdit.ExtraSelection()
    fmt = QTextCharFormat()
    if background is not None:
        fmt.setBackground(background)
    if underline is not None:
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(underline)
    selection.format = fmt
    selection.cursor = cursor
    return selection
