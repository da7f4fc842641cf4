"""What the MT5 agent tells the outside world, and how it is driven.

The agent runs on its own thread and event loop. It never touches a widget: it calls its
listeners with these events on its own thread, and the GUI's bridge re-emits them as Qt signals
(queued onto the GUI thread). The controls of :class:`AgentControl` are safe to call from any
thread; they return at once and the effect shows up as events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tnm_desktop.domain import AgentState


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The agent's state machine moved (``detail`` says why, for the user)."""

    state: AgentState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HeartbeatSent:
    """The heartbeat reached the database."""

    at: datetime


@dataclass(frozen=True, slots=True)
class TerminalSeen:
    """What the agent last saw of the terminal."""

    connected: bool
    trade_allowed: bool
    login: int | None = None
    server: str | None = None
    balance: float | None = None
    equity: float | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A claimed job started."""

    job_id: str
    job_type: str
    at: datetime


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job ended: ``outcome`` is completed, failed, retrying or lost (lease moved on)."""

    job_id: str
    job_type: str
    outcome: str
    duration_ms: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line of the agent's log, for the Agent view."""

    at: datetime
    level: str  # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True, slots=True)
class LimitReached:
    """A risk limit was reached for the first time (the daily loss, once a trading day): tell the trader."""

    limit: str  # the limit's name, as Settings shows it
    text: str  # what happened and what now follows, for the user


AgentEvent = StateChanged | HeartbeatSent | TerminalSeen | JobStarted | JobFinished | LogLine | LimitReached
AgentListener = Callable[[AgentEvent], None]


class AgentControl(Protocol):
    """Drives a running agent from any thread."""

    @property
    def state(self) -> AgentState:
        """The current state."""
        ...

    def start(self) -> None:
        """Start (reconcile with the terminal, then claim work)."""
        ...

    def pause(self) -> None:
        """Finish the current job, then claim nothing until resumed (heartbeats go on)."""
        ...

    def resume(self) -> None:
        """Claim work again after a pause."""
        ...

    def stop(self) -> None:
        """Finish the current job, then stop."""
        ...

    def sync_now(self) -> None:
        """Sync the account now instead of at the next scheduled time."""
        ...

    def add_listener(self, listener: AgentListener) -> None:
        """Receive every event (called on the agent's thread)."""
        ...
