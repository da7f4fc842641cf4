"""What deserves a desktop notification: a failed signal, a sync that keeps failing, a stopped agent,
a risk limit reached.

Alerts refused because they waited too long are told once per run of them, not once each.

The :class:`Notifier` only decides; the main window shows its ``notify`` signal through the tray
icon (and the status bar), so the rules are testable without a system tray.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Agent, AgentState, SignalStatus, SyncLog
from tnm_desktop.domain import Signal as TvSignal
from tnm_desktop.domain.trade import STALE_REASON
from tnm_desktop.gui.widgets.hubs import AgentBridge, LiveHub

SYNC_FAILURES_TO_NOTIFY = 3
# Alerts refused for their age come in runs (a burst the terminal could not take in time, or a
# backlog found when the agent starts): one notification for a run, which ends once this long
# passes without another.
STALE_RUN_QUIET_S = 120.0
STALE_TITLE = "Alerts not executed"
STALE_TEXT = ("Alerts were too old when their turn came, so they were not executed: they came faster than the "
              "terminal could take them, or while the agent was not running. The signal log lists each one.")
_RUNNING = {AgentState.RUNNING, AgentState.PAUSED, AgentState.DEGRADED, AgentState.STARTING}
_STOPPED = {AgentState.STOPPED, AgentState.OFFLINE}


class Notifier(QObject):
    """Turns live changes and agent events into notifications.

    Signals:
        notify(str, str): a title and a message for the user.
    """

    notify = Signal(str, str)

    def __init__(self, live: LiveHub, agent: AgentBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._failed_signals: set[str] = set()
        self._sync_streaks: dict[str, int] = {}
        self._agent_states: dict[str, AgentState] = {}
        self._agent_stop_told = 0.0
        self._stale_seen: float | None = None  # when the last alert refused for its age was seen
        live.signal_changed.connect(self._on_live_signal_changed)
        live.sync_log_added.connect(self._on_live_sync_log_added)
        live.agent_changed.connect(self._on_live_agent_changed)
        agent.state_changed.connect(self._on_agent_state_changed)
        agent.limit_reached.connect(self._on_agent_limit_reached)

    def _on_live_signal_changed(self, change: Change) -> None:
        signal = change.row
        if not isinstance(signal, TvSignal) or signal.status is not SignalStatus.FAILED:
            return
        if signal.id in self._failed_signals:
            return
        self._failed_signals.add(signal.id)
        if (signal.error_message or "").startswith(STALE_REASON):
            self._stale_refused()
            return
        what = " ".join(part for part in ((signal.action or "").upper(), signal.symbol or "") if part)
        self.notify.emit("Signal failed", f"{what or 'A signal'}: {signal.error_message or 'no reason given'}")

    def _stale_refused(self) -> None:
        now = time.monotonic()
        first = self._stale_seen is None or now - self._stale_seen >= STALE_RUN_QUIET_S
        self._stale_seen = now
        if first:
            self.notify.emit(STALE_TITLE, STALE_TEXT)

    def _on_live_sync_log_added(self, change: Change) -> None:
        log = change.row
        if not isinstance(log, SyncLog) or change.op != "insert":
            return
        if log.status == "success":
            self._sync_streaks[log.account_id] = 0
            return
        if log.status != "failed":
            return
        streak = self._sync_streaks.get(log.account_id, 0) + 1
        self._sync_streaks[log.account_id] = streak
        if streak == SYNC_FAILURES_TO_NOTIFY:
            account = f"account {log.login}" if log.login else "an account"
            self.notify.emit("Sync keeps failing",
                             f"The last {streak} syncs of {account} failed: {log.error_message or 'no reason given'}")

    def _on_live_agent_changed(self, change: Change) -> None:
        agent = change.row
        if not isinstance(agent, Agent):
            return
        before = self._agent_states.get(agent.id)
        self._agent_states[agent.id] = agent.status
        if before in _RUNNING and agent.status in _STOPPED:
            self._agent_stopped(agent.name, agent.last_error)

    def _on_agent_state_changed(self, state: str, detail: str) -> None:
        if state == AgentState.STOPPED.value:
            self._agent_stopped("This machine's agent", detail or None)

    def _on_agent_limit_reached(self, limit: str, text: str) -> None:
        # The agent reports a limit once (it records it in the database first), so this is once too.
        self.notify.emit(f"{limit} reached", text.removeprefix(f"{limit}: "))

    def _agent_stopped(self, name: str, reason: str | None) -> None:
        # The embedded agent reports its stop twice (its event and its row): say it once.
        now = time.monotonic()
        if now - self._agent_stop_told < 10:
            return
        self._agent_stop_told = now
        self.notify.emit("Agent stopped", f"{name} stopped" + (f": {reason}" if reason else "."))
