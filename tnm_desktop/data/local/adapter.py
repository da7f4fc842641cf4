"""The local workspace adapter: the data port over psycopg on the workspace's PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from psycopg.types.json import Jsonb

from tnm_desktop.data.local.auth import LocalAuth
from tnm_desktop.data.local.db import UserDb
from tnm_desktop.data.local.desk import DeskQueries
from tnm_desktop.data.local.orders import OrderQueries
from tnm_desktop.data.local.queries import LocalQueries
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import (
    Agent,
    BrokerConnection,
    BrokerConnectionDraft,
    PairingKeyHashes,
    Profile,
    Session,
    Strategy,
    StrategyDraft,
    StrategyStats,
    TradingAccount,
    UserSettings,
)
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.risk import StopResult
from tnm_desktop.errors import UserError

AdapterFactory = Callable[[], Awaitable[DataPort]]

AGENT_COLUMNS = ("id, name, machine_name, terminal_path, mt5_login, mt5_server, status, "
                 "last_heartbeat_at, last_error, agent_version, pairing_key_prefix, revoked_at, created_at, "
                 "heartbeat_every_s, stale_after_s, down_since")


class LocalAdapter(DeskQueries, OrderQueries, LocalQueries):
    """The data port for a local workspace.

    Args:
        conninfo: libpq URL of the ``authenticator`` role; statements run as the signed-in user.
        auth_conninfo: libpq URL of ``supabase_auth_admin``, for sign-in and sign-up.
        session_key: Keyring entry for this workspace's remembered session.
    """

    def __init__(self, conninfo: str, auth_conninfo: str, session_key: str,
                 *, bcrypt_rounds: int = 12) -> None:
        super().__init__(UserDb(conninfo), conninfo)
        self._auth = LocalAuth(auth_conninfo, session_key, rounds=bcrypt_rounds)
        self._auth_conninfo = auth_conninfo
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"LocalAdapter(session={self._session!r})"

    # Auth -------------------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """Who is signed in."""
        return self._session

    def _signed_in(self, session: Session) -> Session:
        self._session = session
        self._db.act_as(session.user_id, session.email)
        return session

    async def sign_in(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Sign in with email and password."""
        session = self._signed_in(await self._auth.sign_in(email, password))
        if remember:
            await self._auth.remember(session)
        return session

    async def sign_up(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Create an account in this workspace and sign in."""
        session = self._signed_in(await self._auth.sign_up(email, password))
        if remember:
            await self._auth.remember(session)
        return session

    async def restore_session(self) -> Session | None:
        """Sign in from the remembered session, if any."""
        session = await self._auth.restore()
        return self._signed_in(session) if session else None

    async def sign_out(self) -> None:
        """Sign out and forget the remembered session."""
        await self._auth.forget()
        await self._close_subscriptions()
        self._session = None
        self._db.act_as(None)

    def act_as(self, session: Session) -> None:
        """Act as an already-authenticated user (the workspace's own agent process and tests)."""
        self._signed_in(session)

    def spawn(self) -> AdapterFactory:
        """Return a factory that builds, inside another thread's loop, an adapter for this user."""
        session = self._session
        conninfo, auth_conninfo, key = self._conninfo, self._auth_conninfo, self._auth.session_key

        async def build() -> DataPort:
            adapter = LocalAdapter(conninfo, auth_conninfo, key)
            if session is not None:
                adapter.act_as(session)
            return adapter

        return build

    async def ping(self) -> None:
        """Raise TransientError when the database is unreachable."""
        await self._db.rows("select 1")

    async def close(self) -> None:
        """Close subscriptions and connections."""
        await self._close_subscriptions()
        await self._db.close()

    # Profile and settings ---------------------------------------------------------------------

    async def get_profile(self) -> Profile:
        """The signed-in user's profile."""
        return Profile.from_row(await self._db.one("select * from profiles"))

    async def update_profile(self, display_name: str) -> Profile:
        """Change the display name."""
        return Profile.from_row(await self._db.one(
            "update profiles set display_name = %s returning *", (display_name.strip(),)))

    async def get_settings(self) -> UserSettings:
        """The trader's risk settings."""
        return UserSettings.from_row(await self._db.one("select * from user_settings"))

    async def update_settings(self, settings: UserSettings) -> UserSettings:
        """Save the trader's sizing defaults and limits (not the trading switch)."""
        row = settings.to_row()
        return UserSettings.from_row(await self._db.one(
            "update user_settings set risk_percent = %(risk_percent)s, max_lot_size = %(max_lot_size)s, "
            "max_open_positions = %(max_open_positions)s, max_daily_loss_pct = %(max_daily_loss_pct)s, "
            "default_sl_pips = %(default_sl_pips)s, default_lot_size = %(default_lot_size)s, "
            "max_slippage_points = %(max_slippage_points)s, "
            "max_positions_per_symbol = %(max_positions_per_symbol)s, equity_floor = %(equity_floor)s, "
            "close_all_on_daily_loss = %(close_all_on_daily_loss)s, "
            "default_sl_pips_lots = %(default_sl_pips_lots)s returning *", row))

    async def stop_trading(self, *, close_all: bool = False) -> StopResult:
        """Turn trading off, cancel the queued entries, and with ``close_all`` queue the closing of everything."""
        return StopResult.from_json((await self._db.one("select stop_trading(%s) as r", (close_all,)))["r"])

    async def start_trading(self) -> UserSettings:
        """Turn trading on again."""
        return UserSettings.from_row(await self._db.one(
            "update user_settings set trading_enabled = true returning *"))

    # Agents -----------------------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        """The user's agents, oldest first."""
        rows = await self._db.rows(f"select {AGENT_COLUMNS} from mt5_agents order by created_at")
        return [Agent.from_row(r) for r in rows]

    async def get_agent(self, agent_id: str) -> Agent | None:
        """One agent."""
        row = await self._db.row(f"select {AGENT_COLUMNS} from mt5_agents where id = %s", (agent_id,))
        return Agent.from_row(row) if row else None

    async def create_agent(self, name: str, machine_name: str, key: PairingKeyHashes) -> Agent:
        """Register an agent with the hashes and prefix of its pairing key."""
        return Agent.from_row(await self._db.one(
            f"insert into mt5_agents (user_id, name, machine_name, pairing_key_hash, pairing_key_sha256, "
            f"pairing_key_prefix) values (%s, %s, %s, %s, %s, %s) returning {AGENT_COLUMNS}",
            (self._user_id(), name.strip(), machine_name, key.bcrypt, key.sha256, key.prefix)))

    async def set_agent_key(self, agent_id: str, key: PairingKeyHashes) -> Agent:
        """Re-pair: replace the key (the old one stops working at once)."""
        return Agent.from_row(await self._db.one(
            f"update mt5_agents set pairing_key_hash = %s, pairing_key_sha256 = %s, pairing_key_prefix = %s, "
            f"revoked_at = null where id = %s returning {AGENT_COLUMNS}",
            (key.bcrypt, key.sha256, key.prefix, agent_id), missing="Agent not found."))

    async def update_agent(self, agent_id: str, *, name: str | None = None,
                           terminal_path: str | None = None, mt5_login: int | None = None,
                           mt5_server: str | None = None) -> Agent:
        """Change an agent's name or terminal settings (None leaves a field as it is)."""
        return Agent.from_row(await self._db.one(
            f"update mt5_agents set name = coalesce(%s, name), terminal_path = coalesce(%s, terminal_path), "
            f"mt5_login = coalesce(%s, mt5_login), mt5_server = coalesce(%s, mt5_server) "
            f"where id = %s returning {AGENT_COLUMNS}",
            (name, terminal_path, mt5_login, mt5_server, agent_id), missing="Agent not found."))

    async def revoke_agent(self, agent_id: str) -> Agent:
        """Revoke the agent's key: it can no longer claim or report anything."""
        return Agent.from_row(await self._db.one(
            f"update mt5_agents set revoked_at = now() where id = %s returning {AGENT_COLUMNS}",
            (agent_id,), missing="Agent not found."))

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent."""
        await self._db.one("delete from mt5_agents where id = %s returning id", (agent_id,),
                           missing="Agent not found.")

    # Broker connections and accounts ----------------------------------------------------------

    async def list_broker_connections(self) -> list[BrokerConnection]:
        """The user's broker connections."""
        return [BrokerConnection.from_row(r) for r in await self._db.rows(
            "select * from broker_connections order by created_at")]

    async def create_broker_connection(self, draft: BrokerConnectionDraft) -> BrokerConnection:
        """Add a broker connection."""
        row = _broker_row(draft)
        return BrokerConnection.from_row(await self._db.one(
            "insert into broker_connections (user_id, name, agent_id, broker_name, server, login, "
            "account_type, symbol_suffix, symbol_map, is_active, pip_sizes) values (%(user_id)s, %(name)s, "
            "%(agent_id)s, %(broker_name)s, %(server)s, %(login)s, %(account_type)s, %(symbol_suffix)s, "
            "%(symbol_map)s, %(is_active)s, %(pip_sizes)s) returning *", {**row, "user_id": self._user_id()}))

    async def update_broker_connection(self, connection_id: str,
                                       draft: BrokerConnectionDraft) -> BrokerConnection:
        """Edit a broker connection."""
        return BrokerConnection.from_row(await self._db.one(
            "update broker_connections set name = %(name)s, agent_id = %(agent_id)s, "
            "broker_name = %(broker_name)s, server = %(server)s, login = %(login)s, "
            "account_type = %(account_type)s, symbol_suffix = %(symbol_suffix)s, "
            "symbol_map = %(symbol_map)s, is_active = %(is_active)s, pip_sizes = %(pip_sizes)s "
            "where id = %(id)s returning *",
            {**_broker_row(draft), "id": connection_id}, missing="Broker connection not found."))

    async def delete_broker_connection(self, connection_id: str) -> None:
        """Delete a broker connection no strategy uses."""
        await self._db.one("delete from broker_connections where id = %s returning id", (connection_id,),
                           missing="Broker connection not found.")

    async def list_accounts(self) -> list[TradingAccount]:
        """The user's trading accounts."""
        return [TradingAccount.from_row(r) for r in await self._db.rows(
            "select * from trading_accounts order by created_at")]

    # Strategies -------------------------------------------------------------------------------

    async def list_strategies(self) -> list[Strategy]:
        """The user's strategies by name."""
        return [Strategy.from_row(r) for r in await self._db.rows("select * from tv_strategies order by name")]

    async def get_strategy(self, strategy_id: str) -> Strategy | None:
        """One strategy."""
        row = await self._db.row("select * from tv_strategies where id = %s", (strategy_id,))
        return Strategy.from_row(row) if row else None

    async def create_strategy(self, draft: StrategyDraft) -> Strategy:
        """Add a strategy; the database generates its webhook secret."""
        _check_strategy(draft)
        return Strategy.from_row(await self._db.one(
            "insert into tv_strategies (user_id, name, broker_connection_id, risk_override_pct, "
            "allowed_pairs, is_enabled, opposite_signal, target_type, entry_type, account_filter, trading_window) "
            "values (%(user_id)s, %(name)s, %(broker_connection_id)s, "
            "%(risk_override_pct)s, %(allowed_pairs)s, %(is_enabled)s, %(opposite_signal)s, %(target_type)s, "
            "%(entry_type)s, %(account_filter)s, %(trading_window)s) returning *",
            {**_strategy_row(draft), "user_id": self._user_id()}))

    async def update_strategy(self, strategy_id: str, draft: StrategyDraft) -> Strategy:
        """Edit a strategy (its secret stays)."""
        _check_strategy(draft)
        return Strategy.from_row(await self._db.one(
            "update tv_strategies set name = %(name)s, broker_connection_id = %(broker_connection_id)s, "
            "risk_override_pct = %(risk_override_pct)s, allowed_pairs = %(allowed_pairs)s, "
            "is_enabled = %(is_enabled)s, opposite_signal = %(opposite_signal)s, target_type = %(target_type)s, "
            "entry_type = %(entry_type)s, account_filter = %(account_filter)s, trading_window = %(trading_window)s "
            "where id = %(id)s returning *",
            {**_strategy_row(draft), "id": strategy_id}, missing="Strategy not found."))

    async def set_strategy_enabled(self, strategy_id: str, enabled: bool) -> Strategy:
        """Enable or disable a strategy: a disabled one logs alerts as discarded."""
        return Strategy.from_row(await self._db.one(
            "update tv_strategies set is_enabled = %s where id = %s returning *", (enabled, strategy_id),
            missing="Strategy not found."))

    async def rotate_strategy_secret(self, strategy_id: str) -> Strategy:
        """New webhook secret; the old URL stops working."""
        await self._db.one("select rotate_strategy_secret(%s) as secret", (strategy_id,))
        strategy = await self.get_strategy(strategy_id)
        if strategy is None:
            raise UserError("Strategy not found.", code="not_found")
        return strategy

    async def delete_strategy(self, strategy_id: str) -> None:
        """Delete a strategy and its signal log."""
        await self._db.one("delete from tv_strategies where id = %s returning id", (strategy_id,),
                           missing="Strategy not found.")

    async def strategy_stats(self) -> list[StrategyStats]:
        """Last signal and today's count per strategy."""
        return [StrategyStats(c.text(r["strategy_id"]), c.opt_moment(r["last_signal_at"]), int(r["signals_today"]))
                for r in await self._db.rows("select * from strategy_stats()")]

    def _user_id(self) -> str:
        if self._session is None:
            raise UserError("Sign in first.", code="signed_out")
        return self._session.user_id


def _broker_row(draft: BrokerConnectionDraft) -> dict[str, object]:
    if not draft.name.strip():
        raise UserError("Give the broker connection a name.", code="invalid")
    row = draft.to_row()
    row["symbol_map"] = Jsonb(json.loads(json.dumps(row["symbol_map"])))
    row["pip_sizes"] = Jsonb(json.loads(json.dumps(row["pip_sizes"])))
    return row


def _strategy_row(draft: StrategyDraft) -> dict[str, object]:
    row = draft.to_row()
    window = row["trading_window"]
    row["trading_window"] = Jsonb(window) if window is not None else None
    return row


def _check_strategy(draft: StrategyDraft) -> None:
    if not draft.name.strip():
        raise UserError("Give the strategy a name.", code="invalid")
    if not draft.broker_connection_id:
        raise UserError("Choose the broker connection the strategy trades on.", code="invalid")
