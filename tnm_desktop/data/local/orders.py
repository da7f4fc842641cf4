"""Order management over psycopg: a strategy's connections, a signal's legs and position rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from tnm_desktop.data.local.db import UserDb
from tnm_desktop.domain import AgentCredentials, Job
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.domain.rules import PositionRule, RuleEvent


class OrderQueries:
    """Several connections per strategy, the legs of a signal, and the agent's position rules."""

    _db: UserDb

    async def strategy_connections(self, strategy_id: str) -> list[StrategyConnection]:
        """The broker connections a strategy trades on, its own first."""
        rows = await self._db.rows(
            "select sc.* from strategy_connections sc join tv_strategies st on st.id = sc.strategy_id "
            "where sc.strategy_id = %s order by sc.broker_connection_id <> st.broker_connection_id, sc.position, "
            "sc.created_at", (strategy_id,))
        return [StrategyConnection.from_row(r) for r in rows]

    async def set_strategy_connections(self, strategy_id: str,
                                       connections: Sequence[StrategyConnection]) -> list[StrategyConnection]:
        """Replace a strategy's connections; the first becomes its own."""
        await self._db.rows("select * from set_strategy_connections(%s, %s)",
                            (strategy_id, Jsonb([c.to_json() for c in connections])))
        return await self.strategy_connections(strategy_id)

    async def signal_legs(self, signal_id: str) -> list[Job]:
        """The jobs of one signal, in leg order."""
        rows = await self._db.rows(
            "select * from jobs where signal_id = %s or id = (select job_id from tv_signals where id = %s) "
            "order by coalesce((payload ->> 'leg')::int, 1), created_at", (signal_id, signal_id))
        return [Job.from_row(r) for r in rows]

    async def rule_events(self, signal_id: str) -> list[RuleEvent]:
        """What the rules of a signal's positions did, oldest first."""
        rows = await self._db.rows(
            "select e.* from position_rule_events e join position_rules r on r.id = e.rule_id "
            "where r.signal_id = %s order by e.at, e.seq", (signal_id,))
        return [RuleEvent.from_row(r) for r in rows]

    # The agent's calls ------------------------------------------------------------------------

    async def position_rules(self, creds: AgentCredentials) -> list[PositionRule]:
        """The rules this agent manages."""
        rows = await self._db.rows("select * from agent_position_rules(%s, %s)", (creds.agent_id, creds.key))
        return [PositionRule.from_row(r) for r in rows]

    async def position_rule_step(self, creds: AgentCredentials, rule_id: str, step: str,
                                 data: dict[str, Any]) -> PositionRule:
        """Record one step of a rule."""
        row = await self._db.one("select * from position_rule_step(%s, %s, %s, %s, %s)",
                                 (creds.agent_id, creds.key, rule_id, step, Jsonb(data)))
        return PositionRule.from_row(row)
