"""The sync-history chart on its own: layout, tooltips, both themes, and painting without wearing out None."""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPalette
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import SyncLog
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.sync_chart import OUTCOME_COLOURS, SyncChart, format_duration, nice_ceiling, y_ticks

from tests.gui.ea_agent_fixtures import app_theme, rgb

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def history() -> list[SyncLog]:
    logs = []
    for i in range(40):
        status = "failed" if i in (7, 8, 30) else "partial" if i == 19 else "success"
        logs.append(SyncLog(f"s{i}", "acct", "scheduled", status, NOW - timedelta(minutes=5 * (40 - i)), None,
                            300 + (i * 37) % 500 if status == "success" else 2400, i % 3,
                            "Terminal did not answer" if status == "failed" else None))
    return logs


def close_to(colour: QColor, expected: QColor, slack: int = 24) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(rgb(colour), rgb(expected), strict=True))


def test_axis_tops_and_durations_read_well() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 120, 2100, 2600)] == [1.0, 5, 200, 2500, 5000]
    assert [format_duration(v) for v in (850, 1234, 12_500)] == ["850 ms", "1.2 s", "12 s"]
    assert y_ticks(5000) == [0, 1000, 2000, 3000, 4000, 5000]
    assert y_ticks(2500) == [0, 500, 1000, 1500, 2000, 2500]
    assert y_ticks(200) == [0, 50, 100, 150, 200]


def test_bars_follow_time_and_duration_and_the_tooltip_names_the_error(qtbot: QtBot) -> None:
    chart = SyncChart()
    qtbot.addWidget(chart)
    chart.resize(800, 300)
    chart.set_history(list(reversed(history())))  # any order in, oldest first out
    bars = chart.bars()
    assert [log.id for _, log in bars] == [f"s{i}" for i in range(40)]
    assert all(a.left() < b.left() for (a, _), (b, _) in itertools.pairwise(bars))
    failed = next(rect for rect, log in bars if log.id == "s7")
    quick = next(rect for rect, log in bars if log.id == "s0")
    assert failed.height() > quick.height() and failed.bottom() == quick.bottom()
    tip = chart.tooltip_at(QPointF(failed.center().x(), failed.top() - 20))  # above a thin bar still counts
    assert "Failed" in tip and "Terminal did not answer" in tip and "2.4 s" in tip
    assert chart.tooltip_at(QPointF(2, 2)) == ""


def test_the_chart_reads_in_the_dark_theme_and_shows_an_empty_state(qtbot: QtBot, tmp_path: Path) -> None:
    chart = SyncChart()
    qtbot.addWidget(chart)
    chart.resize(700, 280)
    with app_theme(theme.Theme.DARK):
        qtbot.waitUntil(lambda: chart.palette().color(QPalette.ColorRole.Base).lightness() < 60)
        empty = chart.grab().toImage()
        chart.set_history(history(), "Sync history — 5001 · Demo-Server")
        image = chart.grab().toImage()
        palette = chart.palette()
        background, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.WindowText)
        image.save(str(tmp_path / "chart_dark.png"))
    assert background.lightness() < 60 and text.lightness() > 180
    assert close_to(image.pixelColor(3, image.height() - 3), background)
    # The axis is drawn in the text colour, light on the dark background.
    plot_left = int(chart.bars()[0][0].left())
    axis = [image.pixelColor(x, image.height() // 2) for x in range(plot_left - 3, plot_left + 1)]
    assert any(close_to(pixel, text, 60) for pixel in axis)
    failed = next(rect for rect, log in chart.bars() if log.status == "failed").center()
    assert close_to(image.pixelColor(int(failed.x()), int(failed.y())), OUTCOME_COLOURS["failed"], 12)
    # Without history there is a sentence in the middle instead of bars.
    middle = [empty.pixelColor(x, y) for x in range(empty.width() // 3, 2 * empty.width() // 3)
              for y in range(empty.height() // 2 - 6, empty.height() // 2 + 6)]
    assert any(not close_to(pixel, background, 40) for pixel in middle)
    chart.set_history([])
    assert chart.bars() == []


def test_painting_thousands_of_times_does_not_wear_none_down(qtbot: QtBot) -> None:
    # PySide6 6.12 on Python 3.11 drops a reference to None on every void Qt call; the GUI package
    # pins None so that a long session of painting cannot end in "none_dealloc".
    chart = SyncChart()
    qtbot.addWidget(chart)
    chart.resize(600, 240)
    chart.set_history(history())
    before = sys.getrefcount(None)
    for _ in range(300):
        chart.grab()
    assert sys.getrefcount(None) > 1_000_000, "None's reference count is being worn down"
    assert sys.getrefcount(None) >= before - 300 * 400


def test_a_long_title_and_the_legend_never_share_a_row(qtbot: QtBot) -> None:
    chart = SyncChart()
    qtbot.addWidget(chart)
    chart.set_history(history(), "Sync history — 51234567 · TNM-Simulator (TNM Simulator paper trading)")
    for width in (320, 520, 1200):
        chart.resize(width, 280)
        title, legend = chart.title_rect(), chart.legend_rect()
        assert not title.intersects(legend), width
        assert legend.bottom() <= chart.bars()[0][0].top() or legend.bottom() < chart.height() / 4
