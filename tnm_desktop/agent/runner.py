"""The job runner: every job type of seed 003, on one terminal and one EA toolchain.

The MetaTrader5 module is not thread-safe and blocks, so every terminal call runs on one
dedicated thread, in order; the agent's event loop only awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tnm_desktop.agent.changes import check_login, modify_positions
from tnm_desktop.agent.ea_jobs import EaJobs
from tnm_desktop.agent.events import AgentEvent, LogLine, TerminalSeen
from tnm_desktop.agent.positions import PositionsReporter
from tnm_desktop.agent.stops import StopManager
from tnm_desktop.agent.sync import AccountSync
from tnm_desktop.agent.trading import TradeExecutor, magic_for
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, ClaimedJob, JobType
from tnm_desktop.domain.convert import to_json
from tnm_desktop.domain.trade import Close, ModifyInstruction
from tnm_desktop.ea.port import EaToolchain
from tnm_desktop.errors import OperationalError, TnmError, UserError
from tnm_desktop.terminal.port import ConnectSettings, TerminalPort, Timeframe

T = TypeVar("T")
MAX_CANDLES = 5000
# The functions run on the terminal's thread that only read it (the port's reads and the agent's
# own bundles of them); anything else may change the account.
READS = frozenset({"account", "positions", "position", "orders", "quote", "symbol", "symbol_names", "status",
                   "find_by_token", "deals_since", "server_time_offset", "candles",
                   "_read_market", "_read_warm", "_look", "read_day", "read_report"})
# Jobs that change what is open in the terminal: each is followed by a positions snapshot.
TRADING_JOBS = frozenset({JobType.TRADE, JobType.CLOSE_POSITION, JobType.MODIFY_POSITION})
RISK_WATCH_EVERY = 10.0  # seconds between looks at the daily loss while no entry comes
log = logging.getLogger(__name__)


class TerminalRunner:
    """Runs jobs for an agent.

    Args:
        data: The data port (to read EA sources and record intents).
        creds: The agent's credentials.
        terminal: The terminal adapter.
        toolchain: The EA toolchain (None: EA jobs are refused with a clear message).
        connect: How to log in to the terminal.
        emit: Agent events.
        ea_state: Where the EA versions built and deployed here are remembered (None: in memory).
        stops: Options of the :class:`StopManager` (tests: how often it looks at prices).
        executor_options: Extra options for :class:`TradeExecutor` (tests: checkpoints, waits), and
            ``risk_every``: seconds between looks at the daily loss while no entry comes.
    """

    def __init__(self, data: AgentPort, creds: AgentCredentials, terminal: TerminalPort, *,
                 toolchain: EaToolchain | None = None, connect: ConnectSettings | None = None,
                 emit: Callable[[AgentEvent], None] = lambda _e: None, ea_state: Path | None = None,
                 stops: dict[str, Any] | None = None,
                 **executor_options: Any) -> None:
        self.data = data
        self.creds = creds
        self.terminal = terminal
        self.toolchain = toolchain
        self._connect = connect
        self._emit = emit
        self.login: int | None = None  # the account the terminal is logged in to
        self._snapshot_due = False  # a job traded since the last snapshot
        self._deals_due = False  # a close or stop change since the last sync
        self._risk_every = float(executor_options.pop("risk_every", RISK_WATCH_EVERY))
        self._watcher: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt5")
        self.trades = TradeExecutor(data, creds, terminal, self.call, emit=emit, **executor_options)
        checkpoint = executor_options.get("checkpoint")
        self.stops = StopManager(data, creds, terminal, self.call, self.trades.contract,
                                 **({"checkpoint": checkpoint} if checkpoint else {}), **(stops or {}),
                                 changed=self.position_changed)
        self.syncer = AccountSync(data, creds, terminal, self.call, emit)
        self.positions = PositionsReporter(data, creds, terminal, self.call)
        self.ea = EaJobs(data, toolchain, ea_state)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking terminal function on the terminal's thread."""
        if getattr(fn, "__name__", None) not in READS:
            self.trades.written()  # it may trade: the account read while a job was claimed is stale
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def warm(self) -> None:
        """A job may be claimed now: read what an entry or a close needs meanwhile."""
        self.trades.warm()

    async def start(self) -> None:
        """Connect to the terminal; refuse to start when it cannot trade."""
        status = await self.call(self.terminal.connect, self._connect)
        self.trades.forget_contracts()  # another login may be another broker's symbols
        self._emit(TerminalSeen(status.connected, status.trade_allowed, status.login, status.server))
        if status.login is None:
            raise OperationalError("The MetaTrader 5 terminal is not logged in to a trading account.",
                                   code="not_logged_in")
        if not status.trade_allowed:
            raise OperationalError("Auto-trading is disabled in MetaTrader 5: switch on the Algo Trading button.",
                                   code="autotrading_disabled")
        self.syncer.fallback_account = (status.login, status.server or "")
        self.login = status.login
        await self._publish_symbols()
        await self._stop_watching()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_risk(), name="agent-risk-watch")

    async def _watch_risk(self) -> None:
        # The daily loss can reach its limit between alerts (a position running against the
        # trader): look at it now and then, so the trader hears of it and, if asked, everything is
        # closed without waiting for the next entry.
        while True:
            try:
                await self.trades.risk.watch()
            except TnmError as exc:
                log.info("risk watch: %s", exc)
            except Exception:  # a bug here must not stop trading; closes and checks at entry go on
                log.exception("risk watch failed")
                self._emit(LogLine(datetime.now(UTC), "warning", "Watching the daily loss failed; see the log."))
            await asyncio.sleep(self._risk_every)

    async def _stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def _publish_symbols(self) -> None:
        # Ingestion refuses an alert for a symbol the broker does not offer only when it knows the
        # broker's symbols: tell it, for every connection this agent serves.
        served = [c for c in await self.data.list_broker_connections() if c.agent_id == self.creds.agent_id]
        if not served:
            return
        names = await self.call(self.terminal.symbol_names)
        for connection in served:
            await self.data.record_symbols(self.creds, connection.id, names)

    async def close(self) -> None:
        """Let go of the terminal and its thread."""
        await self._stop_watching()
        try:
            await self.call(self.terminal.shutdown)
        finally:
            self._pool.shutdown(wait=False)

    async def sync(self, sync_type: str) -> None:
        """Sync the account, then write the positions snapshot."""
        await self._sync(sync_type)

    async def _sync(self, sync_type: str) -> str | None:
        log_id = await self.syncer.sync(sync_type)
        await self.positions.report()
        return log_id

    async def job_done(self, claimed: ClaimedJob, *, more: bool) -> None:
        """After a job that traded (whatever its outcome): show the terminal as it is now.

        A close or a stop change also syncs the deals, so the history shows a close the trader
        asked for at once. In a burst (``more``: the next job is already claimed) both wait for
        its last job: one snapshot then, not one per order on the path of the next.
        """
        kind = claimed.job.job_type
        self._snapshot_due |= kind in TRADING_JOBS
        self._deals_due |= kind in (JobType.CLOSE_POSITION, JobType.MODIFY_POSITION)
        if more:
            return
        if self._deals_due:
            self._deals_due = False
            with contextlib.suppress(TnmError):
                await self._sync("realtime")  # its snapshot is the one due
                self._snapshot_due = False
        if self._snapshot_due:
            self._snapshot_due = False
            await self.positions.report()

    async def position_changed(self) -> None:
        """A managed stop moved or a target closed part of a position: a fresh snapshot."""
        await self.positions.report()

    async def manage(self) -> None:
        """Manage breakeven, trailing stops and targets until cancelled."""
        await self.stops.run()

    async def run(self, claimed: ClaimedJob) -> dict[str, Any]:
        """Do one job; return its result."""
        job = claimed.job
        payload = job.payload
        kind = job.job_type
        if kind is JobType.TRADE:
            try:
                return await self.trades.trade(claimed)
            finally:
                if payload.get("manage"):
                    self.stops.expect()  # its rule appears once the job is complete
        if kind is JobType.MODIFY_POSITION:
            check_login(payload, self.login)
            change = ModifyInstruction.from_payload(payload)
            return await modify_positions(self.trades, claimed, change,
                                          magic_for(change.strategy_id) if change.strategy_id else None)
        if kind is JobType.CLOSE_POSITION:
            check_login(payload, self.login)
            if payload.get("scope") == "account":
                return await self.trades.close_account(claimed)
            ticket = payload.get("ticket")
            close = Close.parse({k: payload[k] for k in ("side", "fraction", "volume") if payload.get(k) is not None})
            return await self.trades.close(claimed, payload.get("symbol"), close,
                                           magic_for(payload["strategy_id"]) if payload.get("strategy_id") else None,
                                           int(ticket) if ticket is not None else None)
        if kind is JobType.GET_ACCOUNT:
            return to_json(asdict(await self.call(self.terminal.account)))  # type: ignore[no-any-return]
        if kind is JobType.GET_POSITIONS:
            positions = await self.call(self.terminal.positions, payload.get("symbol"))
            return {"positions": [to_json(asdict(p)) for p in positions]}
        if kind is JobType.GET_CANDLES:
            return await self._candles(payload)
        if kind is JobType.SYNC_ACCOUNT:
            return {"sync_log_id": await self._sync("manual")}
        return await self.ea.run(kind, payload)

    async def _candles(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            timeframe = Timeframe(str(payload.get("timeframe", "H1")).upper())
        except ValueError as exc:
            raise UserError(f"Unknown timeframe {payload.get('timeframe')!r}.", code="invalid_payload") from exc
        count = max(1, min(int(payload.get("count", 100)), MAX_CANDLES))
        symbol = str(payload.get("symbol") or "")
        if not symbol:
            raise UserError("Which symbol's candles?", code="invalid_payload")
        candles = await self.call(self.terminal.candles, symbol, timeframe, count)
        return {"symbol": symbol, "timeframe": timeframe.value, "candles": [to_json(asdict(c)) for c in candles]}
