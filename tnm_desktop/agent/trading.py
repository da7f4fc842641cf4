"""Trades exactly once: intent first, a token in the order, reconciliation on any doubt.

The procedure (``NOTES_MT5.md``):

1. Record the intent (symbol, side, volume, stops, token) in the job before sending.
2. Send with the strategy's magic number and a comment token derived from the job id.
3. After any unclear result — no answer, a timeout, a lost connection — and whenever a job
   arrives that already has an intent (a retry, or a job recovered after a crash), look the
   token up in the terminal's orders, positions and history before anything is sent again.
4. Only then complete the job with the tickets, or send.

A job with no recorded intent has certainly never been sent: the intent is stored before the
order leaves. Closes follow the same rules, one token for every closing deal of the job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tnm_desktop.agent import entries
from tnm_desktop.agent.changes import cancel_orders
from tnm_desktop.agent.sizing import Contract, Sized, size_by_risk, size_fixed, stop_distance
from tnm_desktop.agent.tokens import DEFAULT_MAGIC, TOKEN_PREFIX, magic_for, rule_token, token_for
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, ClaimedJob
from tnm_desktop.domain.trade import Close, Level, TradeInstruction, stale_reason
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.terminal.port import (
    AccountSnapshot,
    DealEntry,
    FillStatus,
    MarketOrder,
    OrderOutcome,
    PendingOrder,
    Position,
    Quote,
    Side,
    SymbolSpec,
    TerminalPort,
    TokenMatches,
)

T = TypeVar("T")
__all__ = ["DEFAULT_MAGIC", "TOKEN_PREFIX", "TradeExecutor", "contract_of", "magic_for", "rule_token", "token_for"]
# How long a symbol's contract data (digits, point, tick size, volume limits) is taken as known:
# brokers change them rarely, and the order itself always goes out on freshly read data.
CONTRACT_TTL = 600.0


def contract_of(spec: SymbolSpec) -> Contract:
    """What sizing needs of a symbol."""
    return Contract(spec.name, spec.digits, spec.point, spec.tick_size, spec.tick_value, spec.volume_min,
                    spec.volume_step, spec.volume_max)


def _not_executed(matches: TokenMatches) -> bool:
    # Found only as a rejected/cancelled order: nothing was filled and nothing waits.
    return matches.filled_volume == 0 and not matches.pending_orders and not matches.positions


@dataclass
class TradeExecutor:
    """Executes ``trade`` and ``close_position`` jobs on one terminal.

    Args:
        data: Where intents are recorded.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread and awaits it.
        max_age: A job older than this that was never sent is refused: a late order trades at a
            price the trader did not see.
        reconcile_wait: How long to keep looking for an order after an unclear result.
        checkpoint: Called at each step (crash-injection tests stop the agent there).
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Any]
    max_age: timedelta = timedelta(minutes=2)
    reconcile_wait: float = 3.0
    checkpoint: Callable[[str], None] = lambda _step: None
    # Contract data of the symbols traded lately: (spec, monotonic time it was read).
    _contracts: dict[str, tuple[SymbolSpec, float]] = field(default_factory=dict, init=False, repr=False)

    @staticmethod
    def contract(spec: SymbolSpec) -> Contract:
        """What sizing (and every pips figure) needs of a symbol."""
        return contract_of(spec)

    def forget_contracts(self) -> None:
        """Read every symbol's contract data afresh (after reconnecting to the terminal)."""
        self._contracts.clear()

    async def _t(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(fn, *args, **kwargs)
        return result

    # Opening trades ----------------------------------------------------------------------------

    async def trade(self, claimed: ClaimedJob) -> dict[str, Any]:
        """Execute a ``trade`` job; return the job result."""
        job = claimed.job
        instruction = TradeInstruction.from_payload(job.payload)
        magic = magic_for(instruction.strategy_id)
        if instruction.action == "close":
            return await self.close(claimed, instruction.broker_symbol, instruction.close or Close(), magic)
        if instruction.action == "cancel":
            return await cancel_orders(self, claimed, instruction, magic)
        token = token_for(job.id)
        if job.intent is not None:
            matches = await self._t(self.terminal.find_by_token, token)
            if not _not_executed(matches):
                return self._result_from_matches(matches, reconciled=True)
        elif datetime.now(UTC) - job.created_at > self.max_age:
            age = int((datetime.now(UTC) - job.created_at).total_seconds())
            raise UserError(stale_reason(age, int(self.max_age.total_seconds())), code="expired")
        if not instruction.limits.trading_enabled:
            raise UserError("Trading is switched off in your settings.", code="trading_disabled")
        if not instruction.pair_allowed():
            raise UserError(f"{instruction.symbol} is not among this strategy's allowed pairs.",
                            code="pair_not_allowed")
        closed: dict[str, Any] | None = None
        if instruction.close_first is not None:
            # closelongsell and friends: the close always happens; the entry only inside the window.
            closed = await self.close(claimed, instruction.broker_symbol, Close(side=instruction.close_first), magic)
            try:
                entries.check_window(instruction.window)
            except UserError as outside:
                return closed | {"note": " ".join(x for x in (closed.get("note"), outside.message) if x)}
        else:
            entries.check_window(instruction.window)
        try:
            result = await self._open(claimed, instruction, token)
        except BaseException:
            # A refusal (volume, stops) may come from contract data the broker has changed.
            self._contracts.pop(instruction.broker_symbol, None)
            raise
        if closed is not None:
            result["closed"] = closed.get("closed", [])
        return result

    async def _open(self, claimed: ClaimedJob, instruction: TradeInstruction, token: str) -> dict[str, Any]:
        order, sized = await self._prepare(instruction, magic_for(instruction.strategy_id), token)
        self.checkpoint("before_intent")
        await self.data.record_intent(self.creds, claimed, {
            "symbol": order.symbol, "side": order.side.value, "volume": order.volume, "sl": order.sl,
            "tp": order.tp, "magic": order.magic, "token": token,
            **({"pending": order.kind.value, "price": order.price} if isinstance(order, PendingOrder) else {})})
        self.checkpoint("before_send")
        sent_at = datetime.now(UTC)
        if isinstance(order, PendingOrder):
            outcome = await self._t(self.terminal.send_pending_order, order)
        else:
            outcome = await self._t(self.terminal.send_market_order, order)
        self.checkpoint("after_send")
        if outcome.status is FillStatus.PLACED:
            assert isinstance(order, PendingOrder)
            assert instruction.order is not None
            note = entries.describe_pending(order.side, instruction.order, order.price, order.stoplimit,
                                            order.expires_at)
            return {"order": outcome.order, "pending": True, "volume": order.volume, "entry": order.price,
                    "stoplimit": order.stoplimit, "sl": order.sl, "tp": order.tp, "token": token,
                    "reconciled": False, "sent_at": sent_at.isoformat(),
                    "note": " ".join(x for x in (note, sized.note) if x)}
        result = await self._settle(outcome, token, sized.note)
        result["sent_at"] = sent_at.isoformat()
        known = self._contracts.get(order.symbol)
        if known is not None:
            result |= fill_report(order, instruction.alert_price, result.get("price"), contract_of(known[0]).pip)
        return result

    async def _prepare(self, instruction: TradeInstruction, magic: int,
                       token: str) -> tuple[MarketOrder | PendingOrder, Sized]:
        limits = instruction.limits
        sizing = instruction.sizing
        assert sizing is not None
        sl_level = instruction.sl or (Level(pips=limits.default_sl_pips) if limits.default_sl_pips else None)
        by_risk = not (sizing.mode == "lots" and sizing.lots is not None) and sl_level is not None
        filters = instruction.filters
        spec, open_now, quote, account = await self._t(
            self._read_market, instruction.broker_symbol, limits.max_open_positions is not None,
            by_risk or (filters is not None and filters.account_above is not None))
        if limits.max_open_positions is not None and len(open_now) >= limits.max_open_positions:
            raise UserError(f"{len(open_now)} positions are open; your limit is {limits.max_open_positions}.",
                            code="max_positions")
        side = Side.BUY if instruction.action == "buy" else Side.SELL
        contract = contract_of(spec)
        entries.check_filters(filters, contract, quote, account)
        pending = instruction.order
        price = stoplimit = None
        if pending is not None:
            price, stoplimit = entries.pending_prices(contract, side, pending, quote)
            entry = stoplimit if stoplimit is not None else price  # where the position will open
        else:
            entry = quote.ask if side is Side.BUY else quote.bid
        sl = entries.stop_price(contract, side, entry, sl_level, loss=True)
        tp = entries.stop_price(contract, side, entry, instruction.tp, loss=False)
        if sizing.mode == "lots" and sizing.lots is not None:
            sized = size_fixed(contract, sizing.lots, max_lot_size=limits.max_lot_size)
        elif sl is None:
            sized = size_fixed(contract, limits.default_lot_size, max_lot_size=limits.max_lot_size)
            sized = Sized(sized.volume, None, None, f"No stop loss to size the risk from: sent the default "
                                                    f"{sized.volume:g} lots.")
        else:
            assert account is not None
            distance = stop_distance(contract, entry, pips=None, price=sl)
            sized = size_by_risk(contract, balance=account.balance, risk_pct=sizing.risk_pct or 0,
                                 distance=distance, max_lot_size=limits.max_lot_size)
        if pending is not None and price is not None:
            return PendingOrder(spec.name, side, entries.pending_kind(pending), sized.volume, price,
                                stoplimit=stoplimit, sl=sl, tp=tp, expires_at=entries.expiry(pending), magic=magic,
                                comment=token), sized
        order = MarketOrder(spec.name, side, sized.volume, sl=sl, tp=tp, deviation=limits.max_slippage_points,
                            magic=magic, comment=token)
        return order, sized

    def _read_market(self, name: str, count_positions: bool, with_account: bool,
                     ) -> tuple[SymbolSpec, tuple[Position, ...], Quote, AccountSnapshot | None]:
        # Everything sizing reads, in one trip to the terminal's thread (blocking; runs there).
        # The contract data of a symbol traded lately is reused; the quote, the positions and the
        # balance never are. A tick value is fixed only when the symbol's profit currency is the
        # account's: otherwise it moves with the exchange rate, and risk sizing reads it afresh.
        known = self._contracts.get(name)
        fresh = known is None or time.monotonic() - known[1] > CONTRACT_TTL
        spec = self.terminal.symbol(name) if fresh or known is None else known[0]
        open_now = self.terminal.positions() if count_positions else ()
        quote = self.terminal.quote(spec.name)
        account = self.terminal.account() if with_account else None
        if not fresh and account is not None and spec.currency_profit != account.currency:
            spec, fresh = self.terminal.symbol(name), True
        if fresh:
            self._contracts[name] = (spec, time.monotonic())
        return spec, open_now, quote, account

    async def _settle(self, outcome: OrderOutcome, token: str, note: str) -> dict[str, Any]:
        if outcome.executed:
            result = _result_from_outcome(outcome, token)
            if outcome.filled_volume + 1e-9 < outcome.requested_volume:
                note = (note + " " if note else "") + (
                    f"Partially filled: {outcome.filled_volume:g} of {outcome.requested_volume:g} lots.")
            result["note"] = note
            return result
        if outcome.retcode is not None and outcome.status.value == "rejected":
            raise UserError(f"{outcome.message} (retcode {outcome.retcode})", code=str(outcome.retcode))
        matches = await self._look_again(token)
        if matches is not None:
            return self._result_from_matches(matches, reconciled=True)
        raise TransientError(f"The terminal did not confirm the order ({outcome.message}). It will be looked up "
                             "again before anything is re-sent.", code="unconfirmed")

    async def _look_again(self, token: str) -> TokenMatches | None:
        deadline = asyncio.get_running_loop().time() + self.reconcile_wait
        while True:
            try:
                matches = await self._t(self.terminal.find_by_token, token)
            except TransientError:
                matches = None
            if matches is not None and not _not_executed(matches):
                return matches
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.25)

    def _result_from_matches(self, matches: TokenMatches, *, reconciled: bool) -> dict[str, Any]:
        deals = matches.opening_deals
        volume = matches.filled_volume
        if deals:
            price = sum(d.price * d.volume for d in deals) / volume
            order, deal, position = deals[0].order, deals[0].ticket, deals[0].position_id
        elif matches.positions:
            first = matches.positions[0]
            price, order, deal, position, volume = first.price_open, first.ticket, 0, first.ticket, first.volume
        else:
            pending = matches.pending_orders[0]
            return {"order": pending.ticket, "volume": pending.volume_current, "pending": True, "token": matches.token,
                    "reconciled": reconciled, "note": "Found as a pending order in the terminal."}
        return {"price": round(price, 8), "order": order, "deal": deal, "position": position, "volume": volume,
                "token": matches.token, "reconciled": reconciled,
                "filled_at": datetime.now(UTC).isoformat(),
                "note": "Found in the terminal after an unclear result: not sent again." if reconciled else ""}

    # Closing -----------------------------------------------------------------------------------

    async def close(self, claimed: ClaimedJob, symbol: str | None, close: Close, magic: int | None,
                    ticket: int | None = None) -> dict[str, Any]:
        """Close positions (by ticket, or by symbol and side, fully or partly); exactly once."""
        token = token_for(claimed.job.id)
        done: set[int] = set()
        if claimed.job.intent is not None:
            matches = await self._t(self.terminal.find_by_token, token)
            done = {d.position_id for d in matches.deals if d.entry in (DealEntry.OUT, DealEntry.OUT_BY)}
        targets = await self._targets(symbol, close, magic, ticket)
        plan: list[tuple[Position, float | None]] = []
        for position in targets:
            if position.ticket in done:
                continue
            volume = await self._close_volume(position, close)
            if volume != 0:
                plan.append((position, volume))
        if not plan:
            what = f"#{ticket}" if ticket else f"{close.side if close.side != 'all' else ''} {symbol}".strip()
            note = "Already closed before a restart." if done else f"Nothing to close: no open {what} position."
            return {"closed": [], "note": note, "token": token}
        self.checkpoint("before_intent")
        await self.data.record_intent(self.creds, claimed, {
            "close": [{"ticket": p.ticket, "volume": v} for p, v in plan], "token": token})
        self.checkpoint("before_send")
        sent_at = datetime.now(UTC)
        closed = []
        for position, volume in plan:
            outcome = await self._t(self.terminal.close_position, position.ticket, volume, magic=magic or 0,
                                    comment=token, seen=position)
            self.checkpoint("after_send")
            if outcome.executed:
                closed.append(_result_from_outcome(outcome, token) | {"position": position.ticket})
            elif outcome.status.value == "rejected":
                raise UserError(f"Closing #{position.ticket}: {outcome.message} (retcode {outcome.retcode})",
                                code=str(outcome.retcode))
            elif await self._look_again(token) is None:
                raise TransientError(f"The terminal did not confirm closing #{position.ticket}. It will be looked "
                                     "up again before anything is re-sent.", code="unconfirmed")
        first = closed[0] if closed else {}
        # Like an opening trade's result: when the first closing order left and when the last filled.
        return {"closed": closed, "price": first.get("price"), "order": first.get("order"),
                "volume": round(sum(c["volume"] for c in closed), 8), "token": token, "note": "",
                "sent_at": sent_at.isoformat(), "filled_at": closed[-1]["filled_at"] if closed else None}

    async def _targets(self, symbol: str | None, close: Close, magic: int | None,
                       ticket: int | None) -> list[Position]:
        if ticket is not None:
            position = await self._t(self.terminal.position, ticket)
            return [position] if position is not None else []
        positions = await self._t(self.terminal.positions, symbol)
        wanted = {"long": {Side.BUY}, "short": {Side.SELL}, "all": {Side.BUY, Side.SELL}}[close.side]
        return [p for p in positions if p.side in wanted and (magic is None or p.magic == magic)]

    async def _close_volume(self, position: Position, close: Close) -> float | None:
        if close.fraction is None and close.volume is None:
            return None  # the whole position
        spec = await self._t(self.terminal.symbol, position.symbol)
        if close.fraction is not None:
            raw = position.volume * close.fraction
        else:
            raw = min(close.volume or 0, position.volume)
        volume = size_fixed(contract_of(spec), raw).volume if raw >= spec.volume_min else 0
        return None if volume >= position.volume else volume


def fill_report(order: MarketOrder | PendingOrder, alert_price: float | None, fill: float | None,
                pip: float) -> dict[str, Any]:
    """What was sent and how the fill compares with the alert's price, for the signal's detail.

    ``slippage_pips`` is positive when the fill was worse for the trader than the alert's price
    (a buy filled higher, a sell lower), negative when it was better.
    """
    report: dict[str, Any] = {"broker_symbol": order.symbol, "side": order.side.value, "sent_volume": order.volume,
                              "sent_sl": order.sl, "sent_tp": order.tp, "pip": pip}
    if alert_price and fill and pip > 0:
        worse = fill - alert_price if order.side is Side.BUY else alert_price - fill
        report |= {"alert_price": alert_price, "slippage_pips": round(worse / pip, 2)}
    return report


def _result_from_outcome(outcome: OrderOutcome, token: str) -> dict[str, Any]:
    return {"price": outcome.price, "order": outcome.order, "deal": outcome.deal, "position": outcome.position,
            "volume": outcome.filled_volume, "requested_volume": outcome.requested_volume,
            "retcode": outcome.retcode, "attempts": outcome.attempts, "token": token,
            "filled_at": datetime.now(UTC).isoformat(), "reconciled": False}
