"""The agents' health for the whole window: the status bar, the Agent page and the tray read it here.

One rule (:mod:`tnm_desktop.domain.health`), one place that applies it: the watch keeps every
agent's row (loaded, then live), the heartbeats of this app's own agent, and a timer set to the
moment the next agent would turn stale, so "offline" shows when the threshold passes, not at the
next tick. When an agent goes down here, the watch asks the database to sweep (which marks it
offline and records the one "agent down" event the tray and the dispatcher then tell), and keeps
asking every few seconds until the database agrees: this computer's clock may run a little ahead.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from tnm_desktop.data.port import Change, DataPort
from tnm_desktop.domain import Agent
from tnm_desktop.domain.health import Health, health, last_beat, stale_at
from tnm_desktop.gui.widgets.hubs import AgentBridge, LiveHub
from tnm_desktop.gui.widgets.tasks import TaskRunner

RESWEEP_MS = 3000  # while the database does not yet agree that a silent agent is down
_MARGIN_MS = 50  # wake just after the threshold, not just before it


class HealthWatch(QObject):
    """Every paired agent's :class:`~tnm_desktop.domain.health.Health`, kept current.

    Signals:
        changed(): an agent's health or row changed (views re-read what they show).
    """

    changed = Signal()

    def __init__(self, data: DataPort, tasks: TaskRunner, live: LiveHub, bridge: AgentBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self._tasks = tasks
        self._bridge = bridge
        self.agents: dict[str, Agent] = {}
        self._local_beat: datetime | None = None
        self._known: dict[str, Health] = {}
        self._due = QTimer(self, singleShot=True)
        self._due.timeout.connect(self._on_due_timeout)
        self._resweep = QTimer(self, interval=RESWEEP_MS)
        self._resweep.timeout.connect(self._on_resweep_timeout)
        live.agent_changed.connect(self._on_live_agent_changed)
        bridge.heartbeat.connect(self._on_bridge_heartbeat)

    # What the views ask ---------------------------------------------------------------------

    async def load(self) -> None:
        """Load every agent now (the session awaits it when it starts)."""
        self._on_agents_loaded(await self._data.list_agents())

    def reload(self) -> None:
        """Load every agent again, in a task (after the backend was unreachable)."""
        self._tasks.spawn(self._data.list_agents(), name="health: agents", key=f"health:{id(self)}",
                          on_result=self._on_agents_loaded, on_error=lambda _exc: None)

    def local_beat(self, agent: Agent) -> datetime | None:
        """The last heartbeat this app's own agent sent, when ``agent`` is it."""
        control = self._bridge.control
        return self._local_beat if control is not None and getattr(control, "agent_id", None) == agent.id else None

    def health(self, agent: Agent, now: datetime | None = None) -> Health:
        """An agent's health now."""
        return health(agent, now or datetime.now(UTC), self.local_beat(agent))

    def last_beat(self, agent: Agent) -> datetime | None:
        """An agent's newest heartbeat known here."""
        return last_beat(agent, self.local_beat(agent))

    def paired(self) -> list[Agent]:
        """The paired agents, the one heard from last first."""
        found = [a for a in self.agents.values() if a.paired]
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda a: self.last_beat(a) or epoch, reverse=True)

    # Events ---------------------------------------------------------------------------------

    def _on_agents_loaded(self, agents: list[Agent]) -> None:
        self.agents = {a.id: a for a in agents}
        self._evaluate()

    def _on_live_agent_changed(self, change: Change) -> None:
        if isinstance(change.row, Agent):
            self.agents[change.id] = change.row
        else:
            self.agents.pop(change.id, None)
        self._evaluate()

    def _on_bridge_heartbeat(self, at: datetime) -> None:
        self._local_beat = at
        self._evaluate()

    def _on_due_timeout(self) -> None:
        self._evaluate()

    def _on_resweep_timeout(self) -> None:
        if any(self.health(a) is Health.DOWN and a.down_since is None for a in self.paired()):
            self._sweep()
        else:
            self._resweep.stop()

    # The rule, applied ----------------------------------------------------------------------

    def _evaluate(self) -> None:
        now = datetime.now(UTC)
        went_down = False
        for agent in self.paired():
            state = self.health(agent, now)
            before = self._known.get(agent.id)
            self._known[agent.id] = state
            if state is Health.DOWN and before is Health.UP and agent.down_since is None:
                went_down = True
        if went_down:
            self._sweep()
            self._resweep.start()
        self._arm(now)
        self.changed.emit()

    def _arm(self, now: datetime) -> None:
        due = [at for a in self.paired() if self.health(a, now) is Health.UP
               and (at := stale_at(a, self.local_beat(a))) is not None]
        if not due:
            self._due.stop()
            return
        wait_ms = int((min(due) - now).total_seconds() * 1000) + _MARGIN_MS
        self._due.start(max(wait_ms, 0))

    def _sweep(self) -> None:
        # The database records the outage once, whoever sweeps; its change comes back live.
        self._tasks.spawn(self._data.sweep_stale_agents(), name="health: sweep", key=f"sweep:{id(self)}",
                          on_error=lambda _exc: None)
