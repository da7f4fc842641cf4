"""Profile, settings, agents, broker connections, accounts and strategies over PostgREST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tnm_desktop.data.supabase.rest import Rest
from tnm_desktop.domain import (
    Agent,
    BrokerConnection,
    BrokerConnectionDraft,
    PairingKeyHashes,
    Profile,
    Strategy,
    StrategyDraft,
    StrategyStats,
    TradingAccount,
    UserSettings,
)
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.risk import StopResult
from tnm_desktop.errors import UserError

# Never the pairing key hash: the app has no use for it.
AGENT_COLUMNS = ("id,name,machine_name,terminal_path,mt5_login,mt5_server,status,last_heartbeat_at,"
                 "last_error,agent_version,pairing_key_prefix,revoked_at,created_at,heartbeat_every_s,"
                 "stale_after_s,down_since")


class QueriesBase:
    """What the query mixins share: the request sender and the signed-in user."""

    _rest: Rest

    def _user_id(self) -> str:
        raise NotImplementedError


class AccountQueries(QueriesBase):
    """The trader's profile, settings, agents, broker connections, accounts and strategies."""

    # Profile and settings ---------------------------------------------------------------------

    async def get_profile(self) -> Profile:
        """The signed-in user's profile."""
        uid = self._user_id()
        return Profile.from_row(await self._rest.single(
            lambda r: r.from_("profiles").select("*").eq("id", uid).single(), missing="Profile not found."))

    async def update_profile(self, display_name: str) -> Profile:
        """Change the display name."""
        uid = self._user_id()
        return Profile.from_row(await self._rest.single(
            lambda r: r.from_("profiles").update({"display_name": display_name.strip()}).eq("id", uid).single(),
            missing="Profile not found."))

    async def get_settings(self) -> UserSettings:
        """The trader's risk settings."""
        uid = self._user_id()
        return UserSettings.from_row(await self._rest.single(
            lambda r: r.from_("user_settings").select("*").eq("user_id", uid).single(),
            missing="Settings not found."))

    async def update_settings(self, settings: UserSettings) -> UserSettings:
        """Save the trader's sizing defaults and limits (not the trading switch)."""
        uid = self._user_id()
        return UserSettings.from_row(await self._rest.single(
            lambda r: r.from_("user_settings").update(settings.to_row()).eq("user_id", uid).single(),
            missing="Settings not found."))

    async def stop_trading(self, *, close_all: bool = False) -> StopResult:
        """Turn trading off, cancel the queued entries, and with ``close_all`` queue the closing of everything."""
        args: dict[str, Any] = {"p_close_all": close_all}
        return StopResult.from_json(await self._rest.value(lambda r: r.rpc("stop_trading", args)))

    async def start_trading(self) -> UserSettings:
        """Turn trading on again."""
        uid = self._user_id()
        body: dict[str, Any] = {"trading_enabled": True}
        return UserSettings.from_row(await self._rest.single(
            lambda r: r.from_("user_settings").update(body).eq("user_id", uid).single(),
            missing="Settings not found."))

    # Agents -----------------------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        """The user's agents, oldest first."""
        rows = await self._rest.rows(lambda r: r.from_("mt5_agents").select(AGENT_COLUMNS).order("created_at"))
        return [Agent.from_row(row) for row in rows]

    async def get_agent(self, agent_id: str) -> Agent | None:
        """One agent."""
        row = await self._rest.first(lambda r: r.from_("mt5_agents").select(AGENT_COLUMNS).eq("id", agent_id))
        return Agent.from_row(row) if row else None

    async def create_agent(self, name: str, machine_name: str, key: PairingKeyHashes) -> Agent:
        """Register an agent with the hashes and prefix of its pairing key."""
        body = {"user_id": self._user_id(), "name": name.strip(), "machine_name": machine_name,
                "pairing_key_hash": key.bcrypt, "pairing_key_sha256": key.sha256,
                "pairing_key_prefix": key.prefix}
        return Agent.from_row(await self._rest.single(
            lambda r: r.from_("mt5_agents").insert(body).select(AGENT_COLUMNS).single()))

    async def set_agent_key(self, agent_id: str, key: PairingKeyHashes) -> Agent:
        """Re-pair: replace the key (the old one stops working at once)."""
        return await self._update_agent(agent_id, {"pairing_key_hash": key.bcrypt, "pairing_key_sha256": key.sha256,
                                                   "pairing_key_prefix": key.prefix, "revoked_at": None})

    async def update_agent(self, agent_id: str, *, name: str | None = None,
                           terminal_path: str | None = None, mt5_login: int | None = None,
                           mt5_server: str | None = None) -> Agent:
        """Change an agent's name or terminal settings (None leaves a field as it is)."""
        changes = {k: v for k, v in {"name": name, "terminal_path": terminal_path, "mt5_login": mt5_login,
                                     "mt5_server": mt5_server}.items() if v is not None}
        if not changes:
            agent = await self.get_agent(agent_id)
            if agent is None:
                raise UserError("Agent not found.", code="not_found")
            return agent
        return await self._update_agent(agent_id, changes)

    async def revoke_agent(self, agent_id: str) -> Agent:
        """Revoke the agent's key: it can no longer claim or report anything."""
        return await self._update_agent(agent_id, {"revoked_at": datetime.now(UTC).isoformat()})

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent."""
        await self._rest.one(lambda r: r.from_("mt5_agents").delete().eq("id", agent_id).select("id"),
                             missing="Agent not found.")

    async def _update_agent(self, agent_id: str, changes: dict[str, Any]) -> Agent:
        return Agent.from_row(await self._rest.single(
            lambda r: r.from_("mt5_agents").update(changes).eq("id", agent_id).select(AGENT_COLUMNS).single(),
            missing="Agent not found."))

    # Broker connections and accounts ----------------------------------------------------------

    async def list_broker_connections(self) -> list[BrokerConnection]:
        """The user's broker connections."""
        rows = await self._rest.rows(lambda r: r.from_("broker_connections").select("*").order("created_at"))
        return [BrokerConnection.from_row(row) for row in rows]

    async def create_broker_connection(self, draft: BrokerConnectionDraft) -> BrokerConnection:
        """Add a broker connection."""
        body = {**_broker_row(draft), "user_id": self._user_id()}
        return BrokerConnection.from_row(await self._rest.single(
            lambda r: r.from_("broker_connections").insert(body).single()))

    async def update_broker_connection(self, connection_id: str,
                                       draft: BrokerConnectionDraft) -> BrokerConnection:
        """Edit a broker connection."""
        body = _broker_row(draft)
        return BrokerConnection.from_row(await self._rest.single(
            lambda r: r.from_("broker_connections").update(body).eq("id", connection_id).single(),
            missing="Broker connection not found."))

    async def delete_broker_connection(self, connection_id: str) -> None:
        """Delete a broker connection no strategy uses."""
        await self._rest.one(lambda r: r.from_("broker_connections").delete().eq("id", connection_id).select("id"),
                             missing="Broker connection not found.")

    async def list_accounts(self) -> list[TradingAccount]:
        """The user's trading accounts."""
        rows = await self._rest.rows(lambda r: r.from_("trading_accounts").select("*").order("created_at"))
        return [TradingAccount.from_row(row) for row in rows]

    # Strategies -------------------------------------------------------------------------------

    async def list_strategies(self) -> list[Strategy]:
        """The user's strategies by name."""
        rows = await self._rest.rows(lambda r: r.from_("tv_strategies").select("*").order("name"))
        return [Strategy.from_row(row) for row in rows]

    async def get_strategy(self, strategy_id: str) -> Strategy | None:
        """One strategy."""
        row = await self._rest.first(lambda r: r.from_("tv_strategies").select("*").eq("id", strategy_id))
        return Strategy.from_row(row) if row else None

    async def create_strategy(self, draft: StrategyDraft) -> Strategy:
        """Add a strategy; the database generates its webhook secret."""
        _check_strategy(draft)
        body = {**draft.to_row(), "user_id": self._user_id()}
        return Strategy.from_row(await self._rest.single(lambda r: r.from_("tv_strategies").insert(body).single()))

    async def update_strategy(self, strategy_id: str, draft: StrategyDraft) -> Strategy:
        """Edit a strategy (its secret stays)."""
        _check_strategy(draft)
        return await self._update_strategy(strategy_id, draft.to_row())

    async def set_strategy_enabled(self, strategy_id: str, enabled: bool) -> Strategy:
        """Enable or disable a strategy: a disabled one logs alerts as discarded."""
        return await self._update_strategy(strategy_id, {"is_enabled": enabled})

    async def rotate_strategy_secret(self, strategy_id: str) -> Strategy:
        """New webhook secret; the old URL stops working."""
        await self._rest.value(lambda r: r.rpc("rotate_strategy_secret", {"p_strategy_id": strategy_id}))
        strategy = await self.get_strategy(strategy_id)
        if strategy is None:
            raise UserError("Strategy not found.", code="not_found")
        return strategy

    async def delete_strategy(self, strategy_id: str) -> None:
        """Delete a strategy and its signal log."""
        await self._rest.one(lambda r: r.from_("tv_strategies").delete().eq("id", strategy_id).select("id"),
                             missing="Strategy not found.")

    async def strategy_stats(self) -> list[StrategyStats]:
        """Last signal and today's count per strategy."""
        rows = await self._rest.rows(lambda r: r.rpc("strategy_stats", {}))
        return [StrategyStats(c.text(row["strategy_id"]), c.opt_moment(row["last_signal_at"]),
                              int(row["signals_today"])) for row in rows]

    async def _update_strategy(self, strategy_id: str, changes: dict[str, object]) -> Strategy:
        return Strategy.from_row(await self._rest.single(
            lambda r: r.from_("tv_strategies").update(changes).eq("id", strategy_id).single(),
            missing="Strategy not found."))


def _broker_row(draft: BrokerConnectionDraft) -> dict[str, object]:
    if not draft.name.strip():
        raise UserError("Give the broker connection a name.", code="invalid")
    return draft.to_row()


def _check_strategy(draft: StrategyDraft) -> None:
    if not draft.name.strip():
        raise UserError("Give the strategy a name.", code="invalid")
    if not draft.broker_connection_id:
        raise UserError("Choose the broker connection the strategy trades on.", code="invalid")
