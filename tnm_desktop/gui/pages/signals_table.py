"""The signal log's table: rows painted straight from the model's columns, a row at a time.

A whole repaint of the log (every frame of dragging the scroll bar, every live row arriving at
the top) through Qt's item delegate asks the model for seven roles of each of ~300 cells through
Python and draws each cell through the style: ~11 ms of the GUI thread a frame (bench.gui_signals).
Here one Python loop paints the visible rows: a row's tint once, then each cell's text from the
model's column stores, laid out once per distinct text (QStaticText) — about a third of that.
What it draws is what the delegate drew: the status tint, the status word's colour, the
selection, numbers on the right, text too wide for its column elided with "…". Everything else
(selection, keyboard, scrolling, tooltips, the header) is Qt's table view as it is.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QStaticText
from PySide6.QtWidgets import QStyle, QTableView, QWidget

from tnm_desktop.gui.pages.signals_model import FILL, PRICE, STATUS, SignalsModel

_CACHED = 4096  # laid-out texts kept: a few screens' worth (timestamps and tickets rarely repeat)
_RIGHT = (PRICE, FILL)  # numbers line up on the right


class SignalsTable(QTableView):
    """A table view of a :class:`SignalsModel` that paints its rows itself."""

    def __init__(self, model: SignalsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self._signals = model
        # Laid-out texts and their sizes, by text (and by text and width once elided).
        self._texts: dict[str, tuple[QStaticText, float, float]] = {}
        self._elided: dict[tuple[str, int], tuple[QStaticText, float, float]] = {}

    @staticmethod
    def _laid_out(text: str) -> tuple[QStaticText, float, float]:
        static = QStaticText(text)
        static.setTextFormat(Qt.TextFormat.PlainText)
        size = static.size()
        return static, size.width(), size.height()

    def _fitted(self, text: str, width: int) -> tuple[QStaticText, float, float]:
        found = self._texts.get(text)
        if found is None:
            if len(self._texts) >= _CACHED:
                self._texts.clear()  # cheaper than an LRU, and a refill costs one screen's layout
            found = self._texts[text] = self._laid_out(text)
        if found[1] <= width:
            return found
        elided = self._elided.get((text, width))
        if elided is None:
            if len(self._elided) >= _CACHED:
                self._elided.clear()
            short = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)
            elided = self._elided[(text, width)] = self._laid_out(short)
        return elided

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.model() is not self._signals:
            super().paintEvent(event)  # another model was set: Qt paints it as usual
            return
        model = self._signals
        viewport = self.viewport()
        area = event.rect()
        palette = self.palette()
        painter = QPainter(viewport)
        try:
            painter.fillRect(area, palette.color(QPalette.ColorRole.Base))
            rows = model.rowCount()
            if not rows:
                return
            first = max(self.rowAt(area.top()), 0)
            last = self.rowAt(area.bottom())
            last = rows - 1 if last < 0 else last
            rows_header, columns_header = self.verticalHeader(), self.horizontalHeader()
            height = rows_header.defaultSectionSize()
            margin = self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self) + 1
            columns = [(c, columns_header.sectionViewportPosition(c), columns_header.sectionSize(c))
                       for c in range(model.columnCount()) if not columns_header.isSectionHidden(c)]
            text, selected_text = palette.color(QPalette.ColorRole.Text), palette.color(
                QPalette.ColorRole.HighlightedText)
            highlight = palette.color(QPalette.ColorRole.Highlight)
            selection = self.selectionModel()
            width = viewport.width()
            for row in range(first, last + 1):
                y = rows_header.sectionViewportPosition(row)
                look = model.row_look(row)
                if look is None:
                    continue
                tint, status_color, texts = look
                selected = selection.isRowSelected(row)
                painter.fillRect(0, y, width, height, highlight if selected else tint)
                for column, x, size in columns:
                    value = texts[column]
                    if not value:
                        continue
                    static, wide, high = self._fitted(value, size - 2 * margin)
                    painter.setPen(selected_text if selected else status_color if column == STATUS else text)
                    left = x + size - margin - wide if column in _RIGHT else x + margin
                    painter.drawStaticText(int(left), int(y + (height - high) / 2), static)
        finally:
            painter.end()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._texts.clear()  # laid out in the old font
            self._elided.clear()
