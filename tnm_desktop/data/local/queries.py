"""Signals, jobs, EA projects, sync health, the agent's calls and live updates, over psycopg."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from tnm_desktop.data.live import ChangeFeed
from tnm_desktop.data.local.db import UserDb
from tnm_desktop.data.local.live import LocalListener, waiting_jobs_channel_of
from tnm_desktop.data.port import ChangeCallback, LiveRow, StateCallback, Subscription, Table
from tnm_desktop.domain import (
    Agent,
    AgentCredentials,
    ClaimedJob,
    EaProject,
    EaVersion,
    Job,
    JobFilter,
    JobRequest,
    NewVersion,
    Signal,
    SignalCursor,
    SignalFilter,
    SignalStatus,
    SyncHealth,
    SyncLog,
    SyncReport,
    TradingAccount,
)
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.risk import DailyLossLock, RiskState
from tnm_desktop.domain.trading import PAGE_COLUMNS

_VERSION_LIST = ("id, project_id, version_number, origin, note, parameters, compile_status, "
                 "compile_log, compiled_at, created_at")


# A page of the signal log: its columns, ids as text (no UUID objects to build and print again).
_PAGE = "select " + ", ".join(f"{name}::text as {name}" if name in ("id", "strategy_id", "job_id") else name
                              for name in PAGE_COLUMNS)


def _json(value: Any) -> Jsonb:
    return Jsonb(c.to_json(value))


class LocalQueries:
    """The larger half of :class:`~tnm_desktop.data.local.adapter.LocalAdapter`."""

    def __init__(self, db: UserDb, conninfo: str) -> None:
        self._db = db
        self._conninfo = conninfo
        self._subscriptions: list[LocalListener] = []

    def _user_id(self) -> str:
        raise NotImplementedError

    async def _snapshots_by_id(self, ids: Sequence[str]) -> list[Any]:
        raise NotImplementedError

    async def _notifications_by_id(self, ids: Sequence[str]) -> list[Any]:
        raise NotImplementedError

    # Signals ----------------------------------------------------------------------------------

    async def list_signals(self, filters: SignalFilter, *, after: SignalCursor | None = None,
                           limit: int = 200) -> list[Signal]:
        """One page of the signal log, newest first (without raw payloads: decoding them was half a page's cost)."""
        rows = await self._db.rows(
            _PAGE + " from signal_page(%s, %s, %s, %s, %s, %s, %s, %s)",
            (filters.strategy_id, filters.status.value if filters.status else None, filters.symbol,
             filters.since, filters.until, after.received_at if after else None,
             after.id if after else None, limit))
        return [Signal.from_row(r) for r in rows]

    async def count_signals(self, filters: SignalFilter) -> dict[SignalStatus, int]:
        """How many signals of each status match (the status filter itself is ignored)."""
        rows = await self._db.rows("select * from signal_counts(%s, %s, %s, %s)",
                                   (filters.strategy_id, filters.symbol, filters.since, filters.until))
        counts = {status: 0 for status in SignalStatus}
        for row in rows:
            counts[SignalStatus(row["status"])] = int(row["n"])
        return counts

    async def get_signals(self, signal_ids: Sequence[str]) -> list[Signal]:
        """Signals by id (those the user may see)."""
        if not signal_ids:
            return []
        rows = await self._db.rows("select * from tv_signals where id = any(%s::uuid[])", (list(signal_ids),))
        return [Signal.from_row(r) for r in rows]

    # Jobs -------------------------------------------------------------------------------------

    async def enqueue_job(self, request: JobRequest) -> Job:
        """Put a job in the queue for the user's agents."""
        return Job.from_row(await self._db.one(
            "insert into jobs (user_id, job_type, payload, target_agent_id, ea_project_id, max_attempts) "
            "values ((select auth.uid()), %s, %s, %s, %s, %s) returning *",
            (request.job_type.value, _json(request.payload), request.target_agent_id,
             request.ea_project_id, request.max_attempts)))

    async def list_jobs(self, filters: JobFilter) -> list[Job]:
        """Recent jobs, newest first."""
        rows = await self._db.rows(
            "select * from jobs where (%(agent)s::uuid is null or agent_id = %(agent)s or target_agent_id = %(agent)s) "
            "and (%(project)s::uuid is null or ea_project_id = %(project)s) "
            "and (%(type)s::text is null or job_type = %(type)s) "
            "and (%(status)s::text is null or status = %(status)s) "
            "order by created_at desc, seq desc limit %(limit)s",
            {"agent": filters.agent_id, "project": filters.ea_project_id,
             "type": filters.job_type.value if filters.job_type else None,
             "status": filters.status.value if filters.status else None, "limit": filters.limit})
        return [Job.from_row(r) for r in rows]

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """Jobs by id."""
        if not job_ids:
            return []
        return [Job.from_row(r) for r in await self._db.rows(
            "select * from jobs where id = any(%s::uuid[])", (list(job_ids),))]

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel a job no agent has started."""
        return Job.from_row(await self._db.one("select * from cancel_job(%s)", (job_id,)))

    # EA projects ------------------------------------------------------------------------------

    async def list_ea_projects(self) -> list[EaProject]:
        """The user's EA projects by name."""
        return [EaProject.from_row(r) for r in await self._db.rows("select * from ea_projects order by name")]

    async def create_ea_project(self, name: str, first_version: NewVersion, *, description: str = "",
                                symbol: str | None = None,
                                timeframe: str | None = None) -> tuple[EaProject, EaVersion]:
        """Create a project with its first version."""
        project = EaProject.from_row(await self._db.one(
            "select * from create_ea_project(%s, %s, %s, %s, %s, %s, %s, %s)",
            (name.strip(), first_version.source_code, description, symbol, timeframe,
             first_version.origin.value, first_version.note,
             _json(first_version.parameters) if first_version.parameters is not None else None)))
        assert project.current_version_id is not None
        return project, await self.get_ea_version(project.current_version_id)

    async def delete_ea_project(self, project_id: str) -> None:
        """Delete a project and its versions."""
        await self._db.one("delete from ea_projects where id = %s returning id", (project_id,),
                           missing="EA project not found.")

    async def list_ea_versions(self, project_id: str) -> list[EaVersion]:
        """Versions of a project, newest first, without source."""
        return [EaVersion.from_row(r) for r in await self._db.rows(
            f"select {_VERSION_LIST} from ea_versions where project_id = %s order by version_number desc",
            (project_id,))]

    async def get_ea_version(self, version_id: str) -> EaVersion:
        """A version with its source."""
        return EaVersion.from_row(await self._db.one("select * from ea_versions where id = %s", (version_id,),
                                                     missing="Version not found."))

    async def save_ea_version(self, project_id: str, version: NewVersion) -> EaVersion:
        """Save a new version; it becomes the current one."""
        return EaVersion.from_row(await self._db.one(
            "select * from save_ea_version(%s, %s, %s, %s, %s)",
            (project_id, version.source_code, version.origin.value, version.note,
             _json(version.parameters) if version.parameters is not None else None)))

    async def switch_ea_version(self, project_id: str, version_id: str) -> EaProject:
        """Open another version in the editor (``ea_projects.current_version_id``)."""
        return EaProject.from_row(await self._db.one(
            "update ea_projects set current_version_id = %s where id = %s returning *",
            (version_id, project_id), missing="EA project not found."))

    # Sync health ------------------------------------------------------------------------------

    async def account_health(self) -> list[SyncHealth]:
        """``account_sync_health`` for the user's accounts."""
        return [SyncHealth.from_row(r) for r in await self._db.rows(
            "select * from account_sync_health order by login")]

    async def recent_sync_failures(self) -> list[SyncLog]:
        """Failed or partial syncs of the last 24 hours, newest first."""
        return [SyncLog.from_row(r) for r in await self._db.rows("select * from recent_sync_failures")]

    async def sync_history(self, account_id: str, *, since: datetime | None = None,
                           limit: int = 500) -> list[SyncLog]:
        """An account's sync attempts, oldest first."""
        rows = await self._db.rows(
            "select * from (select * from sync_logs where account_id = %s "
            "and (%s::timestamptz is null or started_at >= %s) order by started_at desc limit %s) s "
            "order by started_at", (account_id, since, since, limit))
        return [SyncLog.from_row(r) for r in rows]

    # The agent's calls ------------------------------------------------------------------------

    async def claim_job(self, creds: AgentCredentials, lease_seconds: int = 60) -> ClaimedJob | None:
        """Claim the oldest waiting job for this agent (an entry with the limits it is checked against)."""
        row = await self._db.row("select (c.job).*, c.risk_state from claim_next_job_with_limits(%s, %s, %s) c",
                                 (creds.agent_id, creds.key, lease_seconds))
        return ClaimedJob.from_row(row) if row else None

    async def extend_lease(self, creds: AgentCredentials, claimed: ClaimedJob,
                           lease_seconds: int = 60) -> datetime:
        """Keep holding a running job."""
        row = await self._db.one("select extend_job_lease(%s, %s, %s, %s, %s) as until",
                                 (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token, lease_seconds))
        return c.moment(row["until"])

    async def record_intent(self, creds: AgentCredentials, claimed: ClaimedJob,
                            intent: dict[str, Any]) -> datetime:
        """Record what is about to be sent."""
        row = await self._db.one("select record_job_intent(%s, %s, %s, %s, %s) as at",
                                 (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token, _json(intent)))
        return c.moment(row["at"])

    async def complete_job(self, creds: AgentCredentials, claimed: ClaimedJob,
                           result: dict[str, Any]) -> Job:
        """Report success."""
        return Job.from_row(await self._db.one(
            "select * from complete_job(%s, %s, %s, %s, %s)",
            (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token, _json(result))))

    async def complete_and_claim(self, creds: AgentCredentials, claimed: ClaimedJob, result: dict[str, Any],
                                 lease_seconds: int = 60) -> ClaimedJob | None:
        """Report success and claim the next waiting job in one round trip and one commit."""
        row = await self._db.row("select (c.job).*, c.risk_state "
                                 "from complete_and_claim_next_with_limits(%s, %s, %s, %s, %s, %s) c",
                                 (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token, _json(result),
                                  lease_seconds))
        return ClaimedJob.from_row(row) if row else None

    async def fail_job(self, creds: AgentCredentials, claimed: ClaimedJob, message: str, *,
                       code: str | None = None, result: dict[str, Any] | None = None,
                       retry: bool = False, retry_delay_seconds: int = 0) -> Job:
        """Report failure."""
        return Job.from_row(await self._db.one(
            "select * from fail_job(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token, message, code,
             _json(result) if result is not None else None, retry, retry_delay_seconds)))

    async def recover_jobs(self, creds: AgentCredentials, lease_seconds: int = 60) -> list[ClaimedJob]:
        """Take back what a previous run of this agent held."""
        return [ClaimedJob.from_row(r) for r in await self._db.rows(
            "select * from recover_agent_jobs(%s, %s, %s)", (creds.agent_id, creds.key, lease_seconds))]

    async def heartbeat(self, creds: AgentCredentials, status: str, last_error: str | None = None,
                        agent_version: str | None = None, every_seconds: float | None = None) -> datetime:
        """Say the agent is alive, and how often it says so."""
        every = max(round(every_seconds), 1) if every_seconds is not None else None
        row = await self._db.one("select agent_heartbeat_every(%s, %s, %s, %s, %s, %s) as at",
                                 (creds.agent_id, creds.key, status, every, last_error, agent_version))
        return c.moment(row["at"])

    async def record_sync(self, creds: AgentCredentials, report: SyncReport) -> str:
        """Store one account sync attempt."""
        account = {k: v for k, v in c.to_json(asdict(report.account)).items() if v is not None}
        deals = [{k: v for k, v in c.to_json(asdict(d)).items() if v is not None} for d in report.deals]
        row = await self._db.one(
            "select record_sync(%s, %s, %s, %s, %s, %s, %s, %s, %s) as id",
            (creds.agent_id, creds.key, report.sync_type, report.status, report.started_at,
             report.duration_ms, Jsonb(account), Jsonb(deals), report.error_message))
        return c.text(row["id"])

    async def record_symbols(self, creds: AgentCredentials, broker_connection_id: str,
                             symbols: Sequence[str]) -> int:
        """Replace the broker's symbol catalog of a connection this agent serves."""
        row = await self._db.one("select record_broker_symbols(%s, %s, %s, %s) as n",
                                 (creds.agent_id, creds.key, broker_connection_id, Jsonb(list(symbols))))
        return int(row["n"])

    async def risk_state(self, creds: AgentCredentials) -> RiskState:
        """The trader's risk limits now, and this agent's daily-loss lock that still runs."""
        row = await self._db.one("select agent_risk_state(%s, %s) as s", (creds.agent_id, creds.key))
        return RiskState.from_json(row["s"])

    async def record_daily_loss(self, creds: AgentCredentials, lock: DailyLossLock) -> bool:
        """Record that the daily loss reached the limit; True when this call recorded it first."""
        row = await self._db.one("select record_daily_loss(%s, %s, %s, %s, %s::numeric, %s::numeric, %s) as new",
                                 (creds.agent_id, creds.key, lock.trading_day, lock.until, lock.limit_pct,
                                  lock.loss_pct, lock.reason))
        return bool(row["new"])

    # Live updates -----------------------------------------------------------------------------

    async def subscribe(self, tables: Collection[Table], on_change: ChangeCallback,
                        on_state: StateCallback | None = None, *, rows: bool = True) -> Subscription:
        """Receive the user's changes via LISTEN/NOTIFY, re-read under RLS (unless ``rows=False``)."""
        feed = ChangeFeed(tables, self._fetch_rows, self._changes_since, on_change, on_state, rows=rows)
        return await self._listen(feed, None)

    async def subscribe_waiting_jobs(self, on_change: ChangeCallback,
                                     on_state: StateCallback | None = None) -> Subscription:
        """Hear of the user's jobs that start to wait, on their own channel (op "waiting")."""
        feed = ChangeFeed([Table.JOBS], self._fetch_rows, self._changes_since, on_change, on_state, rows=False)
        return await self._listen(feed, waiting_jobs_channel_of(self._user_id()))

    async def _listen(self, feed: ChangeFeed, channel: str | None) -> Subscription:
        listener = LocalListener(self._conninfo, self._user_id(), feed, channel=channel)
        await listener.start()
        self._subscriptions.append(listener)
        return listener

    async def _close_subscriptions(self) -> None:
        while self._subscriptions:
            await self._subscriptions.pop().close()

    async def _fetch_rows(self, table: Table, ids: Sequence[str]) -> Sequence[LiveRow]:
        if table is Table.SIGNALS:
            return await self.get_signals(ids)
        if table is Table.JOBS:
            return await self.get_jobs(ids)
        if table is Table.SYNC_LOGS:
            return [SyncLog.from_row(r) for r in await self._db.rows(
                "select * from sync_logs where id = any(%s::uuid[])", (list(ids),))]
        if table is Table.ACCOUNTS:
            return [TradingAccount.from_row(r) for r in await self._db.rows(
                "select * from trading_accounts where id = any(%s::uuid[])", (list(ids),))]
        if table is Table.POSITIONS:
            return await self._snapshots_by_id(ids)
        if table is Table.NOTIFICATIONS:
            return await self._notifications_by_id(ids)
        return [Agent.from_row(r) for r in await self._db.rows(
            "select id, name, machine_name, terminal_path, mt5_login, mt5_server, status, last_heartbeat_at, "
            "last_error, agent_version, pairing_key_prefix, revoked_at, created_at, heartbeat_every_s, "
            "stale_after_s, down_since from mt5_agents where id = any(%s::uuid[])", (list(ids),))]

    async def _changes_since(self, since: datetime) -> Sequence[tuple[str, str, str]]:
        rows = await self._db.rows("select * from changes_since(%s)", (since,))
        return [(str(r["table_name"]), str(r["op"]), str(r["id"])) for r in rows]

