"""The Agent view: pair this machine, set up its terminal, drive the agent and watch it work.

The agent that runs in this app talks to the view through ``ctx.agent`` (events re-emitted as Qt
signals, controls on ``ctx.agent.control``). The agent's row in the database — heartbeat, status,
last error — arrives through ``LiveHub.agent_changed``, so the view also shows an agent running
elsewhere, or one that is not running at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.agent.events import JobFinished, JobStarted, LogLine, TerminalSeen
from tnm_desktop.data.port import Change
from tnm_desktop.domain import Agent, AgentState, Job, JobFilter
from tnm_desktop.domain.health import Health
from tnm_desktop.gui.pages.agent_models import AgentLogModel
from tnm_desktop.gui.pages.agent_pairing import PairingBox
from tnm_desktop.gui.pages.agent_terminal import TerminalSettings
from tnm_desktop.gui.pages.connect_mt5 import open_connect_mt5
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.this_machine import this_machines_agent
from tnm_desktop.gui.widgets import fmt, theme
from tnm_desktop.gui.widgets.code_editor import monospace_font
from tnm_desktop.gui.widgets.job_table import JobTableModel
from tnm_desktop.gui.widgets.tables import setup_table

STATE_TEXT = {AgentState.OFFLINE: ("Offline", "idle"), AgentState.STARTING: ("Starting", "warn"),
              AgentState.RUNNING: ("Running", "good"), AgentState.PAUSED: ("Paused", "warn"),
              AgentState.DEGRADED: ("Degraded — retrying", "warn"), AgentState.STOPPED: ("Stopped", "idle")}


class AgentView(QWidget):
    """Pairing, terminal settings, state and heartbeat, controls, recent jobs and the log.

    Pairing and revoking are announced on ``ctx.agent`` (``paired``/``revoked``), where the app's
    agent host (re)starts or stops the agent.
    """

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.agent: Agent | None = None
        self.state = ctx.agent.control.state if ctx.agent.control else AgentState.OFFLINE
        self.detail = ""
        self.last_beat: datetime | None = None
        self.pairing = PairingBox(ctx)
        self.terminal = TerminalSettings(ctx)
        self.jobs = JobTableModel(limit=100, parent=self)
        self.log = AgentLogModel(parent=self)
        self._follow_log = True
        self._build()
        self._wire()
        self._clock = QTimer(self, interval=1000)  # "alive 2 s ago" must count
        self._clock.timeout.connect(self._on_clock_timeout)
        self._clock.start()
        self.reload()

    @property
    def ctx(self) -> ViewContext:
        """The context the view was built with."""
        return self._ctx

    def _build(self) -> None:
        self.state_label = QLabel()
        self.state_label.setObjectName("agentState")
        self.state_label.setStyleSheet("font-size: 15px; font-weight: 600")
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.heartbeat_label = QLabel()
        self.terminal_label = QLabel()
        self.terminal_label.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.connect_button = QPushButton("Connect my MetaTrader 5…")
        self.connect_button.setToolTip("Test the connection to your terminal, then pair and trade on it")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        theme.tint(self.hint, "color: {idle}")
        status = QGroupBox("Agent")
        sv = QVBoxLayout(status)
        sv.addWidget(self.state_label)
        sv.addWidget(self.detail_label)
        sv.addWidget(self.heartbeat_label)
        sv.addWidget(self.terminal_label)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        sv.addLayout(buttons)
        sv.addWidget(self.connect_button, 0, Qt.AlignmentFlag.AlignLeft)
        sv.addWidget(self.hint)
        sv.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(status, 3)
        top.addWidget(self.pairing, 3)
        top.addWidget(self.terminal, 4)
        self.jobs_view = QTableView()
        self.jobs_view.setModel(self.jobs)
        setup_table(self.jobs_view, widths={0: 110, 1: 120, 2: 80, 3: 120, 4: 80})
        self.log_view = QListView()
        self.log_view.setModel(self.log)
        self.log_view.setUniformItemSizes(True)
        self.log_view.setFont(monospace_font())
        self.log_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(_titled("Recent requests", self.jobs_view))
        bottom.addWidget(_titled("Log", self.log_view))
        bottom.setSizes([560, 560])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(bottom, 1)
        self._refresh()

    def _wire(self) -> None:
        bridge, live = self._ctx.agent, self._ctx.live
        bridge.state_changed.connect(self._on_agent_state_changed)
        bridge.heartbeat.connect(self._on_agent_heartbeat)
        bridge.terminal_seen.connect(self._on_agent_terminal_seen)
        bridge.job_started.connect(self._on_agent_job_started)
        bridge.job_finished.connect(self._on_agent_job_finished)
        for line in bridge.follow_log(self._on_agent_log_line):
            self.log.append(line)
        bridge.attached.connect(self._on_agent_attached)
        live.agent_changed.connect(self._on_live_agent_changed)
        live.job_changed.connect(self._on_live_job_changed)
        if self._ctx.health is not None:
            self._ctx.health.changed.connect(self._on_health_changed)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.pairing.paired.connect(self._on_pairing_paired)
        self.pairing.revoked.connect(self._on_pairing_revoked)
        self.terminal.saved.connect(self._set_agent)
        self.connect_button.clicked.connect(self._on_connect_button_clicked)
        bar = self.log_view.verticalScrollBar()
        bar.valueChanged.connect(self._on_log_scroll_value_changed)
        bar.rangeChanged.connect(self._on_log_scroll_range_changed)

    def _on_connect_button_clicked(self) -> None:
        dialog = open_connect_mt5(self._ctx, self)
        dialog.saved.connect(self._on_connect_saved)

    def _on_connect_saved(self, _agent: Agent) -> None:
        self.reload()  # pairing, terminal settings and state, as stored now

    # Loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Find this machine's agent and load its recent jobs."""
        self._ctx.tasks.spawn(this_machines_agent(self._ctx), name="agent: this machine",
                              key=f"agent-here:{id(self)}", on_result=self._on_agent_found)

    def _on_agent_found(self, agent: Agent | None) -> None:
        self._set_agent(agent)
        self.pairing.set_agent(agent)
        self.terminal.set_agent(agent)
        self.jobs.set_jobs([])
        if agent is not None:
            self._ctx.tasks.spawn(self._ctx.services.data.list_jobs(JobFilter(agent_id=agent.id, limit=100)),
                                  name="agent: jobs", key=f"agent-jobs:{id(self)}", on_result=self._on_jobs_loaded)

    def _on_jobs_loaded(self, jobs: list[Job]) -> None:
        self.jobs.set_jobs(jobs)

    def _set_agent(self, agent: Agent | None) -> None:
        self.agent = agent
        if agent is not None and agent.last_heartbeat_at is not None:
            self.last_beat = max(filter(None, (self.last_beat, agent.last_heartbeat_at)))
        if agent is not None and self._ctx.agent.control is None:
            # No agent in this app: what the row says is all there is.
            self.state, self.detail = agent.status, agent.last_error or ""
        self._refresh()

    # The agent's events ---------------------------------------------------------------------

    def _on_agent_state_changed(self, state: str, detail: str) -> None:
        self.state, self.detail = AgentState(state), detail
        self._refresh()

    def _on_agent_heartbeat(self, at: datetime) -> None:
        self.last_beat = at
        self._show_heartbeat()

    def _on_agent_terminal_seen(self, seen: TerminalSeen) -> None:
        if not seen.connected:
            self.terminal_label.setText("Terminal: not connected")
            return
        account = f"{seen.login} · {seen.server}" if seen.login else "no account"
        money = f" · equity {fmt.money(seen.equity, seen.currency or '')}" if seen.equity is not None else ""
        trading = "on" if seen.trade_allowed else "off"
        self.terminal_label.setText(f"Terminal: connected · {account}{money} · algo trading {trading}")

    def _on_agent_job_started(self, event: JobStarted) -> None:
        self.jobs.note_started(event)

    def _on_agent_job_finished(self, event: JobFinished) -> None:
        self.jobs.note_finished(event)

    def _on_agent_log_line(self, line: LogLine) -> None:
        self.log.append(line)

    def _on_agent_attached(self, _attached: bool) -> None:
        control = self._ctx.agent.control
        self.state = control.state if control else (self.agent.status if self.agent else AgentState.OFFLINE)
        self._refresh()

    def _on_live_agent_changed(self, change: Change) -> None:
        if self.agent is not None and change.id == self.agent.id:
            if isinstance(change.row, Agent):
                self._set_agent(change.row)
            else:
                self.reload()

    def _on_live_job_changed(self, change: Change) -> None:
        job, agent = change.row, self.agent
        if isinstance(job, Job) and agent is not None and agent.id in (job.agent_id, job.target_agent_id):
            self.jobs.upsert_job(job)

    def _on_pairing_paired(self, agent: Agent) -> None:
        self._on_agent_found(agent)
        self._ctx.agent.paired.emit(agent)

    def _on_pairing_revoked(self, agent_id: str) -> None:
        self._on_agent_found(None)
        self._ctx.agent.revoked.emit(agent_id)

    # Controls -------------------------------------------------------------------------------

    def _on_start_button_clicked(self) -> None:
        if (control := self._ctx.agent.control) is not None:
            control.start()

    def _on_pause_button_clicked(self) -> None:
        if (control := self._ctx.agent.control) is None:
            return
        if self.state is AgentState.PAUSED:
            control.resume()
        else:
            control.pause()

    def _on_stop_button_clicked(self) -> None:
        if (control := self._ctx.agent.control) is not None:
            control.stop()

    # Showing --------------------------------------------------------------------------------

    def _on_health_changed(self) -> None:
        self._refresh()

    def health(self) -> Health | None:
        """The shown agent's health by the window's one rule (None: no agent shown)."""
        if self.agent is None or self._ctx.health is None:
            return None
        agent = self._ctx.health.agents.get(self.agent.id, self.agent)
        return self._ctx.health.health(agent)

    def _refresh(self) -> None:
        text, kind = STATE_TEXT.get(self.state, (self.state.value, "idle"))
        if self.state is AgentState.STOPPED and self.detail:
            kind = "bad"  # stopped by an operational error, not by the user
        if self.health() is Health.DOWN and self.state is not AgentState.STOPPED:
            text, kind = "Offline — no heartbeat", "bad"  # crashed, hung or cut off: it cannot say so itself
        if self.agent is None and self._ctx.agent.control is None:
            text, kind = "Not paired", "idle"
        self.state_label.setText(f"● {text}")
        theme.tint(self.state_label, f"font-size: 15px; font-weight: 600; color: {{{kind}}}")
        self.detail_label.setText(self.detail)
        self.detail_label.setVisible(bool(self.detail))
        control = self._ctx.agent.control
        active = self.state in (AgentState.STARTING, AgentState.RUNNING, AgentState.PAUSED, AgentState.DEGRADED)
        self.start_button.setEnabled(control is not None and not active)
        self.pause_button.setEnabled(control is not None and self.state in (AgentState.RUNNING, AgentState.PAUSED))
        self.pause_button.setText("Resume" if self.state is AgentState.PAUSED else "Pause")
        self.stop_button.setEnabled(control is not None and active)
        self.hint.setText("" if control is not None else
                          "Pair this machine to run the agent here." if self.agent is None else
                          "The agent is not running in this app; its state comes from its last heartbeat.")
        self.hint.setVisible(bool(self.hint.text()))
        self._show_heartbeat()

    def _show_heartbeat(self) -> None:
        if self.last_beat is None:
            self.heartbeat_label.setText("Heartbeat: none yet")
            return
        age = (datetime.now(UTC) - self.last_beat).total_seconds()
        alive = self.health() is not Health.DOWN
        colour = theme.state_color("good" if alive else "bad").name()
        self.heartbeat_label.setText(f"<span style='color:{colour}'>●</span> "
                                     f"{'alive' if alive else 'last seen'} {fmt.ago(age)}")
        if self.agent is not None:
            self.heartbeat_label.setToolTip(
                f"Offline after {self.agent.stale_after_s} s without a heartbeat (two of its "
                f"{self.agent.heartbeat_every_s} s periods); the status bar and the tray use the same rule.")

    def _on_clock_timeout(self) -> None:
        self._show_heartbeat()
        self.jobs.tick()

    def _on_log_scroll_value_changed(self, value: int) -> None:
        # Follow new lines only while the user is at the bottom; scrolling up holds the view still.
        self._follow_log = value >= self.log_view.verticalScrollBar().maximum()

    def _on_log_scroll_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow_log:
            self.log_view.verticalScrollBar().setValue(maximum)

    @property
    def following_log(self) -> bool:
        """Whether the log scrolls to each new line."""
        return self._follow_log


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(title)
    label.setStyleSheet("font-weight: 600")
    layout.addWidget(label)
    layout.addWidget(widget)
    return box

