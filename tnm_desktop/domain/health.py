"""Is an agent up? One rule, used by the status bar, the Agent page, the tray and the notifier.

An agent is down when its last heartbeat is older than ``stale_after_s`` — two of its own heartbeat
periods, set by the database at every heartbeat (migration 20251211000100, where the same rule
marks silent agents offline). The rule is read from the agent's row, never restated here.
Times compare with this computer's clock, so it should be kept synchronised (it is by default).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from tnm_desktop.domain.people import Agent, AgentState

UP_STATES = frozenset({AgentState.STARTING, AgentState.RUNNING, AgentState.PAUSED, AgentState.DEGRADED})


class Health(StrEnum):
    """What the trader is told about an agent."""

    NEVER = "never"  # no heartbeat yet
    UP = "up"
    DOWN = "down"  # silent for longer than its threshold, or marked offline
    STOPPED = "stopped"  # stopped (by the trader or an error it reported)


def last_beat(agent: Agent, local_beat: datetime | None = None) -> datetime | None:
    """The newest heartbeat known: the row's, or one this app's own agent just sent."""
    beats = [b for b in (agent.last_heartbeat_at, local_beat) if b is not None]
    return max(beats, default=None)


def stale_at(agent: Agent, local_beat: datetime | None = None) -> datetime | None:
    """When the agent counts as down unless it beats again (None: the rule does not apply now)."""
    beat = last_beat(agent, local_beat)
    if beat is None or agent.status not in UP_STATES:
        return None
    return beat + timedelta(seconds=agent.stale_after_s)


def health(agent: Agent, now: datetime, local_beat: datetime | None = None) -> Health:
    """The agent's health at ``now``."""
    beat = last_beat(agent, local_beat)
    newer_local = local_beat is not None and (agent.last_heartbeat_at is None or local_beat > agent.last_heartbeat_at)
    if beat is None:
        return Health.NEVER
    if agent.status is AgentState.STOPPED and not newer_local:
        return Health.STOPPED
    if agent.status is AgentState.OFFLINE and not newer_local:
        return Health.DOWN
    if (now - beat).total_seconds() > agent.stale_after_s:
        return Health.DOWN
    return Health.UP
