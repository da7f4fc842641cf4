"""The agent queue: jobs, claims, and what an agent reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tnm_desktop.domain import convert as c
from tnm_desktop.domain.risk import RiskState


class JobType(StrEnum):
    """Every job type seed 003 allows (plus the agent's own account sync)."""

    COMPILE = "compile"
    DEPLOY = "deploy"
    RUN = "run"
    STOP = "stop"
    TEST = "test"
    TRADE = "trade"
    GET_POSITIONS = "get_positions"
    GET_ACCOUNT = "get_account"
    GET_CANDLES = "get_candles"
    CLOSE_POSITION = "close_position"
    SYNC_ACCOUNT = "sync_account"
    MODIFY_POSITION = "modify_position"

    @property
    def label(self) -> str:
        """What a trader calls it (the app's tables and the agent's log)."""
        return _TITLES[self]


_TITLES = {
    JobType.COMPILE: "Compile", JobType.DEPLOY: "Deploy", JobType.RUN: "Run", JobType.STOP: "Stop",
    JobType.TEST: "Strategy test", JobType.TRADE: "Trade", JobType.GET_POSITIONS: "Read positions",
    JobType.GET_ACCOUNT: "Read account", JobType.GET_CANDLES: "Read candles",
    JobType.CLOSE_POSITION: "Close position", JobType.SYNC_ACCOUNT: "Sync account",
    JobType.MODIFY_POSITION: "Change stops",
}


class JobStatus(StrEnum):
    """A job's state."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether nothing more will happen to the job."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Job:
    """One job of the queue."""

    id: str
    job_type: JobType
    payload: dict[str, Any]
    status: JobStatus
    result: Any
    error_message: str | None
    error_code: str | None
    agent_id: str | None
    target_agent_id: str | None
    ea_project_id: str | None
    attempts: int
    max_attempts: int
    intent: dict[str, Any] | None
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    sent_at: datetime | None
    completed_at: datetime | None
    lease_expires_at: datetime | None

    @classmethod
    def from_row(cls, row: c.Row) -> Job:
        """Build from a ``jobs`` row."""
        intent = row.get("intent")
        return cls(
            id=c.text(row["id"]), job_type=JobType(row["job_type"]), payload=c.json_object(row.get("payload")),
            status=JobStatus(row["status"]), result=c.json_value(row.get("result")),
            error_message=c.opt_text(row.get("error_message")), error_code=c.opt_text(row.get("error_code")),
            agent_id=c.opt_text(row.get("agent_id")), target_agent_id=c.opt_text(row.get("target_agent_id")),
            ea_project_id=c.opt_text(row.get("ea_project_id")),
            attempts=int(row.get("attempts") or 0), max_attempts=int(row.get("max_attempts") or 1),
            intent=c.json_object(intent) if intent is not None else None,
            created_at=c.moment(row["created_at"]), claimed_at=c.opt_moment(row.get("claimed_at")),
            started_at=c.opt_moment(row.get("started_at")), sent_at=c.opt_moment(row.get("sent_at")),
            completed_at=c.opt_moment(row.get("completed_at")),
            lease_expires_at=c.opt_moment(row.get("lease_expires_at")),
        )


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job an agent holds, with the lease token every report about it must carry.

    ``risk`` is what an entry is checked against (the trader's limits and the agent's daily-loss
    lock) as the claim read them; None when the claim did not bring them (not an entry, or a job
    taken back at start-up): the agent reads them itself then.
    """

    job: Job
    lease_token: str = field(repr=False)
    risk: RiskState | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> ClaimedJob:
        """Build from a row returned by a claim (with its ``risk_state`` column, when it has one)."""
        risk = row.get("risk_state")
        return cls(Job.from_row(row), c.text(row["lease_token"]), RiskState.from_json(risk) if risk else None)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job the GUI enqueues (compile, deploy, sync now, a manual trade…)."""

    job_type: JobType
    payload: dict[str, Any] = field(default_factory=dict)
    target_agent_id: str | None = None
    ea_project_id: str | None = None
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs to list; None means any."""

    agent_id: str | None = None
    ea_project_id: str | None = None
    job_type: JobType | None = None
    status: JobStatus | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account as the terminal reports it."""

    login: int
    server: str
    broker_name: str = ""
    name: str = ""
    currency: str = "USD"
    leverage: int | None = None
    balance: float | None = None
    equity: float | None = None
    margin: float | None = None
    free_margin: float | None = None
    margin_level: float | None = None
    profit: float | None = None
    server_time_offset: int | None = None


@dataclass(frozen=True, slots=True)
class DealRecord:
    """One deal to store in ``trades`` (times in UTC)."""

    ticket: int
    symbol: str
    side: str
    entry: str
    volume: float
    price: float
    executed_at: datetime
    order_ticket: int | None = None
    position_id: int | None = None
    profit: float = 0.0
    commission: float = 0.0
    swap: float = 0.0
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """One account sync attempt, as the agent records it."""

    sync_type: str  # scheduled | manual | realtime
    status: str  # success | failed | partial
    started_at: datetime
    duration_ms: int
    account: AccountSnapshot
    deals: tuple[DealRecord, ...] = ()
    error_message: str | None = None
