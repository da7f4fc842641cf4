"""The closed-trade history: filters, the trades, their figures, P&L per day, and the equity curve.

Everything is computed by the database (closed_trades, trade_stats, daily_pnl, equity_curve), so
the figures here are the figures any client of the account gets. The days are the trader's own
(this computer's time zone). New deals arrive with the agent's syncs: a sync reloads the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from PySide6.QtCore import QDate, Qt, QTimer, QTimeZone
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Strategy, TradingAccount
from tnm_desktop.domain.history import ClosedTrade, DailyPnl, EquityPoint, HistoryFilter, TradeStats
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.positions_models import (
    DaysModel,
    FiguresModel,
    TradesModel,
    percent,
    pnl_color,
    profit_factor,
    signed,
    slippage,
)
from tnm_desktop.gui.widgets import BusyIndicator
from tnm_desktop.gui.widgets.equity_chart import EquityChart
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table

_RELOAD_MS = 1000  # a sync writes deals, the account and a snapshot together: one reload
FIGURES = ("Trades", "Win rate", "Net P&L", "Gross profit", "Gross loss", "Average win", "Average loss",
           "Profit factor", "Average slippage")


def local_time_zone() -> str:
    """This computer's time zone as an IANA name ("Europe/Berlin"), for the days of the P&L."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode() or "UTC"
    return name if "/" in name or name == "UTC" else "UTC"


@dataclass(frozen=True)
class _Loaded:
    trades: list[ClosedTrade]
    stats: TradeStats
    days: list[DailyPnl]
    curve: list[EquityPoint]


class HistoryPanel(QWidget):
    """Filters, closed trades, figures overall and per strategy, P&L per day, the equity curve."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.accounts: list[TradingAccount] = []
        self.names: dict[str, str] = {}
        self.chart_account: TradingAccount | None = None
        self.trades = TradesModel(self)
        self.per_strategy = FiguresModel(self)
        self.days = DaysModel(self)
        self.chart = EquityChart()
        self.account_box = QComboBox()
        self.strategy_box = QComboBox()
        self.symbol_box = QComboBox()
        today = QDate.currentDate()
        self.since_edit = QDateEdit(today.addDays(-30))
        self.until_edit = QDateEdit(today)
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd MMM yyyy")
        self.busy = BusyIndicator()
        self.figures: dict[str, QLabel] = {name: QLabel("—") for name in FIGURES}
        self.trades_view = QTableView()
        self.trades_view.setModel(self.trades)
        setup_table(self.trades_view, widths={0: 140, 1: 90, 2: 50, 3: 50, 4: 85, 5: 85, 6: 110, 7: 90, 8: 70,
                                              9: 130, 10: 140})
        remember_columns(self.trades_view, ctx.settings, "positions/history")
        self.strategies_view = QTableView()
        self.strategies_view.setModel(self.per_strategy)
        setup_table(self.strategies_view, widths={0: 140, 1: 50, 2: 65, 3: 85, 4: 85, 5: 85, 6: 80})
        self.days_view = QTableView()
        self.days_view.setModel(self.days)
        setup_table(self.days_view, widths={0: 130, 1: 55, 2: 50})
        self._build()
        for box in (self.account_box, self.strategy_box, self.symbol_box):
            box.currentIndexChanged.connect(self._on_filter_changed)
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(self._on_filter_changed)
        self._reload_timer = QTimer(self, singleShot=True, interval=_RELOAD_MS)
        self._reload_timer.timeout.connect(self.reload)
        ctx.live.sync_log_added.connect(self._on_live_sync_log_added)
        self._filling = False

    def _build(self) -> None:
        filters = QHBoxLayout()
        for label, widget in (("Account", self.account_box), ("Strategy", self.strategy_box),
                              ("Symbol", self.symbol_box), ("From", self.since_edit), ("to", self.until_edit)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.busy)
        filters.addStretch(1)
        figures = QGroupBox("Figures")
        grid = QGridLayout(figures)
        for i, name in enumerate(FIGURES):
            self.figures[name].setObjectName(f"figure_{name.lower().replace(' ', '_').replace('&', '')}")
            self.figures[name].setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(QLabel(name), i % 5, (i // 5) * 2)
            grid.addWidget(self.figures[name], i % 5, (i // 5) * 2 + 1)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(figures)
        self.breakdown = QTabWidget()  # per strategy, per day: one at a time, each with room
        self.breakdown.addTab(self.strategies_view, "Per strategy")
        self.breakdown.addTab(self.days_view, "P&&L per day")  # && : an ampersand, not a shortcut
        sv.addWidget(self.breakdown, 1)
        for view in (self.strategies_view, self.days_view):  # the page fits a 768-pixel-high screen
            view.setMinimumHeight(64)
        # The closed trades take the page's width (their columns want it); the figures and the
        # curve share the part below. The figures scroll rather than hold the window taller than
        # a small screen (768 pixels with the toolbar and the status bar).
        side_scroll = QScrollArea()
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setWidget(side)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(side_scroll)
        bottom.addWidget(self.chart)
        bottom.setSizes([700, 500])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.trades_view)
        split.addWidget(bottom)
        split.setSizes([330, 350])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(split, 1)

    # Choices --------------------------------------------------------------------------------

    def set_choices(self, accounts: list[TradingAccount], strategies: list[Strategy], symbols: list[str],
                    chart_account: TradingAccount | None) -> None:
        """What the filters offer, and whose equity the chart shows; then reload."""
        self._filling = True
        try:
            self.accounts = accounts
            self.names = {s.id: s.name for s in strategies}
            self.trades.names = self.per_strategy.names = self.names
            self.chart_account = chart_account
            first = self.account_box.count() == 0  # then the page's account; later, the trader's pick
            _refill(self.account_box, [("All accounts", None)] + [(f"{a.login} · {a.server}", a.id) for a in accounts],
                    chart_account.id if first and chart_account else None)
            _refill(self.strategy_box, [("All strategies", None)] + [(s.name, s.id) for s in strategies])
            _refill(self.symbol_box, [("All symbols", None)] + [(s, s) for s in sorted(set(symbols))])
        finally:
            self._filling = False
        self.reload()

    def filters(self) -> HistoryFilter:
        """The filter the controls describe (the dates are whole local days)."""
        first, last = self.since_edit.date(), self.until_edit.date()
        since = datetime.combine(date(first.year(), first.month(), first.day()), time.min).astimezone()
        until = datetime.combine(date(last.year(), last.month(), last.day()), time.min).astimezone() + timedelta(days=1)
        return HistoryFilter(account_id=self.account_box.currentData(), strategy_id=self.strategy_box.currentData(),
                             symbol=self.symbol_box.currentData(), since=since.astimezone(UTC),
                             until=until.astimezone(UTC))

    def _on_filter_changed(self) -> None:
        if not self._filling:
            self.reload()

    def _on_live_sync_log_added(self, _change: Change) -> None:
        self._reload_timer.start()

    # Loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load the trades, figures, days and curve for the filters (a newer load cancels an older one)."""
        data, filters, zone = self._ctx.services.data, self.filters(), local_time_zone()
        account = self.account_box.currentData() or (self.chart_account.id if self.chart_account else None)

        async def load() -> _Loaded:
            trades = await data.closed_trades(filters)
            stats = await data.trade_stats(filters)
            days = await data.daily_pnl(filters, zone)
            curve = await data.equity_curve(account, since=filters.since, until=filters.until) if account else []
            return _Loaded(trades, stats, days, curve)

        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(load(), name="history", key=f"history:{id(self)}", on_result=self._on_loaded,
                              on_error=self._on_failed)

    def _on_failed(self, exc: Exception) -> None:
        self.busy.set_busy(False)
        self._ctx.bridge.user_error(exc)  # type: ignore[arg-type]

    def _on_loaded(self, loaded: _Loaded) -> None:
        self.busy.set_busy(False)
        account = next((a for a in self.accounts if a.id == self.account_box.currentData()), self.chart_account)
        currency = account.currency if account else ""
        self.trades.currency = self.days.currency = currency
        self.trades.set_rows(loaded.trades)
        self.per_strategy.set_rows(list(loaded.stats.by_strategy))
        self.days.set_rows(list(reversed(loaded.days)))
        self._show_figures(loaded.stats, currency)
        title = f"Balance and equity — {account.login} · {account.server}" if account else "Balance and equity"
        self.chart.set_points(loaded.curve, title, currency)

    def _show_figures(self, stats: TradeStats, currency: str) -> None:
        f = stats.overall
        values = {"Trades": f"{f.trades} ({f.wins} won, {f.losses} lost)" if f.trades else "0",
                  "Win rate": percent(f.win_rate), "Net P&L": signed(f.net, currency),
                  "Gross profit": signed(f.gross_profit, currency), "Gross loss": signed(f.gross_loss, currency),
                  "Average win": signed(f.avg_win, currency), "Average loss": signed(f.avg_loss, currency),
                  "Profit factor": profit_factor(f),
                  "Average slippage": slippage(f.avg_slippage_pips)
                  + (f" ({f.slippage_samples} fills)" if f.slippage_samples else "")}
        for name, text in values.items():
            label = self.figures[name]
            label.setText(text)
            colour = pnl_color(f.net) if name == "Net P&L" else None
            label.setStyleSheet(f"color: {colour.name()}; font-weight: 600;" if colour is not None else "")

    def figure_texts(self) -> dict[str, str]:
        """What the figures box shows — for tests and accessibility."""
        return {name: label.text() for name, label in self.figures.items()}



def _refill(box: QComboBox, items: list[tuple[str, str | None]], keep: str | None = None) -> None:
    current = keep if keep is not None else box.currentData()
    box.clear()
    for text, value in items:
        box.addItem(text, value)
    index = box.findData(current) if current is not None else 0
    box.setCurrentIndex(max(index, 0))
