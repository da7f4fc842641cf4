"""The main window's status bar: connection state, the agent's heartbeat, the trading account."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from tnm_desktop.agent.events import TerminalSeen
from tnm_desktop.data.port import Change, LiveState
from tnm_desktop.domain import Agent, TradingAccount
from tnm_desktop.domain.health import Health
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import fmt, theme
from tnm_desktop.gui.widgets.health import HealthWatch

_LIVE_TEXT = {
    LiveState.LIVE.value: ("Live", "good"),
    LiveState.POLLING.value: ("Polling", "warn"),
    LiveState.CONNECTING.value: ("Connecting…", "idle"),
    LiveState.CLOSED.value: ("Disconnected", "idle"),
    "offline": ("Offline", "bad"),
}


def _dot(kind: str) -> str:
    return f"<span style='color:{theme.state_color(kind).name()}'>●</span>"


class StatusPanel(QWidget):
    """Connection · agent heartbeat · account, kept current from the hubs."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._live_state = ctx.live.state.value
        self._offline = False
        self._accounts: dict[str, TradingAccount] = {}
        self._terminal: TerminalSeen | None = None

        self.connection = QLabel()
        self.heartbeat = QLabel()
        self.account = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(18)
        for label in (self.connection, self.heartbeat, self.account):
            layout.addWidget(label)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._on_ticker_timeout)
        self._ticker.start()

        ctx.live.state_changed.connect(self._on_live_state_changed)
        ctx.live.account_changed.connect(self._on_live_account_changed)
        self.health.changed.connect(self._show_heartbeat)
        ctx.agent.terminal_seen.connect(self._on_agent_terminal_seen)
        self._show_connection()
        self._show_heartbeat()
        self._show_account()
        self.reload()

    @property
    def health(self) -> HealthWatch:
        """The window's health watch."""
        assert self._ctx.health is not None
        return self._ctx.health

    def reload(self) -> None:
        """Load the accounts (at start and after coming back online); the agents come from the health watch."""
        data = self._ctx.services.data
        self._ctx.tasks.spawn(data.list_accounts(), name="status-accounts", key="status-accounts",
                              on_result=self._set_accounts, on_error=lambda _exc: None)

    def set_offline(self, offline: bool) -> None:
        """Show the connection as offline (the backend does not answer) or back to its live state."""
        self._offline = offline
        self._show_connection()
        self._show_heartbeat()

    # Slots ------------------------------------------------------------------------------------

    def _on_live_state_changed(self, state: str) -> None:
        self._live_state = state
        self._show_connection()

    def _on_live_account_changed(self, change: Change) -> None:
        if isinstance(change.row, TradingAccount):
            self._accounts[change.id] = change.row
        else:
            self._accounts.pop(change.id, None)
        self._show_account()

    def _on_agent_terminal_seen(self, seen: TerminalSeen) -> None:
        self._terminal = seen
        self._show_account()

    def _on_ticker_timeout(self) -> None:
        self._show_heartbeat()

    # Rendering --------------------------------------------------------------------------------

    def _set_accounts(self, accounts: list[TradingAccount]) -> None:
        self._accounts = {account.id: account for account in accounts}
        self._show_account()

    def _show_connection(self) -> None:
        text, kind = _LIVE_TEXT["offline" if self._offline else self._live_state]
        self.connection.setText(f"{_dot(kind)} {text}")
        self.connection.setToolTip("How changes reach this window: pushed live, polled, or not at all.")

    def shown_agent(self) -> Agent | None:
        """The agent the status bar speaks of: one that is down first, else the one heard from last."""
        agents = self.health.paired()
        down = [a for a in agents if self.health.health(a) is Health.DOWN]
        shown = down or agents
        return shown[0] if shown else None

    def last_heartbeat(self) -> datetime | None:
        """The newest heartbeat of the agent shown."""
        agent = self.shown_agent()
        return self.health.last_beat(agent) if agent is not None else None

    def _show_heartbeat(self) -> None:
        agent = self.shown_agent()
        if agent is None:
            self.heartbeat.setText(f"{_dot('idle')} Agent: not paired")
            return
        name = "Agent" if len(self.health.paired()) == 1 else f"Agent {agent.name}"
        beat = self.health.last_beat(agent)
        state = self.health.health(agent)
        age = (datetime.now(UTC) - beat).total_seconds() if beat is not None else 0.0
        if state is Health.NEVER:
            self.heartbeat.setText(f"{_dot('idle')} {name}: no heartbeat yet")
        elif state is Health.UP:
            self.heartbeat.setText(f"{_dot('good')} {name}: alive {fmt.ago(age)}")
        elif state is Health.STOPPED:
            self.heartbeat.setText(f"{_dot('idle')} {name}: stopped {fmt.ago(age)}")
        else:
            self.heartbeat.setText(f"{_dot('bad')} {name}: offline — last heartbeat {fmt.ago(age)}")
        self.heartbeat.setToolTip(f"An agent counts as offline after {agent.stale_after_s} s without a heartbeat "
                                  f"(two of its {agent.heartbeat_every_s} s periods).")

    def _show_account(self) -> None:
        seen = self._terminal
        if seen is not None and seen.login is not None:
            balance = fmt.money(seen.balance, seen.currency or "") if seen.balance is not None else "—"
            self.account.setText(f"{seen.login} · {seen.server or '—'} · {balance}")
            return
        active = [a for a in self._accounts.values() if a.is_active]
        if not active:
            self.account.setText("No trading account yet")
            return
        account = max(active, key=lambda a: a.last_sync_at or datetime.min.replace(tzinfo=UTC))
        self.account.setText(f"{account.login} · {account.server} · {fmt.money(account.balance, account.currency)}")
