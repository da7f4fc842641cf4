"""A bar chart of one account's sync attempts: duration over time, coloured by outcome.

Drawn with QPainter (the app ships without QtCharts). Axes, labels and grid take their colours
from the widget's palette, so the chart reads in the light and the dark theme; the three outcome
colours are mid-tones that stand out on both. :meth:`SyncChart.bars` is the one layout the painter
and the tooltip share.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from tnm_desktop.domain import SyncLog

OUTCOME_COLOURS = {"success": QColor("#2e9d5b"), "partial": QColor("#d49a1a"), "failed": QColor("#d64545")}
OUTCOME_LABELS = {"success": "Succeeded", "partial": "Partial", "failed": "Failed"}
_MIN_BAR_HEIGHT = 3.0  # a failure that took no time must still show


def format_duration(ms: float) -> str:
    """A duration the way the chart labels it: "850 ms", "1.2 s"."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s" if ms < 10_000 else f"{ms / 1000:.0f} s"


# How many intervals a top of 1, 2, 2.5 or 5 × 10ⁿ divides into so that every tick is a round number.
_INTERVALS = {1.0: 5, 2.0: 4, 2.5: 5, 5.0: 5, 10.0: 5}


def y_ticks(top: float) -> list[float]:
    """The labelled values from 0 to ``top`` (a :func:`nice_ceiling`), all round."""
    mantissa = round(top / 10 ** math.floor(math.log10(top)), 6)
    count = _INTERVALS.get(mantissa, 4)
    return [top * i / count for i in range(count + 1)]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (a readable axis top)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


class SyncChart(QWidget):
    """Duration bars of sync attempts over time, with axes, a legend and tooltips.

    Args:
        parent: Qt parent.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._logs: list[SyncLog] = []
        self._title = ""
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(520, 240)

    def set_history(self, logs: list[SyncLog], title: str = "") -> None:
        """Show these attempts (any order)."""
        self._logs = sorted(logs, key=lambda log: log.started_at)
        self._title = title
        self.update()

    @property
    def history(self) -> list[SyncLog]:
        """The attempts shown, oldest first."""
        return list(self._logs)

    # Layout ---------------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("9999 ms") + 14
        top = fm.height() * 2 + 8 + fm.height() // 2  # the title's row, the legend's, some air
        bottom = fm.height() + 12
        return QRectF(left, top, max(10.0, self.width() - left - 14), max(10.0, self.height() - top - bottom))

    def title_rect(self) -> QRectF:
        """Where the title goes: the first row, to itself (elided to the width). Side by side with
        the legend, a narrow chart wrote one over the other."""
        return QRectF(8, 4, max(10, self.width() - 16), self.fontMetrics().height())

    def legend_rect(self) -> QRectF:
        """Where the legend goes: the second row, right-aligned."""
        fm = self.fontMetrics()
        counts = Counter(log.status for log in self._logs)
        width = sum(fm.horizontalAdvance(f"{OUTCOME_LABELS[s]} {counts.get(s, 0)}") + 30 for s in OUTCOME_COLOURS)
        return QRectF(self.width() - 8 - width, 4 + fm.height() + 4, width, fm.height())

    def _y_top(self) -> float:
        return nice_ceiling(max((log.duration_ms or 0 for log in self._logs), default=0) * 1.05)

    def _time_range(self) -> tuple[datetime, datetime]:
        first, last = self._logs[0].started_at, self._logs[-1].started_at
        if last - first < timedelta(minutes=1):
            first, last = first - timedelta(seconds=30), last + timedelta(seconds=30)
        return first, last

    def bars(self) -> list[tuple[QRectF, SyncLog]]:
        """Where each attempt's bar is drawn at the current size."""
        if not self._logs:
            return []
        plot = self._plot_rect()
        first, last = self._time_range()
        span = (last - first).total_seconds()
        width = max(2.0, min(18.0, plot.width() / max(len(self._logs), 1) * 0.7))
        y_top = self._y_top()
        out: list[tuple[QRectF, SyncLog]] = []
        for log in self._logs:
            fraction = (log.started_at - first).total_seconds() / span
            x = plot.left() + fraction * (plot.width() - width)
            height = max(_MIN_BAR_HEIGHT, (log.duration_ms or 0) / y_top * plot.height())
            out.append((QRectF(x, plot.bottom() - height, width, height), log))
        return out

    # Painting -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        painter.setPen(text)
        title_font = self.font()
        title_font.setBold(True)
        painter.setFont(title_font)
        title = QFontMetrics(title_font).elidedText(self._title or "Sync history", Qt.TextElideMode.ElideRight,
                                                    max(10, self.width() - 16))
        painter.drawText(self.title_rect(), Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(self.font())
        if not self._logs:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No syncs recorded for this account yet.")
            painter.end()
            return
        plot = self._plot_rect()
        self._paint_axes(painter, plot, text)
        for rect, log in self.bars():
            painter.fillRect(rect, OUTCOME_COLOURS.get(log.status, OUTCOME_COLOURS["failed"]))
        self._paint_legend(painter, text)
        painter.end()

    def _paint_axes(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        fm = self.fontMetrics()
        grid = QColor(text)
        grid.setAlpha(40)
        y_top = self._y_top()
        # Crisp one-pixel lines: antialiasing would smear them into a dimmer two-pixel grey.
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for value in y_ticks(y_top):
            y = round(plot.bottom() - plot.height() * value / y_top)
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine if value else Qt.PenStyle.SolidLine))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - fm.height() / 2, plot.left() - 6, fm.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, format_duration(value))
        painter.setPen(QPen(text, 1))
        painter.drawLine(QPointF(plot.left(), plot.top()), QPointF(plot.left(), plot.bottom()))
        painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        first, last = self._time_range()
        span = last - first
        fmt = "%H:%M" if span < timedelta(days=1) else "%d %b %H:%M"
        ticks = max(2, min(6, int(plot.width() // (fm.horizontalAdvance("00 Mmm 00:00") + 24))))
        for i in range(ticks):
            moment = (first + span * i / (ticks - 1)).astimezone()
            x = plot.left() + plot.width() * i / (ticks - 1)
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4))
            label = moment.strftime(fmt)
            w = fm.horizontalAdvance(label)
            lx = min(max(x - w / 2, plot.left() - 4), self.width() - w - 4)
            painter.drawText(QRectF(lx, plot.bottom() + 6, w + 2, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)

    def _paint_legend(self, painter: QPainter, text: QColor) -> None:
        fm = self.fontMetrics()
        counts = Counter(log.status for log in self._logs)
        x = float(self.width() - 8)
        top = self.legend_rect().top()
        for status in reversed(OUTCOME_COLOURS):
            label = f"{OUTCOME_LABELS[status]} {counts.get(status, 0)}"
            w = fm.horizontalAdvance(label)
            x -= w
            painter.setPen(text)
            painter.drawText(QRectF(x, top, w + 2, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
            x -= 16
            painter.fillRect(QRectF(x, top + (fm.height() - 11) / 2, 11, 11), OUTCOME_COLOURS[status])
            x -= 14

    # Tooltips -------------------------------------------------------------------------------

    def tooltip_at(self, pos: QPointF) -> str:
        """The tooltip text for a point over a bar, or "" elsewhere."""
        for rect, log in self.bars():
            # Thin bars are hard to hit: accept the whole column above a bar.
            column = QRectF(rect.left() - 2, self._plot_rect().top(), rect.width() + 4, self._plot_rect().height())
            if column.contains(pos):
                when = log.started_at.astimezone().strftime("%d %b %Y %H:%M:%S")
                duration = "—" if log.duration_ms is None else format_duration(log.duration_ms)
                lines = [f"{when} · {OUTCOME_LABELS.get(log.status, log.status)}",
                         f"Duration: {duration} · {log.sync_type} · {log.trades_synced} trade(s)"]
                if log.error_message:
                    lines.append(log.error_message)
                return "\n".join(lines)
        return ""

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
