"""The MT5 agent's calls: SECURITY DEFINER functions that take the agent's pairing key, over RPC.

Each is its own PostgREST transaction, as the SQL expects: a claim is protected by its state and
its lease token, not by a row lock that outlives the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from tnm_desktop.data.supabase.queries import QueriesBase
from tnm_desktop.domain import AgentCredentials, ClaimedJob, Job, SyncReport
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.risk import DailyLossLock, RiskState


def _held(creds: AgentCredentials, claimed: ClaimedJob) -> dict[str, Any]:
    return {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_job_id": claimed.job.id,
            "p_lease_token": claimed.lease_token}


def _claimed(row: dict[str, Any]) -> ClaimedJob:
    # A claim's answer: the job as a nested object, and the limits beside it (null unless an entry).
    return ClaimedJob.from_row({**c.json_object(row.get("job")), "risk_state": row.get("risk_state")})


class AgentCalls(QueriesBase):
    """What the MT5 agent writes."""

    async def claim_job(self, creds: AgentCredentials, lease_seconds: int = 60) -> ClaimedJob | None:
        """Claim the oldest waiting job for this agent, an entry with its limits (``claim_next_job_with_limits``)."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key,
                                "p_lease_seconds": lease_seconds}
        rows = await self._rest.rows(lambda r: r.rpc("claim_next_job_with_limits", args))
        return _claimed(rows[0]) if rows else None

    async def extend_lease(self, creds: AgentCredentials, claimed: ClaimedJob,
                           lease_seconds: int = 60) -> datetime:
        """Keep holding a running job."""
        args: dict[str, Any] = {**_held(creds, claimed), "p_lease_seconds": lease_seconds}
        return c.moment(await self._rest.value(lambda r: r.rpc("extend_job_lease", args)))

    async def record_intent(self, creds: AgentCredentials, claimed: ClaimedJob,
                            intent: dict[str, Any]) -> datetime:
        """Record what is about to be sent, before sending it."""
        args: dict[str, Any] = {**_held(creds, claimed), "p_intent": c.to_json(intent)}
        return c.moment(await self._rest.value(lambda r: r.rpc("record_job_intent", args)))

    async def complete_job(self, creds: AgentCredentials, claimed: ClaimedJob,
                           result: dict[str, Any]) -> Job:
        """Report success."""
        args: dict[str, Any] = {**_held(creds, claimed), "p_result": c.to_json(result)}
        return Job.from_row(await self._rest.single(lambda r: r.rpc("complete_job", args)))

    async def complete_and_claim(self, creds: AgentCredentials, claimed: ClaimedJob, result: dict[str, Any],
                                 lease_seconds: int = 60) -> ClaimedJob | None:
        """Report success and claim the next waiting job in one request (``complete_and_claim_next_with_limits``)."""
        args: dict[str, Any] = {**_held(creds, claimed), "p_result": c.to_json(result),
                                "p_lease_seconds": lease_seconds}
        rows = await self._rest.rows(lambda r: r.rpc("complete_and_claim_next_with_limits", args))
        return _claimed(rows[0]) if rows else None

    async def fail_job(self, creds: AgentCredentials, claimed: ClaimedJob, message: str, *,
                       code: str | None = None, result: dict[str, Any] | None = None,
                       retry: bool = False, retry_delay_seconds: int = 0) -> Job:
        """Report failure; with ``retry`` the job returns to the queue while attempts remain."""
        args: dict[str, Any] = {
            **_held(creds, claimed), "p_error_message": message, "p_error_code": code,
            "p_result": c.to_json(result), "p_retry": retry, "p_retry_delay_seconds": retry_delay_seconds}
        return Job.from_row(await self._rest.single(lambda r: r.rpc("fail_job", args)))

    async def recover_jobs(self, creds: AgentCredentials, lease_seconds: int = 60) -> list[ClaimedJob]:
        """Take back the jobs a previous run of this agent held."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key,
                                "p_lease_seconds": lease_seconds}
        rows = await self._rest.rows(lambda r: r.rpc("recover_agent_jobs", args))
        return [ClaimedJob.from_row(row) for row in rows]

    async def heartbeat(self, creds: AgentCredentials, status: str, last_error: str | None = None,
                        agent_version: str | None = None, every_seconds: float | None = None) -> datetime:
        """Say the agent is alive and in which state, and how often it says so."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_status": status,
                                "p_last_error": last_error, "p_agent_version": agent_version,
                                "p_every_seconds": max(round(every_seconds), 1) if every_seconds is not None else None}
        return c.moment(await self._rest.value(lambda r: r.rpc("agent_heartbeat_every", args)))

    async def record_sync(self, creds: AgentCredentials, report: SyncReport) -> str:
        """Store one account sync attempt; return the sync log id."""
        account = {k: v for k, v in c.to_json(asdict(report.account)).items() if v is not None}
        deals = [{k: v for k, v in c.to_json(asdict(d)).items() if v is not None} for d in report.deals]
        args: dict[str, Any] = {
            "p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_sync_type": report.sync_type,
            "p_status": report.status, "p_started_at": report.started_at.isoformat(),
            "p_duration_ms": report.duration_ms, "p_account": account, "p_trades": deals,
            "p_error_message": report.error_message}
        return c.text(await self._rest.value(lambda r: r.rpc("record_sync", args)))

    async def record_symbols(self, creds: AgentCredentials, broker_connection_id: str,
                             symbols: Sequence[str]) -> int:
        """Replace the broker's symbol catalog of a connection this agent serves."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key,
                                "p_broker_connection_id": broker_connection_id, "p_symbols": list(symbols)}
        return int(await self._rest.value(lambda r: r.rpc("record_broker_symbols", args)))

    async def risk_state(self, creds: AgentCredentials) -> RiskState:
        """The trader's risk limits now, and this agent's daily-loss lock that still runs."""
        args: dict[str, Any] = {"p_agent_id": creds.agent_id, "p_pairing_key": creds.key}
        return RiskState.from_json(await self._rest.value(lambda r: r.rpc("agent_risk_state", args)))

    async def record_daily_loss(self, creds: AgentCredentials, lock: DailyLossLock) -> bool:
        """Record that the daily loss reached the limit; True when this call recorded it first."""
        args: dict[str, Any] = {
            "p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_trading_day": lock.trading_day.isoformat(),
            "p_locked_until": lock.until.isoformat(), "p_limit_pct": lock.limit_pct, "p_loss_pct": lock.loss_pct,
            "p_reason": lock.reason}
        return bool(await self._rest.value(lambda r: r.rpc("record_daily_loss", args)))
