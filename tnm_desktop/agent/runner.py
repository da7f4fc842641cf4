"""The job runner: every job type of seed 003, on one terminal and one EA toolchain.

The MetaTrader5 module is not thread-safe and blocks, so every terminal call runs on one
dedicated thread, in order; the agent's event loop only awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from tnm_desktop.agent.changes import modify_positions
from tnm_desktop.agent.events import AgentEvent, LogLine, TerminalSeen
from tnm_desktop.agent.stops import StopManager
from tnm_desktop.agent.sync import AccountSync
from tnm_desktop.agent.trading import TradeExecutor, magic_for
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, ClaimedJob, JobType
from tnm_desktop.domain.convert import to_json
from tnm_desktop.domain.trade import Close, ModifyInstruction
from tnm_desktop.ea.port import EaInput, EaToolchain, RunRequest, TestRequest
from tnm_desktop.errors import OperationalError, TnmError, UserError
from tnm_desktop.terminal.port import ConnectSettings, TerminalPort, Timeframe

T = TypeVar("T")
MAX_CANDLES = 5000
RISK_WATCH_EVERY = 10.0  # seconds between looks at the daily loss while no entry comes
log = logging.getLogger(__name__)


def _project_name(payload: dict[str, Any]) -> str:
    raw = str(payload.get("project") or payload.get("project_name") or "")
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
    return name or "TNM_EA_" + str(payload.get("version_id", "x")).replace("-", "")[:8]


class TerminalRunner:
    """Runs jobs for an agent.

    Args:
        data: The data port (to read EA sources and record intents).
        creds: The agent's credentials.
        terminal: The terminal adapter.
        toolchain: The EA toolchain (None: EA jobs are refused with a clear message).
        connect: How to log in to the terminal.
        emit: Agent events.
        stops: Options of the :class:`StopManager` (tests: how often it looks at prices).
        executor_options: Extra options for :class:`TradeExecutor` (tests: checkpoints, waits), and
            ``risk_every``: seconds between looks at the daily loss while no entry comes.
    """

    def __init__(self, data: AgentPort, creds: AgentCredentials, terminal: TerminalPort, *,
                 toolchain: EaToolchain | None = None, connect: ConnectSettings | None = None,
                 emit: Callable[[AgentEvent], None] = lambda _e: None, stops: dict[str, Any] | None = None,
                 **executor_options: Any) -> None:
        self.data = data
        self.creds = creds
        self.terminal = terminal
        self.toolchain = toolchain
        self._connect = connect
        self._emit = emit
        self._risk_every = float(executor_options.pop("risk_every", RISK_WATCH_EVERY))
        self._watcher: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt5")
        self.trades = TradeExecutor(data, creds, terminal, self.call, emit=emit, **executor_options)
        checkpoint = executor_options.get("checkpoint")
        self.stops = StopManager(data, creds, terminal, self.call, self.trades.contract,
                                 **({"checkpoint": checkpoint} if checkpoint else {}), **(stops or {}))
        self.syncer = AccountSync(data, creds, terminal, self.call, emit)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking terminal function on the terminal's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

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
        """Sync the account."""
        await self.syncer.sync(sync_type)

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
            change = ModifyInstruction.from_payload(payload)
            return await modify_positions(self.trades, claimed, change,
                                          magic_for(change.strategy_id) if change.strategy_id else None)
        if kind is JobType.CLOSE_POSITION:
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
            return {"sync_log_id": await self.syncer.sync("manual")}
        return await self._ea_job(kind, payload)

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

    async def _ea_job(self, kind: JobType, payload: dict[str, Any]) -> dict[str, Any]:
        toolchain = self.toolchain
        if toolchain is None:
            raise OperationalError("No EA toolchain is configured on this agent.", code="no_toolchain")
        project = _project_name(payload)
        inputs = tuple(EaInput(str(k), v) for k, v in dict(payload.get("inputs") or {}).items())
        if kind is JobType.COMPILE:
            version_id = payload.get("version_id")
            if not version_id:
                raise UserError("The compile job names no version.", code="invalid_payload")
            version = await self.data.get_ea_version(str(version_id))
            result = await asyncio.to_thread(toolchain.compile, project, version.source_code or "")
            return result.to_json()
        if kind is JobType.DEPLOY:
            return (await asyncio.to_thread(toolchain.deploy, project)).to_json()
        if kind is JobType.STOP:
            return (await asyncio.to_thread(toolchain.stop, project)).to_json()
        symbol = str(payload.get("symbol") or "EURUSD")
        timeframe = str(payload.get("timeframe") or "H1")
        if kind is JobType.RUN:
            request = RunRequest(project, symbol, timeframe, inputs)
            return (await asyncio.to_thread(toolchain.run, request)).to_json()
        if kind is JobType.TEST:
            today = datetime.now(UTC).date()
            test = TestRequest(project, symbol, timeframe,
                               date.fromisoformat(payload["date_from"]) if payload.get("date_from")
                               else today - timedelta(days=90),
                               date.fromisoformat(payload["date_to"]) if payload.get("date_to") else today,
                               float(payload.get("deposit", 10_000)), inputs)
            report = await asyncio.to_thread(toolchain.test, test)
            return to_json(asdict(report))  # type: ignore[no-any-return]
        raise UserError(f"This agent cannot run {kind.value} jobs.", code="unsupported_job")
