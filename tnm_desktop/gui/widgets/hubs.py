"""Qt faces of the two things that change on their own: the database and the agent.

:class:`LiveHub` fans the data port's live changes out to the views as typed Qt signals (one
subscription for the whole window). :class:`AgentBridge` re-emits the agent's events, which
arrive on the agent's thread, as Qt signals: emitting from another thread queues the call onto
the GUI thread, so slots never run on the agent's thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from tnm_desktop.agent.events import (
    AgentControl,
    AgentEvent,
    HeartbeatSent,
    JobFinished,
    JobStarted,
    LogLine,
    StateChanged,
    TerminalSeen,
)
from tnm_desktop.data.port import Change, LiveState, Table

RECENT_LOG_LINES = 500


class LiveHub(QObject):
    """The signed-in user's changes, by table.

    Signals:
        signal_changed(Change): a tv_signals row was inserted or updated.
        job_changed(Change): a job was created or changed state.
        sync_log_added(Change): an account sync attempt was recorded.
        account_changed(Change): a trading account changed.
        agent_changed(Change): an agent row changed (heartbeat, state, key).
        positions_changed(Change): an account's positions snapshot was written.
        notification_added(Change): an event for the trader was recorded (the tray shows it).
        state_changed(str): the LiveState of the subscription ("live", "polling", …).
    """

    signal_changed = Signal(object)
    job_changed = Signal(object)
    sync_log_added = Signal(object)
    account_changed = Signal(object)
    agent_changed = Signal(object)
    positions_changed = Signal(object)
    notification_added = Signal(object)
    state_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = LiveState.CONNECTING

    def dispatch(self, change: Change) -> None:
        """Emit a change on its table's signal (call on the GUI thread)."""
        {
            Table.SIGNALS: self.signal_changed,
            Table.JOBS: self.job_changed,
            Table.SYNC_LOGS: self.sync_log_added,
            Table.ACCOUNTS: self.account_changed,
            Table.AGENTS: self.agent_changed,
            Table.POSITIONS: self.positions_changed,
            Table.NOTIFICATIONS: self.notification_added,
        }[change.table].emit(change)

    def set_state(self, state: LiveState) -> None:
        """Record and emit the subscription's state."""
        self.state = state
        self.state_changed.emit(state.value)


class AgentBridge(QObject):
    """The embedded agent's events as Qt signals, and its controls.

    Signals:
        state_changed(str, str): the AgentState value and a detail for the user.
        heartbeat(object): datetime of the last heartbeat written.
        terminal_seen(object): a TerminalSeen.
        job_started(object): a JobStarted.
        job_finished(object): a JobFinished.
        log_line(object): a LogLine.
        attached(bool): an agent was attached (True) or detached (False).
        paired(object): this machine was paired or re-paired (an Agent): the app (re)starts it.
        revoked(str): this machine's agent was revoked (its id): the app stops it.
    """

    state_changed = Signal(str, str)
    heartbeat = Signal(object)
    terminal_seen = Signal(object)
    job_started = Signal(object)
    job_finished = Signal(object)
    log_line = Signal(object)
    attached = Signal(bool)
    paired = Signal(object)
    revoked = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control: AgentControl | None = None
        # The agent starts talking before the Agent page is built: its recent lines are kept.
        self._recent_log: deque[LogLine] = deque(maxlen=RECENT_LOG_LINES)
        self._log_lock = threading.Lock()

    def follow_log(self, slot: Callable[[LogLine], None]) -> list[LogLine]:
        """Connect ``slot`` to new log lines and return the recent ones (none lost, none twice)."""
        with self._log_lock:
            self.log_line.connect(slot)
            return list(self._recent_log)

    def attach(self, control: AgentControl) -> None:
        """Listen to an agent (its listener runs on the agent's thread and only emits)."""
        self.control = control
        control.add_listener(self.on_event)
        self.attached.emit(True)

    def detach(self) -> None:
        """Forget the agent (after it stopped)."""
        self.control = None
        self.attached.emit(False)

    def on_event(self, event: AgentEvent) -> None:
        """Re-emit an agent event; safe from any thread."""
        match event:
            case StateChanged(state=state, detail=detail):
                self.state_changed.emit(state.value, detail)
            case HeartbeatSent(at=at):
                self.heartbeat.emit(at)
            case TerminalSeen():
                self.terminal_seen.emit(event)
            case JobStarted():
                self.job_started.emit(event)
            case JobFinished():
                self.job_finished.emit(event)
            case LogLine():
                with self._log_lock:
                    self._recent_log.append(event)
                    self.log_line.emit(event)
