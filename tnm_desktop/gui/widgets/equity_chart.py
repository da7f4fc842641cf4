"""A line chart of an account's balance and equity over time.

Drawn with QPainter like :mod:`tnm_desktop.gui.widgets.sync_chart` (the app ships without QtCharts), with
the palette's colours for text and grid so it reads in both themes. :meth:`EquityChart.polyline`
is the one layout the painter and the tooltip share.
"""

from __future__ import annotations

import math
from datetime import timedelta

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from tnm_desktop.domain.history import EquityPoint

SERIES_COLOURS = {"balance": QColor("#3d8bd9"), "equity": QColor("#2e9d5b")}
SERIES_LABELS = {"balance": "Balance", "equity": "Equity"}


def axis_range(low: float, high: float) -> tuple[float, float, list[float]]:
    """A readable axis around [low, high]: round bottom and top and the ticks between."""
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    span = high - low
    step = 10 ** math.floor(math.log10(span / 4))
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= 5:
            step *= factor
            break
    bottom, top = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [bottom + step * i for i in range(round((top - bottom) / step) + 1)]
    return bottom, top, ticks


def money_label(value: float) -> str:
    """An axis label: "10,250" (no decimals once the numbers are large)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


class EquityChart(QWidget):
    """Balance and equity of one account over time, with axes, a legend and tooltips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: list[EquityPoint] = []
        self._title = ""
        self._currency = ""
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(560, 240)

    def set_points(self, points: list[EquityPoint], title: str = "", currency: str = "") -> None:
        """Show these readings (any order)."""
        self._points = sorted(points, key=lambda p: p.at)
        self._title = title
        self._currency = currency
        self.update()

    @property
    def points(self) -> list[EquityPoint]:
        """The readings shown, oldest first."""
        return list(self._points)

    # Layout ---------------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("999,999,999") + 12
        top = fm.height() * 2 + 8
        bottom = fm.height() + 12
        return QRectF(left, top, max(10.0, self.width() - left - 14), max(10.0, self.height() - top - bottom))

    def value_range(self) -> tuple[float, float, list[float]]:
        """The y axis: bottom, top and the labelled values."""
        values = [p.balance for p in self._points] + [p.equity for p in self._points]
        return axis_range(min(values), max(values))

    def polyline(self, series: str) -> list[QPointF]:
        """Where the ``balance`` or ``equity`` line passes at the current size, oldest reading first."""
        if not self._points:
            return []
        plot = self._plot_rect()
        bottom, top, _ = self.value_range()
        first, last = self._points[0].at, self._points[-1].at
        span = max((last - first).total_seconds(), 1.0)
        out = []
        for point in self._points:
            value = point.balance if series == "balance" else point.equity
            x = plot.left() + (point.at - first).total_seconds() / span * plot.width()
            y = plot.bottom() - (value - bottom) / (top - bottom) * plot.height()
            out.append(QPointF(x, y))
        return out

    # Painting -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        fm = self.fontMetrics()
        title_font = self.font()
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(text)
        # The title takes what the legend leaves (cut short with "…" in a narrow chart).
        room = self.width() - 16 - (self._legend_width() + 24 if self._points else 0)
        title = QFontMetrics(title_font).elidedText(self._title or "Balance and equity", Qt.TextElideMode.ElideRight,
                                                    max(int(room), 0))
        painter.drawText(QRectF(8, 4, max(room, 0), fm.height()), Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(self.font())
        if not self._points:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "No readings yet: the agent records the balance and equity at every sync.")
            painter.end()
            return
        plot = self._plot_rect()
        self._paint_axes(painter, plot, text)
        for series in ("balance", "equity"):
            line = self.polyline(series)
            path = QPainterPath(line[0])
            for point in line[1:]:
                path.lineTo(point)
            painter.setPen(QPen(SERIES_COLOURS[series], 2 if series == "equity" else 1.6))
            painter.drawPath(path)
        self._paint_legend(painter, text)
        painter.end()

    def _paint_axes(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        fm = self.fontMetrics()
        grid = QColor(text)
        grid.setAlpha(40)
        bottom, top, ticks = self.value_range()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for value in ticks:
            y = round(plot.bottom() - (value - bottom) / (top - bottom) * plot.height())
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - fm.height() / 2, plot.left() - 6, fm.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, money_label(value))
        painter.setPen(QPen(text, 1))
        painter.drawLine(QPointF(plot.left(), plot.top()), QPointF(plot.left(), plot.bottom()))
        painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        first, last = self._points[0].at, self._points[-1].at
        span = last - first
        fmt = "%H:%M" if span < timedelta(days=1) else "%d %b" if span > timedelta(days=3) else "%d %b %H:%M"
        count = max(2, min(6, int(plot.width() // (fm.horizontalAdvance("00 Mmm 00:00") + 24))))
        for i in range(count):
            moment = (first + span * i / (count - 1)).astimezone()
            x = plot.left() + plot.width() * i / (count - 1)
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4))
            label = moment.strftime(fmt)
            w = fm.horizontalAdvance(label)
            lx = min(max(x - w / 2, plot.left() - 4), self.width() - w - 4)
            painter.drawText(QRectF(lx, plot.bottom() + 6, w + 2, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)

    def _legend_labels(self) -> list[tuple[str, str]]:
        last = self._points[-1]
        return [(series, f"{SERIES_LABELS[series]} {value:,.2f} {self._currency}".strip())
                for series, value in (("equity", last.equity), ("balance", last.balance))]

    def _legend_width(self) -> float:
        fm = self.fontMetrics()
        return sum(fm.horizontalAdvance(label) + 32 for _, label in self._legend_labels())

    def _paint_legend(self, painter: QPainter, text: QColor) -> None:
        fm = self.fontMetrics()
        x = float(self.width() - 8)
        y = 4 + fm.height() + 4
        for series, label in self._legend_labels():
            w = fm.horizontalAdvance(label)
            x -= w
            painter.setPen(text)
            painter.drawText(QRectF(x, y - fm.height() + 2, w + 2, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
            x -= 18
            painter.fillRect(QRectF(x, y - fm.height() / 2 - 1, 14, 3), SERIES_COLOURS[series])
            x -= 14

    # Tooltips -------------------------------------------------------------------------------

    def tooltip_at(self, pos: QPointF) -> str:
        """The reading nearest to ``pos`` horizontally, or "" outside the plot."""
        line = self.polyline("balance")
        if not line or not self._plot_rect().adjusted(-4, 0, 4, 0).contains(pos):
            return ""
        nearest = min(range(len(line)), key=lambda i: abs(line[i].x() - pos.x()))
        point = self._points[nearest]
        when = point.at.astimezone().strftime("%d %b %Y %H:%M")
        return f"{when}\nBalance {point.balance:,.2f} · Equity {point.equity:,.2f} {self._currency}".strip()

    def event(self, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.tooltip_at(QPointF(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)
