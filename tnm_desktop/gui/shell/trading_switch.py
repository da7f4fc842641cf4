"""The one trading switch, always in view: Stop trading / Start trading in the main window and the tray.

Stop trading turns trading off at once and cancels the entries waiting for the agent; then it asks
whether to close every position and pending order too (each agent gets a close-all job, whose
outcome shows in the Agent page). The switch can also be turned by an alert (eaoff, eaon,
closealleaoff) or by the daily-loss limit; the window hears of it through the live signal log and
job queue and shows the new state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Job, JobType, TradingAccount, UserSettings
from tnm_desktop.domain import Signal as TvSignal
from tnm_desktop.domain.risk import StopResult
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import ask, theme

_SWITCH_ACTIONS = ("eaoff", "eaon", "closealleaoff")
T = TypeVar("T")


class TradingSwitch(QObject):
    """The trading switch as the window knows it.

    Signals:
        changed(bool, str): whether trading is on, and why it is off ("" when on).
        stopped(object): trading was stopped from here (a :class:`StopResult`).
        failed(str): turning the switch failed; the message says why.
    """

    changed = Signal(bool, str)
    stopped = Signal(object)
    failed = Signal(str)

    def __init__(self, ctx: ViewContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.enabled: bool | None = None  # None until loaded
        self.reason = ""
        # Reads and turns run one at a time in the order they were asked for (a refresh asked for
        # just after a click must read what the click wrote, not race it to the database), and
        # each is numbered: an answer older than the one shown is dropped.
        self._turn = asyncio.Lock()
        self._issued = 0
        self._shown = 0
        ctx.live.signal_changed.connect(self._on_live_signal_changed)
        ctx.live.job_changed.connect(self._on_live_job_changed)

    def _next(self) -> int:
        self._issued += 1
        return self._issued

    def refresh(self) -> None:
        """Read the switch from the database."""
        n = self._next()
        self._ctx.tasks.spawn(self._in_turn(self._ctx.services.data.get_settings), name="trading-switch",
                              key=f"trading-switch-{id(self)}", on_result=lambda s: self._show(s, n),
                              on_error=lambda _exc: None)  # the offline banner says why; the next change retries

    def stop(self, *, close_all: bool = False) -> None:
        """Turn trading off now (and with ``close_all``, close every position and pending order)."""
        n = self._next()
        self._ctx.tasks.spawn(self._in_turn(lambda: self._stop(close_all)), name="stop-trading",
                              on_result=lambda done: self._on_stopped(done, n), on_error=self._on_failed)

    def start(self) -> None:
        """Turn trading on again."""
        n = self._next()
        self._ctx.tasks.spawn(self._in_turn(self._ctx.services.data.start_trading), name="start-trading",
                              on_result=lambda s: self._started(s, n),
                              on_error=self._on_failed)

    async def _in_turn(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._turn:
            return await call()

    async def _stop(self, close_all: bool) -> tuple[StopResult, UserSettings]:
        data = self._ctx.services.data
        result = await data.stop_trading(close_all=close_all)
        return result, await data.get_settings()

    def _on_stopped(self, done: tuple[StopResult, UserSettings], n: int) -> None:
        result, settings = done
        self._show(settings, n)
        self.stopped.emit(result)

    def _started(self, settings: UserSettings, n: int) -> None:
        self._show(settings, n)
        self._ctx.bridge.info("Trading is on: new alerts are traded again.")

    def _on_failed(self, exc: TnmError) -> None:
        self.failed.emit(exc.message)

    def _show(self, settings: UserSettings, n: int) -> None:
        if n < self._shown:
            return  # an older answer than the one on screen
        self._shown = n
        self.enabled = settings.trading_enabled
        self.reason = "" if settings.trading_enabled else (settings.trading_off_reason or "trading is turned off")
        self.changed.emit(self.enabled, self.reason)

    def _on_live_signal_changed(self, change: Change) -> None:
        row = change.row
        if isinstance(row, TvSignal) and row.action in _SWITCH_ACTIONS:
            self.refresh()

    def _on_live_job_changed(self, change: Change) -> None:
        # The daily-loss limit turns trading off in the same transaction that queues its close-all.
        row = change.row
        if (change.op == "insert" and isinstance(row, Job) and row.job_type is JobType.CLOSE_POSITION
                and row.payload.get("scope") == "account"):
            self.refresh()


def _accounts_text(accounts: list[TradingAccount]) -> str:
    if not accounts:
        return "every account your agents serve"
    named = ", ".join(f"{a.login} ({a.server})" for a in accounts[:4])
    more = f" and {len(accounts) - 4} more" if len(accounts) > 4 else ""
    return ("account " if len(accounts) == 1 else "accounts ") + named + more


class StopTradingBar(QWidget):
    """The Stop trading / Start trading control of the main window's toolbar."""

    def __init__(self, ctx: ViewContext, switch: TradingSwitch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stop_trading_bar")
        self._ctx = ctx
        self.switch = switch
        self.confirmation: QMessageBox | None = None
        self.state = QLabel()
        self.state.setObjectName("trading_state")
        self.stop_button = QPushButton("Stop trading")
        self.stop_button.setObjectName("stop_trading")
        self.stop_button.setToolTip("Turn trading off now and cancel the alerts waiting for the agent; you are then "
                                    "asked whether to close every position too.")
        self.stop_button.clicked.connect(self.request_stop)
        self.start_button = QPushButton("Start trading")
        self.start_button.setObjectName("start_trading")
        self.start_button.clicked.connect(switch.start)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.state)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.start_button)
        self.stop_button.setStyleSheet(f"QPushButton#stop_trading {{ background: {theme.state_color('bad').name()}; "
                                       "color: white; font-weight: 600; padding: 4px 14px; }")
        self.start_button.hide()  # until the switch is known to be off
        switch.changed.connect(self._on_switch_changed)
        switch.stopped.connect(self._on_switch_stopped)
        switch.failed.connect(self._on_switch_failed)

    def request_stop(self) -> None:
        """Stop trading now; then ask about closing everything."""
        self.stop_button.setEnabled(False)
        self.switch.stop()

    def _on_switch_changed(self, enabled: bool, reason: str) -> None:
        color = theme.state_color("good" if enabled else "bad").name()
        self.state.setText(f"<span style='color:{color}'>●</span> Trading "
                           + ("on" if enabled else "<b>off</b>"))
        self.state.setToolTip("" if enabled else reason[:1].upper() + reason[1:] + ".")
        self.stop_button.setVisible(enabled)
        self.stop_button.setEnabled(True)
        self.start_button.setVisible(not enabled)

    def _on_switch_failed(self, message: str) -> None:
        self.stop_button.setEnabled(True)
        self._ctx.bridge.error(f"Trading could not be switched: {message}")

    def _on_switch_stopped(self, result: StopResult) -> None:
        if result.close_jobs:
            self._ctx.bridge.info("Closing every position and pending order: follow it in the Agent page.")
            return
        cancelled = (f"; {result.cancelled} waiting {'entry was' if result.cancelled == 1 else 'entries were'} "
                     "cancelled") if result.cancelled else ""
        self._ctx.tasks.spawn(self._accounts(), name="stop-trading-accounts", key=f"stop-accounts-{id(self)}",
                              on_result=lambda accounts: self._ask_close_all(cancelled, accounts),
                              on_error=lambda _exc: self._ask_close_all(cancelled, []))

    async def _accounts(self) -> list[TradingAccount]:
        async with asyncio.timeout(5):
            return await self._ctx.services.data.list_accounts()

    def _ask_close_all(self, cancelled: str, accounts: list[TradingAccount]) -> None:
        self.confirmation = ask(
            self.window(), "Trading stopped",
            f"Trading is off: new alerts are not traded{cancelled}.\n\n"
            f"Also close every open position and delete every pending order on {_accounts_text(accounts)}?",
            "Close everything", lambda: self.switch.stop(close_all=True), destructive=True,
            details="Each close is sent to MetaTrader 5 by the agent; its outcome shows in the Agent page. "
                    "“Cancel” keeps the positions open, with their stops.")
