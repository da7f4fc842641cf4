"""Signals, jobs, EA projects and sync health over PostgREST and the SQL functions' RPC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from postgrest import AsyncPostgrestClient, AsyncSelectRequestBuilder

from tnm_desktop.data.port import LiveRow, Table
from tnm_desktop.data.supabase.queries import AGENT_COLUMNS, QueriesBase
from tnm_desktop.domain import (
    Agent,
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
    TradingAccount,
)
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.trading import PAGE_COLUMNS

VERSION_LIST = ("id,project_id,version_number,origin,note,parameters,compile_status,compile_log,compiled_at,"
                "created_at")


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class ActivityQueries(QueriesBase):
    """The signal log, the job queue, EA Studio and sync health."""

    # Signals ----------------------------------------------------------------------------------

    async def list_signals(self, filters: SignalFilter, *, after: SignalCursor | None = None,
                           limit: int = 200) -> list[Signal]:
        """One page of the signal log, newest first (``signal_page``), without raw payloads."""
        args: dict[str, Any] = {
            "p_strategy_id": filters.strategy_id, "p_status": filters.status.value if filters.status else None,
            "p_symbol": filters.symbol, "p_since": _moment(filters.since), "p_until": _moment(filters.until),
            "p_after_received_at": _moment(after.received_at) if after else None,
            "p_after_id": after.id if after else None, "p_limit": limit}
        return [Signal.from_row(row) for row in await self._rest.rows(
            lambda r: r.rpc("signal_page", args).select(",".join(PAGE_COLUMNS)))]

    async def count_signals(self, filters: SignalFilter) -> dict[SignalStatus, int]:
        """How many signals of each status match (the status filter itself is ignored)."""
        args: dict[str, Any] = {"p_strategy_id": filters.strategy_id, "p_symbol": filters.symbol,
                                "p_since": _moment(filters.since), "p_until": _moment(filters.until)}
        counts = {status: 0 for status in SignalStatus}
        for row in await self._rest.rows(lambda r: r.rpc("signal_counts", args)):
            counts[SignalStatus(row["status"])] = int(row["n"])
        return counts

    async def get_signals(self, signal_ids: Sequence[str]) -> list[Signal]:
        """Signals by id (those the user may see)."""
        return [Signal.from_row(row) for row in await self._rest.by_ids("tv_signals", signal_ids)]

    # Jobs -------------------------------------------------------------------------------------

    async def enqueue_job(self, request: JobRequest) -> Job:
        """Put a job in the queue for the user's agents."""
        body = {"user_id": self._user_id(), "job_type": request.job_type.value,
                "payload": c.to_json(request.payload), "target_agent_id": request.target_agent_id,
                "ea_project_id": request.ea_project_id, "max_attempts": request.max_attempts}
        return Job.from_row(await self._rest.single(lambda r: r.from_("jobs").insert(body).single()))

    async def list_jobs(self, filters: JobFilter) -> list[Job]:
        """Recent jobs, newest first."""
        def build(r: AsyncPostgrestClient) -> AsyncSelectRequestBuilder:
            query = r.from_("jobs").select("*")
            if filters.agent_id:
                query = query.or_(f"agent_id.eq.{filters.agent_id},target_agent_id.eq.{filters.agent_id}")
            if filters.ea_project_id:
                query = query.eq("ea_project_id", filters.ea_project_id)
            if filters.job_type:
                query = query.eq("job_type", filters.job_type.value)
            if filters.status:
                query = query.eq("status", filters.status.value)
            return query.order("created_at", desc=True).order("seq", desc=True).limit(filters.limit)

        return [Job.from_row(row) for row in await self._rest.rows(build)]

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """Jobs by id."""
        return [Job.from_row(row) for row in await self._rest.by_ids("jobs", job_ids)]

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel a job no agent has started."""
        return Job.from_row(await self._rest.single(lambda r: r.rpc("cancel_job", {"p_job_id": job_id})))

    # EA projects ------------------------------------------------------------------------------

    async def list_ea_projects(self) -> list[EaProject]:
        """The user's EA projects by name."""
        return [EaProject.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("ea_projects").select("*").order("name"))]

    async def create_ea_project(self, name: str, first_version: NewVersion, *, description: str = "",
                                symbol: str | None = None,
                                timeframe: str | None = None) -> tuple[EaProject, EaVersion]:
        """Create a project with its first version (``create_ea_project``)."""
        args: dict[str, Any] = {
            "p_name": name.strip(), "p_source_code": first_version.source_code, "p_description": description,
            "p_symbol": symbol, "p_timeframe": timeframe, "p_origin": first_version.origin.value,
            "p_note": first_version.note, "p_parameters": c.to_json(first_version.parameters)}
        project = EaProject.from_row(await self._rest.single(lambda r: r.rpc("create_ea_project", args)))
        assert project.current_version_id is not None
        return project, await self.get_ea_version(project.current_version_id)

    async def delete_ea_project(self, project_id: str) -> None:
        """Delete a project and its versions."""
        await self._rest.one(lambda r: r.from_("ea_projects").delete().eq("id", project_id).select("id"),
                             missing="EA project not found.")

    async def list_ea_versions(self, project_id: str) -> list[EaVersion]:
        """Versions of a project, newest first, without source."""
        return [EaVersion.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("ea_versions").select(VERSION_LIST).eq("project_id", project_id)
            .order("version_number", desc=True))]

    async def get_ea_version(self, version_id: str) -> EaVersion:
        """A version with its source."""
        return EaVersion.from_row(await self._rest.single(
            lambda r: r.from_("ea_versions").select("*").eq("id", version_id).single(),
            missing="Version not found."))

    async def save_ea_version(self, project_id: str, version: NewVersion) -> EaVersion:
        """Save a new version; it becomes the current one (``save_ea_version``)."""
        args: dict[str, Any] = {
            "p_project_id": project_id, "p_source_code": version.source_code, "p_origin": version.origin.value,
            "p_note": version.note, "p_parameters": c.to_json(version.parameters)}
        return EaVersion.from_row(await self._rest.single(lambda r: r.rpc("save_ea_version", args)))

    async def switch_ea_version(self, project_id: str, version_id: str) -> EaProject:
        """Open another version in the editor (``ea_projects.current_version_id``)."""
        return EaProject.from_row(await self._rest.single(
            lambda r: r.from_("ea_projects").update({"current_version_id": version_id}).eq("id", project_id)
            .single(), missing="EA project not found."))

    # Sync health ------------------------------------------------------------------------------

    async def account_health(self) -> list[SyncHealth]:
        """``account_sync_health`` for the user's accounts."""
        return [SyncHealth.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("account_sync_health").select("*").order("login"))]

    async def recent_sync_failures(self) -> list[SyncLog]:
        """Failed or partial syncs of the last 24 hours, newest first."""
        return [SyncLog.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("recent_sync_failures").select("*").order("started_at", desc=True))]

    async def sync_history(self, account_id: str, *, since: datetime | None = None,
                           limit: int = 500) -> list[SyncLog]:
        """An account's sync attempts, oldest first."""
        def build(r: AsyncPostgrestClient) -> AsyncSelectRequestBuilder:
            query = r.from_("sync_logs").select("*").eq("account_id", account_id)
            if since is not None:
                query = query.gte("started_at", since.isoformat())
            return query.order("started_at", desc=True).limit(limit)

        rows = await self._rest.rows(build)
        return [SyncLog.from_row(row) for row in reversed(rows)]

    # Live updates: re-reading rows and the polling fallback -----------------------------------

    async def _fetch_rows(self, table: Table, ids: Sequence[str]) -> Sequence[LiveRow]:
        if table is Table.SIGNALS:
            return await self.get_signals(ids)
        if table is Table.JOBS:
            return await self.get_jobs(ids)
        if table is Table.SYNC_LOGS:
            return [SyncLog.from_row(row) for row in await self._rest.by_ids("sync_logs", ids)]
        if table is Table.ACCOUNTS:
            return [TradingAccount.from_row(row) for row in await self._rest.by_ids("trading_accounts", ids)]
        if table is Table.POSITIONS:
            return await self._snapshots_by_id(ids)
        if table is Table.NOTIFICATIONS:
            return await self._notifications_by_id(ids)
        return [Agent.from_row(row) for row in await self._rest.by_ids("mt5_agents", ids, AGENT_COLUMNS)]

    async def _snapshots_by_id(self, ids: Sequence[str]) -> list[Any]:
        raise NotImplementedError

    async def _notifications_by_id(self, ids: Sequence[str]) -> list[Any]:
        raise NotImplementedError

    async def _changes_since(self, since: datetime) -> Sequence[tuple[str, str, str]]:
        rows = await self._rest.rows(lambda r: r.rpc("changes_since", {"p_since": since.isoformat()}))
        return [(str(row["table_name"]), str(row["op"]), str(row["id"])) for row in rows]
