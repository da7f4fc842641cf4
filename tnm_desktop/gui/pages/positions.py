"""Positions & History: what is open at the broker now, what closed, and how it went.

The open side is each account's positions snapshot, written by its agent after every trade and at
every sync and pushed here live; the header says how old it is. The history is the synced deals.
An account is picked at the top; the open positions are that account's, the history filters start
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Strategy, TradingAccount
from tnm_desktop.domain.positions import PositionsSnapshot
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.positions_history import HistoryPanel
from tnm_desktop.gui.pages.positions_models import age_text, signed
from tnm_desktop.gui.pages.positions_open import OpenPanel
from tnm_desktop.gui.widgets import BusyIndicator, fmt, theme

_COALESCE_MS = 250
STALE_SNAPSHOT_S = 180  # three scheduled syncs: the agent may be down (the status bar says)


@dataclass(frozen=True)
class _Loaded:
    accounts: list[TradingAccount]
    snapshots: list[PositionsSnapshot]
    strategies: list[Strategy]


class PositionsView(QWidget):
    """The account picker, its money, and the Open positions and History tabs."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.accounts: list[TradingAccount] = []
        self.snapshots: dict[str, PositionsSnapshot] = {}
        self.strategies: list[Strategy] = []
        self.account_box = QComboBox()
        self.account_box.setMinimumWidth(220)
        self.age = QLabel()
        self.age.setObjectName("snapshotAge")
        self.money = QLabel()
        self.money.setObjectName("accountMoney")
        self.busy = BusyIndicator()
        self.open = OpenPanel(ctx)
        self.history = HistoryPanel(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.open, "Open positions")
        self.tabs.addTab(self.history, "History")
        self._build()
        self.account_box.currentIndexChanged.connect(self._on_account_box_changed)
        ctx.live.positions_changed.connect(self._on_live_positions_changed)
        ctx.live.account_changed.connect(self._on_live_account_changed)
        self._reload_timer = QTimer(self, singleShot=True, interval=_COALESCE_MS)
        self._reload_timer.timeout.connect(self.reload)
        self._clock = QTimer(self, interval=1000)  # "read 3 s ago" must count
        self._clock.timeout.connect(self._show_age)
        self._clock.start()
        self.reload()

    def _build(self) -> None:
        title = QLabel("Positions & History")
        title.setStyleSheet("font-size: 15px; font-weight: 600")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(12)
        head.addWidget(QLabel("Account"))
        head.addWidget(self.account_box)
        head.addSpacing(12)
        head.addWidget(self.money)
        head.addStretch(1)
        head.addWidget(self.busy)
        head.addWidget(self.age)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)

    # Loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load the accounts, their snapshots and the strategies' names."""
        data = self._ctx.services.data

        async def load() -> _Loaded:
            return _Loaded(await data.list_accounts(), await data.list_position_snapshots(),
                           await data.list_strategies())

        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(load(), name="positions", key=f"positions:{id(self)}", on_result=self._on_loaded,
                              on_error=self._on_failed)

    def _on_failed(self, exc: Exception) -> None:
        self.busy.set_busy(False)
        self._ctx.bridge.user_error(exc)  # type: ignore[arg-type]

    def _on_loaded(self, loaded: _Loaded) -> None:
        self.busy.set_busy(False)
        chosen = self.account_box.currentData()
        self.accounts = [a for a in loaded.accounts if a.is_active] or loaded.accounts
        self.snapshots = {s.account_id: s for s in loaded.snapshots}
        self.strategies = loaded.strategies
        names = {s.id: s.name for s in loaded.strategies}
        self.open.set_names(names)
        self.account_box.blockSignals(True)
        self.account_box.clear()
        for account in self.accounts:
            self.account_box.addItem(f"{account.login} · {account.server}", account.id)
        default = max(self.accounts, key=lambda a: self.snapshots[a.id].taken_at if a.id in self.snapshots
                      else datetime.min.replace(tzinfo=UTC), default=None)
        index = self.account_box.findData(chosen if chosen else default.id if default else None)
        self.account_box.setCurrentIndex(max(index, 0))
        self.account_box.blockSignals(False)
        self._show_account()
        symbols = [p.symbol for s in self.snapshots.values() for p in s.positions]
        self.history.set_choices(self.accounts, self.strategies, symbols + self._traded_symbols(),
                                 self.account())

    def _traded_symbols(self) -> list[str]:
        return [t.symbol for t in self.history.trades.rows()]

    # What is shown --------------------------------------------------------------------------

    def account(self) -> TradingAccount | None:
        """The account picked at the top."""
        return next((a for a in self.accounts if a.id == self.account_box.currentData()), None)

    def snapshot(self) -> PositionsSnapshot | None:
        """The picked account's latest snapshot."""
        account = self.account()
        return self.snapshots.get(account.id) if account else None

    def _on_account_box_changed(self) -> None:
        self._show_account()
        self.history.chart_account = self.account()
        self.history.reload()

    def _show_account(self) -> None:
        snapshot, account = self.snapshot(), self.account()
        self.open.set_snapshot(account, snapshot)
        count = len(snapshot.positions) if snapshot else 0
        self.tabs.setTabText(0, f"Open positions ({count})")
        if snapshot is not None and snapshot.balance is not None:
            floating = self.open.positions.total_profit()
            self.money.setText(f"Balance {fmt.money(snapshot.balance, snapshot.currency)} · Equity "
                               f"{fmt.money(snapshot.equity or 0, snapshot.currency)} · Floating "
                               f"{signed(floating, snapshot.currency)}")
        elif account is not None:
            self.money.setText(f"Balance {fmt.money(account.balance, account.currency)}")
        else:
            self.money.setText("No trading account yet: pair an agent and let it sync.")
        self._show_age()

    def _show_age(self) -> None:
        snapshot = self.snapshot()
        self.age.setText(age_text(snapshot.taken_at if snapshot else None))
        old = snapshot is not None and snapshot.age_seconds(datetime.now(UTC)) > STALE_SNAPSHOT_S
        self.age.setStyleSheet(f"color: {theme.state_color('warn' if old else 'idle').name()}")
        self.age.setToolTip("The agent reads the terminal after every trade, close or stop change it makes, and at "
                            "every account sync." + (" This reading is old: is the agent running?" if old else ""))

    # Live updates ---------------------------------------------------------------------------

    def _on_live_positions_changed(self, change: Change) -> None:
        snapshot = change.row
        if not isinstance(snapshot, PositionsSnapshot):
            return
        self.snapshots[snapshot.account_id] = snapshot
        if self.account_box.findData(snapshot.account_id) < 0:
            self._reload_timer.start()  # a new account: its name and the filters come with a reload
        elif snapshot.account_id == self.account_box.currentData():
            self._show_account()

    def _on_live_account_changed(self, change: Change) -> None:
        if self.account_box.findData(change.id) < 0:
            self._reload_timer.start()
