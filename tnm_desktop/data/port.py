"""The data port: everything the GUI and the agent ask of a backend.

Two adapters implement it — the local workspace (psycopg on a private PostgreSQL) and Supabase
(the ``supabase`` async client) — and neither the GUI nor the agent knows which one it has. Every
method is a coroutine; every failure is one of :mod:`tnm_desktop.errors`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tnm_desktop.domain import (
    Agent,
    AgentCredentials,
    BrokerConnection,
    BrokerConnectionDraft,
    ClaimedJob,
    EaProject,
    EaVersion,
    Job,
    JobFilter,
    JobRequest,
    NewVersion,
    PairingKeyHashes,
    Profile,
    Session,
    Signal,
    SignalCursor,
    SignalFilter,
    SignalStatus,
    Strategy,
    StrategyDraft,
    StrategyStats,
    SyncHealth,
    SyncLog,
    SyncReport,
    TradingAccount,
    UserSettings,
)
from tnm_desktop.domain.history import ClosedTrade, DailyPnl, EquityPoint, HistoryFilter, TradeStats
from tnm_desktop.domain.notifications import (
    Channel,
    ClaimedDelivery,
    Notification,
    NotificationEvent,
    NotificationSettings,
)
from tnm_desktop.domain.positions import PositionsReport, PositionsSnapshot
from tnm_desktop.domain.risk import DailyLossLock, RiskState, StopResult
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.domain.rules import PositionRule, RuleEvent


class Table(StrEnum):
    """Tables whose changes can be subscribed to."""

    SIGNALS = "tv_signals"
    JOBS = "jobs"
    SYNC_LOGS = "sync_logs"
    ACCOUNTS = "trading_accounts"
    AGENTS = "mt5_agents"
    POSITIONS = "position_snapshots"
    NOTIFICATIONS = "notifications"


# A row of a table that can be subscribed to.
LiveRow = Signal | Job | SyncLog | TradingAccount | Agent | PositionsSnapshot | Notification


@dataclass(frozen=True, slots=True)
class Change:
    """A row of the signed-in user's that was inserted or updated.

    ``row`` is the row as that user may see it now (re-read under RLS), or None if it is gone
    (or was not read: a subscription made with ``rows=False``).
    """

    table: Table
    op: str  # "insert" | "update" | "delete", or "waiting" (AgentPort.subscribe_waiting_jobs)
    id: str
    row: LiveRow | None


class LiveState(StrEnum):
    """How changes are arriving."""

    CONNECTING = "connecting"
    LIVE = "live"  # pushed by notifications / Realtime
    POLLING = "polling"  # the push channel is down; changes are polled until it is back
    CLOSED = "closed"


ChangeCallback = Callable[[Change], None]
StateCallback = Callable[[LiveState], None]


class Subscription(Protocol):
    """A live subscription; close it when done."""

    @property
    def state(self) -> LiveState:
        """How changes are arriving now."""
        ...

    async def close(self) -> None:
        """Stop receiving changes."""
        ...


class AuthPort(Protocol):
    """Signing in and out."""

    @property
    def session(self) -> Session | None:
        """Who is signed in, if anyone."""
        ...

    async def sign_in(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Sign in; with ``remember`` the session survives a restart (kept in the OS keyring)."""
        ...

    async def sign_up(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Create an account and sign in to it."""
        ...

    async def restore_session(self) -> Session | None:
        """Sign in silently from a remembered session, if there is a valid one."""
        ...

    async def sign_out(self) -> None:
        """Sign out and forget the remembered session."""
        ...


class AgentPort(Protocol):
    """What the MT5 agent asks of the backend, and nothing more.

    Its writes (claims, results, heartbeats, syncs) carry the agent's credentials. It reads its
    own row (which terminal to drive), the broker connections it serves and the EA versions its
    jobs name, and is woken by changes to its jobs.
    """

    async def close(self) -> None:
        """Release connections and subscriptions."""
        ...

    async def get_agent(self, agent_id: str) -> Agent | None:
        """One agent of the signed-in user."""
        ...

    async def list_broker_connections(self) -> list[BrokerConnection]:
        """The signed-in user's broker connections."""
        ...

    async def get_ea_version(self, version_id: str) -> EaVersion:
        """One version with its source."""
        ...

    async def subscribe(self, tables: Collection[Table], on_change: ChangeCallback,
                        on_state: StateCallback | None = None, *, rows: bool = True) -> Subscription:
        """Receive the signed-in user's changes to ``tables`` until closed.

        With ``rows=False`` changes are not re-read: each arrives with its id and operation only,
        as soon as it is announced (for a subscriber that only needs to be woken).
        """
        ...

    async def subscribe_waiting_jobs(self, on_change: ChangeCallback,
                                     on_state: StateCallback | None = None) -> Subscription:
        """Be told when a job of the signed-in user may be waiting for an agent, until closed.

        A change carries no row. Its ``op`` is "waiting" when the backend announces exactly the
        jobs that start to wait (created waiting, or put back in the queue); otherwise (a backend
        that cannot, or while the push channel is down and changes are polled) it is any change of
        a job, "insert" or "update", as from :meth:`subscribe` with ``rows=False``.
        """
        ...

    async def claim_job(self, creds: AgentCredentials, lease_seconds: int = 60) -> ClaimedJob | None:
        """Claim the oldest waiting job for this agent, or None when nothing waits.

        An entry comes with the risk limits it is checked against (``ClaimedJob.risk``).
        """
        ...

    async def extend_lease(self, creds: AgentCredentials, claimed: ClaimedJob,
                           lease_seconds: int = 60) -> datetime:
        """Keep holding a job that is still running; return the new expiry."""
        ...

    async def record_intent(self, creds: AgentCredentials, claimed: ClaimedJob,
                            intent: dict[str, Any]) -> datetime:
        """Record what is about to be sent, before sending it; return when."""
        ...

    async def complete_job(self, creds: AgentCredentials, claimed: ClaimedJob,
                           result: dict[str, Any]) -> Job:
        """Report success."""
        ...

    async def complete_and_claim(self, creds: AgentCredentials, claimed: ClaimedJob, result: dict[str, Any],
                                 lease_seconds: int = 60) -> ClaimedJob | None:
        """Report success and claim the next waiting job, in one call and one commit (None: nothing waits).

        An entry comes with the risk limits it is checked against, as from :meth:`claim_job`.
        """
        ...

    async def fail_job(self, creds: AgentCredentials, claimed: ClaimedJob, message: str, *,
                       code: str | None = None, result: dict[str, Any] | None = None,
                       retry: bool = False, retry_delay_seconds: int = 0) -> Job:
        """Report failure; with ``retry`` the job returns to the queue while attempts remain."""
        ...

    async def recover_jobs(self, creds: AgentCredentials, lease_seconds: int = 60) -> list[ClaimedJob]:
        """Take back the jobs a previous run of this agent held (start-up and crash recovery)."""
        ...

    async def heartbeat(self, creds: AgentCredentials, status: str, last_error: str | None = None,
                        agent_version: str | None = None, every_seconds: float | None = None) -> datetime:
        """Say the agent is alive and in which state, and how often it says so (its health threshold)."""
        ...

    async def record_positions(self, creds: AgentCredentials, report: PositionsReport) -> str:
        """Store the account's open positions and pending orders as just read; return the snapshot id."""
        ...

    async def record_notification(self, event: NotificationEvent) -> bool:
        """Record an event for the trader (once per ``event_key``); True when this call recorded it."""
        ...

    async def record_sync(self, creds: AgentCredentials, report: SyncReport) -> str:
        """Store one account sync attempt; return the sync log id."""
        ...

    async def record_symbols(self, creds: AgentCredentials, broker_connection_id: str,
                             symbols: Sequence[str]) -> int:
        """Replace the broker's symbol catalog of a connection this agent serves; return its size."""
        ...

    async def risk_state(self, creds: AgentCredentials) -> RiskState:
        """The trader's risk limits now, and this agent's daily-loss lock that still runs.

        A claimed entry brings them already; this is for the looks between entries and for a job
        taken back at start-up.
        """
        ...

    async def record_daily_loss(self, creds: AgentCredentials, lock: DailyLossLock) -> bool:
        """Record that the daily loss reached the limit; True when this call recorded it first.

        When the trader asked for it in Settings, trading is turned off and a close-all job is
        queued for this agent in the same transaction.
        """
        ...

    async def position_rules(self, creds: AgentCredentials) -> list[PositionRule]:
        """The breakeven, trailing and target rules this agent manages (waiting or active)."""
        ...

    async def position_rule_step(self, creds: AgentCredentials, rule_id: str, step: str,
                                 data: dict[str, Any]) -> PositionRule:
        """Record one step of a rule: "activate", "begin" (a change about to be sent), "finish", "end"."""
        ...


class DataPort(AuthPort, AgentPort, Protocol):
    """Everything the desktop app asks of its backend (the agent's part is :class:`AgentPort`)."""

    async def ping(self) -> None:
        """Raise TransientError when the backend cannot be reached."""
        ...

    def spawn(self) -> Callable[[], Awaitable[DataPort]]:
        """A factory that builds, inside another thread's event loop, an adapter signed in as the same
        user (the agent's thread has its own loop and connections)."""
        ...

    # Profile and settings ---------------------------------------------------------------------
    async def get_profile(self) -> Profile: ...
    async def update_profile(self, display_name: str) -> Profile: ...
    async def get_settings(self) -> UserSettings: ...
    async def update_settings(self, settings: UserSettings) -> UserSettings:
        """Save the sizing defaults and limits (never the trading switch: see stop/start_trading)."""
        ...

    async def stop_trading(self, *, close_all: bool = False) -> StopResult:
        """Turn trading off at once and cancel the queued entries; with ``close_all``, queue the
        closing of every position and pending order on every agent's account."""
        ...

    async def start_trading(self) -> UserSettings:
        """Turn trading on again."""
        ...

    # Agents -----------------------------------------------------------------------------------
    async def list_agents(self) -> list[Agent]: ...
    async def get_agent(self, agent_id: str) -> Agent | None: ...
    async def create_agent(self, name: str, machine_name: str, key: PairingKeyHashes) -> Agent: ...
    async def set_agent_key(self, agent_id: str, key: PairingKeyHashes) -> Agent: ...
    async def update_agent(self, agent_id: str, *, name: str | None = None,
                           terminal_path: str | None = None, mt5_login: int | None = None,
                           mt5_server: str | None = None) -> Agent: ...
    async def revoke_agent(self, agent_id: str) -> Agent: ...
    async def delete_agent(self, agent_id: str) -> None: ...

    # Broker connections and accounts ----------------------------------------------------------
    async def create_broker_connection(self, draft: BrokerConnectionDraft) -> BrokerConnection: ...
    async def update_broker_connection(self, connection_id: str,
                                       draft: BrokerConnectionDraft) -> BrokerConnection: ...
    async def delete_broker_connection(self, connection_id: str) -> None:
        """Delete; UserError(code="in_use") while strategies still route to it."""
        ...

    async def list_accounts(self) -> list[TradingAccount]: ...

    # Strategies -------------------------------------------------------------------------------
    async def list_strategies(self) -> list[Strategy]: ...
    async def get_strategy(self, strategy_id: str) -> Strategy | None: ...
    async def create_strategy(self, draft: StrategyDraft) -> Strategy: ...
    async def update_strategy(self, strategy_id: str, draft: StrategyDraft) -> Strategy: ...
    async def set_strategy_enabled(self, strategy_id: str, enabled: bool) -> Strategy: ...
    async def rotate_strategy_secret(self, strategy_id: str) -> Strategy:
        """Give the strategy a new webhook secret; the old URL stops working at once."""
        ...

    async def delete_strategy(self, strategy_id: str) -> None: ...
    async def strategy_stats(self) -> list[StrategyStats]: ...
    async def strategy_connections(self, strategy_id: str) -> list[StrategyConnection]:
        """The broker connections a strategy trades on, its own first."""
        ...

    async def set_strategy_connections(self, strategy_id: str,
                                       connections: Sequence[StrategyConnection]) -> list[StrategyConnection]:
        """Replace them (the first becomes the strategy's own connection); UserError when none."""
        ...

    # Signals ----------------------------------------------------------------------------------
    async def list_signals(self, filters: SignalFilter, *, after: SignalCursor | None = None,
                           limit: int = 200) -> list[Signal]:
        """One page of the signal log, newest first, starting just after ``after``.

        The page's signals carry no raw payload (``raw_payload`` is None): a page is read while
        the log scrolls, and the payload is shown only in a signal's detail (:meth:`get_signals`).
        """
        ...

    async def count_signals(self, filters: SignalFilter) -> dict[SignalStatus, int]: ...
    async def get_signals(self, signal_ids: Sequence[str]) -> list[Signal]: ...
    async def signal_legs(self, signal_id: str) -> list[Job]:
        """The jobs of one signal, one per broker connection, in leg order."""
        ...

    async def rule_events(self, signal_id: str) -> list[RuleEvent]:
        """What breakeven, trailing and targets did to the positions a signal opened, oldest first."""
        ...

    # Jobs -------------------------------------------------------------------------------------
    async def enqueue_job(self, request: JobRequest) -> Job: ...
    async def list_jobs(self, filters: JobFilter) -> list[Job]: ...
    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]: ...
    async def cancel_job(self, job_id: str) -> Job: ...

    # EA projects ------------------------------------------------------------------------------
    async def list_ea_projects(self) -> list[EaProject]: ...
    async def create_ea_project(self, name: str, first_version: NewVersion, *, description: str = "",
                                symbol: str | None = None,
                                timeframe: str | None = None) -> tuple[EaProject, EaVersion]: ...
    async def delete_ea_project(self, project_id: str) -> None: ...
    async def list_ea_versions(self, project_id: str) -> list[EaVersion]:
        """The project's versions, newest first, without their source."""
        ...

    async def save_ea_version(self, project_id: str, version: NewVersion) -> EaVersion:
        """Save a new version and make it the project's current one."""
        ...

    async def switch_ea_version(self, project_id: str, version_id: str) -> EaProject: ...

    # Sync health ------------------------------------------------------------------------------
    async def account_health(self) -> list[SyncHealth]: ...
    async def recent_sync_failures(self) -> list[SyncLog]: ...
    async def sync_history(self, account_id: str, *, since: datetime | None = None,
                           limit: int = 500) -> list[SyncLog]:
        """An account's sync attempts, oldest first."""
        ...

    # Positions and history --------------------------------------------------------------------
    async def list_position_snapshots(self) -> list[PositionsSnapshot]:
        """Each account's latest positions snapshot."""
        ...

    async def closed_trades(self, filters: HistoryFilter) -> list[ClosedTrade]:
        """Closed trades, newest first."""
        ...

    async def trade_stats(self, filters: HistoryFilter) -> TradeStats: ...

    async def daily_pnl(self, filters: HistoryFilter, time_zone: str = "UTC") -> list[DailyPnl]:
        """P&L per day (the day a trade closed, in ``time_zone``, an IANA name), oldest first."""
        ...

    async def equity_curve(self, account_id: str, *, since: datetime | None = None, until: datetime | None = None,
                           points: int = 500) -> list[EquityPoint]: ...

    # Agent health and notifications -----------------------------------------------------------
    async def sweep_stale_agents(self) -> list[str]:
        """Mark the user's silent agents offline (recording "agent down" once); return their ids."""
        ...

    async def get_notification_settings(self) -> NotificationSettings: ...
    async def update_notification_settings(self, settings: NotificationSettings) -> NotificationSettings: ...

    async def claim_notifications(self, channels: Collection[Channel], claimed_by: str) -> list[ClaimedDelivery]:
        """Take the deliveries no one has claimed on ``channels`` (each goes to one claimer only)."""
        ...

    async def finish_notification(self, notification_id: str, channel: Channel, error: str | None = None) -> None:
        """Report a claimed delivery sent (``error`` None) or failed."""
        ...

    async def list_notifications(self, limit: int = 50) -> list[Notification]:
        """The latest recorded events, newest first."""
        ...
