"""The simulator's engine: one lock around the state, the clock, faults, and saving changes.

Every call plays the market up to now first (stops, pending orders), then does its work. A
call that changed the books hands the state to ``on_change`` (the state file's writer) before
it returns, so what a caller was told has happened is on disk. Moving prices are not a change:
the feed is a function of time and is recomputed after a restart.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import faults, feed, triggers, views
from tnm_desktop.terminal.simulator.broker import Broker
from tnm_desktop.terminal.simulator.lookup import HistoryLookup
from tnm_desktop.terminal.simulator.model import DealRec, FaultRec, SimState
from tnm_desktop.terminal.simulator.requests import RequestError

Error = tuple[int, str]

NO_IPC: Error = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
IPC_TIMEOUT: Error = (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
IPC_RECEIVE: Error = (mt5.RES_E_INTERNAL_FAIL_RECEIVE, "IPC recv failed")
NOT_LOGGED_IN: Error = (mt5.RES_E_AUTH_FAILED, "Terminal: Authorization failed")
_SHIFTS_KEPT = 500  # manual price moves remembered per symbol (older bars keep the oldest kept level)


def wall_ms() -> int:
    """Return the wall clock in UTC milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Reply:
    """What a call returns, or the ``last_error`` it fails with (then ``value`` is ``None``)."""

    value: Any
    error: Error | None = None


class Engine:
    """The simulated terminal and trade server behind every API object and the control API.

    Args:
        state: The books to work on (the engine owns them from now on).
        on_change: Called with the state, under the lock, after each call that changed it.
        wall: The wall clock in UTC milliseconds (a manual clock ignores it).
    """

    def __init__(self, state: SimState, *, on_change: Callable[[SimState], None] | None = None,
                 wall: Callable[[], int] = wall_ms) -> None:
        self.state = state
        self.lookup = HistoryLookup()
        self._on_change = on_change
        self._wall = wall
        self._lock = threading.RLock()

    def wall_ms(self) -> int:
        """Return the wall clock the engine follows (UTC milliseconds)."""
        return self._wall()

    def now_ms(self) -> int:
        """Return the simulator's time in UTC milliseconds."""
        clock = self.state.clock
        return clock.manual_ms if clock.manual else self._wall() + clock.offset_ms

    def attach(self, login: int | None, server: str | None) -> Reply:
        """Connect a caller (``initialize``/``login``); the reply's value is the terminal generation."""
        with self._lock:
            terminal = self.state.terminal
            if not terminal.ipc_up:
                return Reply(None, (mt5.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed, terminal is not running"))
            account = self.state.account
            if login is not None and (login != account.login or server not in (None, account.server)):
                return Reply(None, NOT_LOGGED_IN)
            if login is not None and not terminal.logged_in:
                terminal.logged_in = True
                if self._on_change is not None:
                    self._on_change(self.state)
            return Reply(terminal.generation)

    def run(self, function: str, body: Callable[[Broker], Any], *, generation: int | None,
            symbol: str | None = None, mutates: bool = False, needs_login: bool = False) -> Reply:
        """Run one API call for a caller connected at terminal ``generation`` (``None``: not initialized)."""
        with self._lock:
            broker = Broker(self.state, self.now_ms())
            changed = triggers.advance(broker)
            try:
                terminal = self.state.terminal
                if generation is None or not terminal.ipc_up or generation != terminal.generation:
                    return Reply(None, NO_IPC)
                if function != "order_send" and (fault := faults.take(self.state, function, symbol)) is not None:
                    changed = True
                    if fault.kind == "disconnect":
                        self._drop()
                        return Reply(None, IPC_RECEIVE)
                    return Reply(None, IPC_TIMEOUT)
                if needs_login and not terminal.logged_in:
                    return Reply(None, NOT_LOGGED_IN)
                changed = changed or mutates
                return body(broker) if function == "order_send" else Reply(body(broker))
            except RequestError as refused:
                return Reply(None, (refused.code, refused.message))
            finally:
                if changed and self._on_change is not None:
                    self._on_change(self.state)

    def order_send(self, broker: Broker, request: mt5.TradeRequest) -> Reply:
        """Send a parsed request through the terminal's switches and any programmed fault."""
        terminal = self.state.terminal
        if not terminal.connected:
            return Reply(broker.result(mt5.TRADE_RETCODE_CONNECTION, request))
        if not terminal.trade_allowed:
            return Reply(broker.result(mt5.TRADE_RETCODE_CLIENT_DISABLES_AT, request))
        fault = faults.take(self.state, "order_send", request.symbol)
        if fault is None:
            return Reply(broker.execute(request))
        if fault.kind in faults.REFUSALS:
            retcode = fault.retcode or faults.REFUSALS[fault.kind]
            return Reply(broker.result(retcode, request, comment=fault.message))
        if fault.kind == "partial":
            if request.type_filling == mt5.ORDER_FILLING_FOK:
                return Reply(broker.result(mt5.TRADE_RETCODE_REJECT, request, comment="No liquidity for full volume"))
            return Reply(broker.execute(request, fill_volume=self._partial_volume(broker, request, fault)))
        if fault.kind in faults.UNCLEAR:
            if fault.filled:
                broker.execute(request)
            return Reply(broker.result(faults.UNCLEAR[fault.kind], request, comment=fault.message))
        if fault.kind == "lose_reply":
            broker.execute(request)
            return Reply(None, IPC_TIMEOUT)
        if fault.kind == "disconnect":
            if fault.filled:
                broker.execute(request)
            self._drop()
            return Reply(None, IPC_RECEIVE)
        return Reply(None, IPC_TIMEOUT)  # ipc_timeout: the request never reached the terminal

    @staticmethod
    def _partial_volume(broker: Broker, request: mt5.TradeRequest, fault: FaultRec) -> float:
        if fault.volume is not None:
            return fault.volume
        spec = broker.state.spec(request.symbol)
        if spec is None:
            return request.volume
        steps = int(request.volume / 2 / spec.volume_step + 1e-9)
        return round(max(steps * spec.volume_step, spec.volume_min), 8)

    def order_check(self, broker: Broker, request: mt5.TradeRequest) -> mt5.OrderCheckResult:
        """Check a request on a copy of the books: the retcode it would get (0 if it would pass)."""
        terminal = self.state.terminal
        retcode = (mt5.TRADE_RETCODE_CONNECTION if not terminal.connected
                   else mt5.TRADE_RETCODE_CLIENT_DISABLES_AT if not terminal.trade_allowed else 0)
        trial = Broker(copy.deepcopy(self.state), broker.now_ms)
        if not retcode:
            retcode = trial.execute(request).retcode
            if retcode in (mt5.TRADE_RETCODE_DONE, mt5.TRADE_RETCODE_PLACED):
                retcode = 0
        state = trial.state if not retcode else self.state
        after = Broker(state, broker.now_ms)
        account = views.account_record(after)
        return mt5.OrderCheckResult(retcode=retcode, balance=account.balance, equity=account.equity,
                                    profit=account.profit, margin=account.margin, margin_free=account.margin_free,
                                    margin_level=account.margin_level,
                                    comment="Done" if not retcode else mt5.RETCODE_COMMENTS.get(retcode, ""),
                                    request=request)

    def _drop(self) -> None:
        self.state.terminal.ipc_up = False
        self.state.terminal.generation += 1

    # -- control ---------------------------------------------------------------------------

    def control(self, action: Callable[[Broker], Any]) -> Any:
        """Run a control action under the lock, then replay the market at the (possibly new) moment, and save."""
        with self._lock:
            triggers.advance(Broker(self.state, self.now_ms()))
            try:
                result = action(Broker(self.state, self.now_ms()))
                broker = Broker(self.state, self.now_ms())
                triggers.advance(broker)
                return result
            finally:
                if self._on_change is not None:
                    self._on_change(self.state)

    def peek(self, look: Callable[[Broker], Any]) -> Any:
        """Read the books now, under the lock, without changing or saving anything."""
        with self._lock:
            return look(Broker(self.state, self.now_ms()))

    def inject(self, fault: FaultRec) -> None:
        """Queue a fault (see :mod:`faults`)."""
        faults.check(fault)
        self.control(lambda _b: self.state.faults.append(fault))

    def set_price(self, broker: Broker, symbol: str, bid: float) -> float:
        """Move ``symbol``'s bid to ``bid`` now; the feed wanders on from there (or stays, if held). Return it."""
        if self._held(symbol, broker.now_ms):
            return self.hold_price(broker, symbol, bid)
        spec = broker.spec(symbol)
        now = broker.now_ms
        raw = float(feed.raw_bids(spec, self.state.seed, [now])[0])
        shifts = [s for s in self.state.shifts.get(symbol, []) if s[0] < now]
        shifts.append((now, round(bid - raw, 10)))
        self.state.shifts[symbol] = shifts[-_SHIFTS_KEPT:]
        self.state.last_scan_ms = min(self.state.last_scan_ms, now - 1)  # replay this tick at the new price
        return broker.quote(symbol)[0]

    def _held(self, symbol: str, now: int) -> bool:
        holds = [h for h in self.state.holds.get(symbol, []) if h[0] <= now]
        return bool(holds) and holds[-1][1] is not None

    def hold_price(self, broker: Broker, symbol: str, bid: float) -> float:
        """Hold ``symbol``'s bid at exactly ``bid`` from now until the next hold or :meth:`release_price`."""
        spec = broker.spec(symbol)
        if not bid > 0:
            raise ValueError("a price must be more than 0")
        now = broker.now_ms
        holds = [h for h in self.state.holds.get(symbol, []) if h[0] < now]
        holds.append((now, round(bid, spec.digits)))
        self.state.holds[symbol] = holds[-_SHIFTS_KEPT:]
        self.state.last_scan_ms = min(self.state.last_scan_ms, now - 1)  # replay this tick at the new price
        return broker.quote(symbol)[0]

    def release_price(self, broker: Broker, symbol: str) -> float:
        """Let a held price wander again, from where it was held (no jump)."""
        now = broker.now_ms
        if not self._held(symbol, now):
            return broker.quote(symbol)[0]
        bid = broker.quote(symbol)[0]
        holds = [h for h in self.state.holds.get(symbol, []) if h[0] < now]
        holds.append((now, None))
        self.state.holds[symbol] = holds[-_SHIFTS_KEPT:]
        return self.set_price(broker, symbol, bid)

    def deposit(self, broker: Broker, amount: float, comment: str) -> None:
        """Add a balance operation (negative: a withdrawal)."""
        self.state.balance = round(self.state.balance + amount, 2)
        self.state.deals.append(DealRec(
            ticket=self.state.take_deal_ticket(), order=0, time_msc=broker.now_ms, type=mt5.DEAL_TYPE_BALANCE,
            entry=mt5.DEAL_ENTRY_IN, magic=0, position_id=0, volume=0.0, price=0.0, profit=amount, symbol="",
            comment=comment, reason=mt5.DEAL_REASON_CLIENT))
