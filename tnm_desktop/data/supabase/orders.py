"""Order management over PostgREST: a strategy's connections, a signal's legs and position rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tnm_desktop.data.supabase.rest import Rest
from tnm_desktop.domain import AgentCredentials, Job
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.domain.rules import PositionRule, RuleEvent


class OrderCalls:
    """Several connections per strategy, the legs of a signal, and the agent's position rules."""

    _rest: Rest

    async def strategy_connections(self, strategy_id: str) -> list[StrategyConnection]:
        """The broker connections a strategy trades on, its own first."""
        own = await self._rest.first(lambda r: r.from_("tv_strategies").select("broker_connection_id")
                                     .eq("id", strategy_id))
        rows = await self._rest.rows(lambda r: r.from_("strategy_connections").select("*")
                                     .eq("strategy_id", strategy_id).order("position").order("created_at"))
        first = str(own["broker_connection_id"]) if own else None
        rows.sort(key=lambda row: str(row["broker_connection_id"]) != first)
        return [StrategyConnection.from_row(r) for r in rows]

    async def set_strategy_connections(self, strategy_id: str,
                                       connections: Sequence[StrategyConnection]) -> list[StrategyConnection]:
        """Replace a strategy's connections; the first becomes its own."""
        args: dict[str, Any] = {"p_strategy_id": strategy_id, "p_connections": [x.to_json() for x in connections]}
        await self._rest.rows(lambda r: r.rpc("set_strategy_connections", args))
        return await self.strategy_connections(strategy_id)

    async def signal_legs(self, signal_id: str) -> list[Job]:
        """The jobs of one signal, in leg order."""
        rows = await self._rest.rows(lambda r: r.from_("jobs").select("*").eq("signal_id", signal_id)
                                     .order("created_at"))
        if not rows:  # a signal from before legs: its one job
            signal = await self._rest.first(lambda r: r.from_("tv_signals").select("job_id").eq("id", signal_id))
            if signal and signal.get("job_id"):
                rows = await self._rest.rows(lambda r: r.from_("jobs").select("*").eq("id", signal["job_id"]))
        jobs = [Job.from_row(r) for r in rows]
        return sorted(jobs, key=lambda j: int(j.payload.get("leg") or 1))

    async def rule_events(self, signal_id: str) -> list[RuleEvent]:
        """What the rules of a signal's positions did, oldest first."""
        rules = await self._rest.rows(lambda r: r.from_("position_rules").select("id").eq("signal_id", signal_id))
        if not rules:
            return []
        ids = [c.text(row["id"]) for row in rules]
        rows = await self._rest.rows(lambda r: r.from_("position_rule_events").select("*").in_("rule_id", ids)
                                     .order("at").order("seq"))
        return [RuleEvent.from_row(r) for r in rows]

    # The agent's calls ------------------------------------------------------------------------

    async def position_rules(self, creds: AgentCredentials) -> list[PositionRule]:
        """The rules this agent manages."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key}
        return [PositionRule.from_row(r) for r in await self._rest.rows(lambda r: r.rpc("agent_position_rules", args))]

    async def position_rule_step(self, creds: AgentCredentials, rule_id: str, step: str,
                                 data: dict[str, Any]) -> PositionRule:
        """Record one step of a rule."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_rule_id": rule_id,
                                "p_step": step, "p_data": c.to_json(data)}
        return PositionRule.from_row(await self._rest.single(lambda r: r.rpc("position_rule_step", args)))
