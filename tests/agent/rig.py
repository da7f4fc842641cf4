"""An agent on the real database and an in-process MT5 simulator, and ways to feed it jobs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tnm_desktop.agent.events import AgentEvent, HeartbeatSent, StateChanged
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.thread import AgentThread
from tnm_desktop.agent.trading import magic_for, token_for
from tnm_desktop.agent.worker import Agent, AgentSettings
from tnm_desktop.composition.toolchain import ToolchainConfig, make_toolchain
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.port import AgentPort, DataPort
from tnm_desktop.domain import AgentCredentials, AgentState, Session
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.agent.fakes import RecordingRunner
from tests.pg import Agent as PairedAgent
from tests.pg import Db, User
from tests.waiting import eventually

FAST = AgentSettings(lease_seconds=30, heartbeat_every=1.0, fallback_poll_every=1.0, sync_every=3600,
                     backoff_base=0.05, backoff_max=0.2)
LIMITS = {"max_lot_size": None, "default_sl_pips": None, "default_lot_size": 0.01, "max_slippage_points": 20,
          "max_open_positions": None, "trading_enabled": True}

__all__ = ["FAST", "LIMITS", "RecordingRunner", "TradeRig"]

# Every rig's EA work folder goes under one folder removed when the test session ends (a rig outlives
# its agent's stops and restarts, so no single stop() can remove its folder).
_WORKDIRS = tempfile.TemporaryDirectory(prefix="tnm-ea-")


@dataclass
class TradeRig:
    """One user with a paired agent, a broker connection and a strategy, trading on a simulator."""

    db: Db
    user: User
    paired: PairedAgent
    adapter: LocalAdapter
    sim: SimulatedMt5
    broker_id: str
    strategy_id: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(dir=_WORKDIRS.name)))
    events: list[AgentEvent] = field(default_factory=list)
    agent: Agent | None = None
    task: asyncio.Task[None] | None = None
    thread: AgentThread | None = None

    @property
    def creds(self) -> AgentCredentials:
        return AgentCredentials(self.paired.id, self.paired.key)

    @property
    def magic(self) -> int:
        return magic_for(self.strategy_id)

    def runner(self, **options: Any) -> TerminalRunner:
        """A runner over a new connection to the same simulated terminal (as after a restart)."""
        options.setdefault("reconcile_wait", 0.3)
        terminal = Mt5Terminal(SimulatedMt5(self.sim.engine))
        toolchain = make_toolchain(ToolchainConfig(workdir=self.workdir))
        return TerminalRunner(self.adapter, self.creds, terminal, toolchain=toolchain,
                              emit=self.events.append, **options)

    async def start(self, runner: Any = None, settings: AgentSettings = FAST) -> Agent:
        """Start an agent on a fresh runner; return it once it runs."""
        agent = Agent(self.adapter, self.creds, runner or self.runner(), settings=settings, emit=self.events.append)
        self.agent = agent
        seen = len(self.states())
        self.task = asyncio.get_running_loop().create_task(agent.run())
        await eventually(lambda: any(s.state in (AgentState.RUNNING, AgentState.STOPPED)
                                     for s in self.states()[seen:]), within=10, what="agent started or stopped")
        return agent

    async def start_thread(self, settings: AgentSettings = FAST) -> AgentThread:
        """Start the agent on a thread of its own with its own loop and adapter, as the app runs it;
        return once it runs. For tests on another loop (the GUI's), which must not step its tasks."""
        conninfo = self.db.cluster.conninfo(user="authenticator", dbname=self.db.name)
        auth = self.db.cluster.conninfo(user="supabase_auth_admin", dbname=self.db.name)
        user, sim, workdir = self.user, self.sim, self.workdir

        async def data_factory() -> DataPort:
            adapter = LocalAdapter(conninfo, auth, f"session:thread:{user.email}", bcrypt_rounds=4)
            adapter.act_as(Session(user.id, user.email, "local"))
            return adapter

        async def runner_factory(data: AgentPort, creds: AgentCredentials,
                                 emit: Callable[[AgentEvent], None]) -> TerminalRunner:
            toolchain = make_toolchain(ToolchainConfig(workdir=workdir))
            return TerminalRunner(data, creds, Mt5Terminal(SimulatedMt5(sim.engine)), toolchain=toolchain, emit=emit,
                                  reconcile_wait=0.3)

        thread = AgentThread(data_factory, self.creds, runner_factory, settings)
        thread.add_listener(self.events.append)
        self.thread = thread
        thread.start()
        await eventually(lambda: thread.state in (AgentState.RUNNING, AgentState.STOPPED), within=20,
                         what="the agent thread running")
        return thread

    async def stop(self) -> None:
        """Stop the agent and wait for it."""
        if self.thread is not None:
            self.thread.stop()
            await asyncio.to_thread(self.thread.join, 20)
            self.thread = None
        if self.agent is not None and self.task is not None:
            self.agent.stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, 10)
        self.agent, self.task = None, None

    def trade(self, action: str = "buy", symbol: str = "EURUSD", *, sizing: dict[str, Any] | None = None,
              sl: dict[str, float] | None = None, tp: dict[str, float] | None = None,
              close: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
              max_attempts: int = 3, created_at: datetime | None = None,
              allowed_pairs: list[str] | None = None, opposite: str = "hedge",
              pip_size: float | None = None, alert_price: float | None = None,
              extra: dict[str, Any] | None = None) -> tuple[str, str]:
        """A trade job and its signal, as ingestion writes them; return (job id, signal id).

        ``opposite`` is the strategy's opposite-signal setting; "hedge" (every buy and sell opens)
        keeps tests of other things independent of it.
        """
        payload = {"signal_id": None, "strategy_id": self.strategy_id, "broker_connection_id": self.broker_id,
                   "action": action, "symbol": symbol, "broker_symbol": f"{symbol}.m",
                   "sizing": sizing or {"mode": "lots", "lots": 0.1}, "sl": sl, "tp": tp, "close": close,
                   "limits": {**LIMITS, **(limits or {})}, "allowed_pairs": allowed_pairs, "opposite": opposite,
                   "pip_size": pip_size, "alert_price": alert_price, **(extra or {})}
        # One transaction, as ingestion writes them: an agent on another thread must not claim the
        # job while the signal's insert holds its row (a claim skips locked rows).
        with self.db.admin.transaction():
            job = self.db.admin.execute(
                "insert into jobs (user_id, job_type, payload, target_agent_id, max_attempts, created_at) "
                "values (%s, 'trade', %s, %s, %s, coalesce(%s, now())) returning id::text as id",
                (self.user.id, json.dumps(payload), self.paired.id, max_attempts, created_at)).fetchone()
            assert job is not None
            signal = self.db.admin.execute(
                "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) "
                "values (%s, %s, %s, %s, %s, %s) returning id::text as id",
                (self.strategy_id, self.user.id, symbol, action, json.dumps({"action": action}), job["id"])
            ).fetchone()
            assert signal is not None
        return str(job["id"]), str(signal["id"])

    def enqueue(self, job_type: str, payload: dict[str, Any], *, max_attempts: int = 3) -> str:
        """A job for this rig's agent, as the app enqueues it; return its id."""
        row = self.db.admin.execute(
            "insert into jobs (user_id, job_type, payload, target_agent_id, max_attempts) values (%s, %s, %s, %s, %s) "
            "returning id::text as id", (self.user.id, job_type, json.dumps(payload), self.paired.id, max_attempts)
        ).fetchone()
        assert row is not None
        return str(row["id"])

    def snapshot(self) -> dict[str, Any] | None:
        """The account's positions snapshot as stored."""
        row: dict[str, Any] | None = self.db.admin.execute(
            "select * from position_snapshots where user_id = %s", (self.user.id,)).fetchone()
        return row

    def alert(self, body: str | dict[str, Any]) -> tuple[str, list[str]]:
        """Post an alert to the strategy as the receiver does (``ingest_tv_signal``); return (signal, job ids).

        Raises:
            AssertionError: the alert was not accepted (the reason is in the message).
        """
        text = body if isinstance(body, str) else json.dumps(body)
        secret = self.db.admin.execute("select webhook_secret from tv_strategies where id = %s",
                                       (self.strategy_id,)).fetchone()
        assert secret is not None
        row = self.db.admin.execute("select signal_id::text, code, reason from ingest_tv_signal(%s, %s)",
                                    (secret["webhook_secret"], text)).fetchone()
        assert row is not None and row["code"] == "accepted", (text, row)
        jobs = self.db.admin.execute("select id::text from jobs where signal_id = %s order by (payload ->> 'leg')::int",
                                     (row["signal_id"],)).fetchall()
        return str(row["signal_id"]), [str(j["id"]) for j in jobs]

    def job(self, job_id: str) -> dict[str, Any]:
        row = self.db.admin.execute("select * from jobs where id = %s", (job_id,)).fetchone()
        assert row is not None
        return row

    def signal(self, signal_id: str) -> dict[str, Any]:
        row = self.db.admin.execute("select * from tv_signals where id = %s", (signal_id,)).fetchone()
        assert row is not None
        return row

    async def final(self, job_id: str, within: float = 15) -> dict[str, Any]:
        """Wait until the job is completed, failed or cancelled; return its row."""
        try:
            await eventually(lambda: self.job(job_id)["status"] in ("completed", "failed", "cancelled"),
                             within=within, what=f"job {job_id} final")
        except AssertionError as exc:
            row = self.job(job_id)
            recent = [e for e in self.events if not isinstance(e, HeartbeatSent)][-8:]
            beats = [e.at for e in self.events if isinstance(e, HeartbeatSent)][-3:]
            raise AssertionError(f"{exc}: status={row['status']} attempts={row['attempts']} "
                                 f"agent={row['agent_id']}; its last heartbeats {beats}; the agent's last events: "
                                 f"{recent}") from None
        return self.job(job_id)

    def opening_deals(self, job_id: str) -> list[Any]:
        """Deals in the simulator's history that opened a position for this job."""
        window = (datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=2))
        deals = self.sim.history_deals_get(*window)
        if deals is None:  # this session was dropped with the terminal: log in again, as MT5 needs
            assert self.sim.initialize()
            deals = self.sim.history_deals_get(*window)
        token = token_for(job_id)
        return [d for d in deals or () if d.comment.startswith(token) and d.entry == mt5.DEAL_ENTRY_IN]

    def states(self) -> list[StateChanged]:
        return [e for e in self.events if isinstance(e, StateChanged)]


async def make_rig(db: Db, on_agent: Callable[[str], None] | None = None) -> TradeRig:
    """Build a rig for a new user (see :class:`TradeRig`)."""
    from tests.data.backends import local_backend

    user = db.create_user()
    paired = db.create_agent(user)
    broker = db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix) values (%s, %s, 'Sim', '.m') "
        "returning id::text as id", (user.id, paired.id)).fetchone()
    assert broker is not None
    strategy = db.admin.execute(
        "insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, 'Trend') "
        "returning id::text as id", (user.id, broker["id"])).fetchone()
    assert strategy is not None
    adapter = await local_backend(db).make(f"session:{user.email}")
    assert isinstance(adapter, LocalAdapter)
    adapter.act_as(Session(user.id, user.email, "local"))
    sim = SimulatedMt5()
    assert sim.initialize()
    if on_agent is not None:
        on_agent(paired.id)
    return TradeRig(db, user, paired, adapter, sim, str(broker["id"]), str(strategy["id"]))
