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

Before an entry is sent, the risk limits are checked against the terminal's figures
(:mod:`tnm_desktop.agent.risk`), and the strategy's opposite-signal setting decides what a
signal does to the strategy's positions on the other side of the symbol: close them only (the
default), close them and then open, or leave them and open (hedge). An alert that names its own
reversal (``closelongsell`` and friends, ``close_first``) closes that side and then opens, whatever
the setting. Pending orders are entries too: the same limits hold before one is placed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tnm_desktop.agent import entries
from tnm_desktop.agent.changes import cancel_orders
from tnm_desktop.agent.closing import TerminalWork, WarmRead, contract_of, not_executed, result_from_outcome
from tnm_desktop.agent.events import AgentEvent
from tnm_desktop.agent.risk import AccountNow, RiskGate
from tnm_desktop.agent.sizing import Contract, Sized, size_by_risk, size_fixed, stop_distance
from tnm_desktop.agent.stop_levels import place_stops
from tnm_desktop.agent.tokens import DEFAULT_MAGIC, TOKEN_PREFIX, magic_for, rule_token, token_for
from tnm_desktop.domain import ClaimedJob
from tnm_desktop.domain.risk import RiskState
from tnm_desktop.domain.trade import Close, Level, Opposite, TradeInstruction, stale_reason
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.terminal.port import (
    FillStatus,
    MarketOrder,
    OrderOutcome,
    PendingOrder,
    Quote,
    Side,
    SymbolSpec,
    TokenMatches,
)

__all__ = ["DEFAULT_MAGIC", "TOKEN_PREFIX", "TradeExecutor", "contract_of", "magic_for", "rule_token", "token_for"]

# How long a symbol's contract data (digits, point, tick size, volume limits) is taken as known:
# brokers change them rarely, and the order itself always goes out on freshly read data.
CONTRACT_TTL = 600.0
T = TypeVar("T")


_OTHER_SIDE = {"buy": "short", "sell": "long"}


async def _ready(value: T) -> T:
    return value


def _closed_side(instruction: TradeInstruction) -> str:
    # The side an entry closes first: the one its alert named (a reversal command), else the other side.
    return instruction.close_first or _OTHER_SIDE[instruction.action]


@dataclass(frozen=True, slots=True)
class _Market:
    """What an entry read before deciding: the limits now, the symbol, its quote, the account."""

    state: RiskState
    spec: SymbolSpec
    quote: Quote
    now: AccountNow


@dataclass
class TradeExecutor(TerminalWork):
    """Executes ``trade`` and ``close_position`` jobs on one terminal.

    Args (besides :class:`~tnm_desktop.agent.closing.TerminalWork`'s):
        max_age: A job older than this that was never sent is refused: a late order trades at a
            price the trader did not see.
        emit: Agent events (a limit reached).
    """

    max_age: timedelta = timedelta(minutes=2)
    emit: Any = field(default=lambda _event: None)
    # Contract data of the symbols traded lately: (spec, monotonic time it was read).
    _contracts: dict[str, tuple[SymbolSpec, float]] = field(default_factory=dict, init=False, repr=False)
    risk: RiskGate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.risk = RiskGate(self.data, self.creds, self.terminal, self.call, self._emit)

    def _emit(self, event: AgentEvent) -> None:
        self.emit(event)

    @staticmethod
    def contract(spec: SymbolSpec) -> Contract:
        """What sizing (and every pips figure) needs of a symbol."""
        return contract_of(spec)

    def forget_contracts(self) -> None:
        """Read every symbol's contract data afresh (after reconnecting to the terminal)."""
        self._contracts.clear()
        self._quote_hint = None

    # Opening trades ----------------------------------------------------------------------------

    async def trade(self, claimed: ClaimedJob) -> dict[str, Any]:
        """Execute a ``trade`` job; return the job result."""
        job = claimed.job
        instruction = TradeInstruction.from_payload(job.payload)
        magic = magic_for(instruction.strategy_id)
        if instruction.action == "close":
            close = instruction.close or Close()
            if close.scope == "account":
                return await self.close_account(claimed)
            return await self.close(claimed, instruction.broker_symbol, close, magic)
        if instruction.action == "cancel":
            return await cancel_orders(self, claimed, instruction, magic)
        token = token_for(job.id)
        closing_first = job.intent is not None and "close" in job.intent
        if job.intent is not None and not closing_first:
            matches = await self._t(self.terminal.find_by_token, token)
            if not not_executed(matches):
                return self._result_from_matches(matches, reconciled=True)
        other = _OTHER_SIDE[instruction.action]
        if instruction.close_first is not None:
            # closelongsell and friends: the close always happens; the entry only inside the window.
            closed = await self.close(claimed, instruction.broker_symbol, Close(side=instruction.close_first), magic)
            try:
                entries.check_window(instruction.window)
            except UserError as outside:
                return closed | {"note": " ".join(x for x in (closed.get("note"), outside.message) if x)}
            return await self._entry(claimed, instruction, token, closed, None)
        market = None if closing_first else await self._market(claimed, instruction)
        # A pending order waits at its own price: what it meets when it triggers is the broker's
        # business, so only a market entry acts on the strategy's opposite positions.
        opposes = instruction.order is None and instruction.opposite is not Opposite.HEDGE
        if opposes and (closing_first or self._holds(instruction, magic, market)):
            closed = await self.close(claimed, instruction.broker_symbol, Close(side=other), magic)
            if instruction.opposite is Opposite.CLOSE:
                count = len(closed.get("closed") or [])
                return closed | {"note": f"Closed the strategy's {other} {instruction.broker_symbol} position"
                                         f"{'s' if count > 1 else ''} instead of opening a {instruction.action}: "
                                         "this strategy's opposite signals close only (Strategies page)."}
            return await self._entry(claimed, instruction, token, closed, None)  # the positions changed: read again
        return await self._entry(claimed, instruction, token, None, market)

    @staticmethod
    def _holds(instruction: TradeInstruction, magic: int, market: _Market | None) -> bool:
        # Whether the strategy holds the other side of the symbol (from the entry's own read).
        if market is None:
            return False
        wanted = Side.SELL if instruction.action == "buy" else Side.BUY
        return any(p.symbol == market.spec.name and p.side is wanted and p.magic == magic
                   for p in market.now.positions)

    async def _entry(self, claimed: ClaimedJob, instruction: TradeInstruction, token: str,
                     closed: dict[str, Any] | None, market: _Market | None) -> dict[str, Any]:
        job = claimed.job
        age = datetime.now(UTC) - job.created_at
        try:
            if (job.intent is None or "close" in job.intent) and age > self.max_age:
                raise UserError(stale_reason(int(age.total_seconds()), int(self.max_age.total_seconds())),
                                code="expired")
            if not instruction.pair_allowed():
                raise UserError(f"{instruction.symbol} is not among this strategy's allowed pairs.",
                                code="pair_not_allowed")
            entries.check_window(instruction.window)
            result = await self._open(claimed, instruction, token, market or await self._market(claimed, instruction))
        except UserError as exc:
            if closed and closed.get("closed"):
                raise UserError(f"The {_closed_side(instruction)} position was closed; the new "
                                f"{instruction.action} was not opened. {exc.message}", code=exc.code) from exc
            raise
        if closed and closed.get("closed"):
            result["closed"] = closed["closed"]
            result["note"] = " ".join(n for n in (f"Closed the {_closed_side(instruction)} position first.",
                                                  result.get("note") or "") if n)
        return result

    async def _open(self, claimed: ClaimedJob, instruction: TradeInstruction, token: str,
                    market: _Market) -> dict[str, Any]:
        try:
            await self.risk.check(market.state, market.now, market.spec.name)
            order, sized = self._prepare(instruction, magic_for(instruction.strategy_id), token, market)
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
            if outcome.status is FillStatus.PLACED and isinstance(order, PendingOrder):
                assert instruction.order is not None
                note = entries.describe_pending(order.side, instruction.order, order.price, order.stoplimit,
                                                order.expires_at)
                return {"order": outcome.order, "pending": True, "volume": order.volume, "entry": order.price,
                        "stoplimit": order.stoplimit, "sl": order.sl, "tp": order.tp, "token": token,
                        "reconciled": False, "sent_at": sent_at.isoformat(),
                        "note": " ".join(x for x in (note, sized.note) if x)}
            result = await self._settle(outcome, token, sized.note)
        except BaseException:
            # A refusal (volume, stops) may come from contract data the broker has changed.
            self._contracts.pop(instruction.broker_symbol, None)
            raise
        result["sent_at"] = sent_at.isoformat()
        pip = contract_of(market.spec, instruction.pip_size).pip  # the pip sizing used: the symbol's own
        return result | fill_report(order, instruction.alert_price, result.get("price"), pip)

    def _prepare(self, instruction: TradeInstruction, magic: int, token: str,
                 market: _Market) -> tuple[MarketOrder | PendingOrder, Sized]:
        defaults = instruction.limits
        limits = market.state.limits
        sizing = instruction.sizing
        assert sizing is not None
        fixed = sizing.mode == "lots" and sizing.lots is not None
        # The trader's default stop, for the kind of order it was set for.
        default_sl = defaults.default_sl_pips_lots if fixed else defaults.default_sl_pips
        sl_level = instruction.sl or (Level(pips=default_sl) if default_sl else None)
        spec, quote = market.spec, market.quote
        side = Side.BUY if instruction.action == "buy" else Side.SELL
        contract = contract_of(spec, instruction.pip_size)
        entries.check_filters(instruction.filters, contract, quote, market.now.account)
        pending = instruction.order
        price = stoplimit = None
        if pending is not None:
            price, stoplimit = entries.pending_prices(contract, side, pending, quote)
            entry = stoplimit if stoplimit is not None else price  # where the position will open
        else:
            entry = quote.ask if side is Side.BUY else quote.bid
        stops = place_stops(contract, side, quote, sl_level, instruction.tp, entry=entry if pending else None)
        sl = stops.sl
        if fixed:
            sized = size_fixed(contract, sizing.lots or 0, max_lot_size=limits.max_lot_size)
        elif sl is None:
            sized = size_fixed(contract, defaults.default_lot_size, max_lot_size=limits.max_lot_size)
            sized = Sized(sized.volume, None, None, f"No stop loss to size the risk from: sent the default "
                                                    f"{sized.volume:g} lots.")
        else:
            distance = stop_distance(contract, entry, pips=None, price=sl)
            sized = size_by_risk(contract, balance=market.now.account.balance, risk_pct=sizing.risk_pct or 0,
                                 distance=distance, max_lot_size=limits.max_lot_size)
        if stops.notes:
            sized = Sized(sized.volume, sized.risk_money, sized.loss_per_lot,
                          " ".join(n for n in (*stops.notes, sized.note) if n))
        if pending is not None and price is not None:
            return PendingOrder(spec.name, side, entries.pending_kind(pending), sized.volume, price,
                                stoplimit=stoplimit, sl=sl, tp=stops.tp, expires_at=entries.expiry(pending),
                                magic=magic, comment=token), sized
        order = MarketOrder(spec.name, side, sized.volume, sl=sl, tp=stops.tp, deviation=defaults.max_slippage_points,
                            magic=magic, comment=token)
        return order, sized

    async def _market(self, claimed: ClaimedJob, instruction: TradeInstruction) -> _Market:
        # The account, positions and symbol (terminal) are read once per entry, right before it
        # (the account and positions while the job was being claimed, when nothing was sent to the
        # terminal since): the opposite-signal decision and the risk check use this read. The
        # limits came with the claim (no database call of their own); a job taken back at start-up
        # reads them here, at the same time as the terminal.
        sizing = instruction.sizing
        by_risk = sizing is not None and sizing.mode == "risk"
        try:
            warm = await self._take_warm_read()
            known = self._warm_market(instruction.broker_symbol, by_risk, warm)
            reading = (_ready(known) if known is not None else
                       self._t(self._read_market, instruction.broker_symbol, by_risk, warm.now if warm else None))
            if claimed.risk is not None:
                state, (spec, quote, now) = claimed.risk, await reading
            else:
                state, (spec, quote, now) = await asyncio.gather(self.data.risk_state(self.creds), reading)
        except BaseException:
            self._contracts.pop(instruction.broker_symbol, None)
            raise
        return _Market(state, spec, quote, now)

    def _warm_market(self, name: str, by_risk: bool,
                     warm: WarmRead | None) -> tuple[SymbolSpec, Quote, AccountNow] | None:
        # Everything an entry reads, from what was read while its job was claimed, when that holds
        # its symbol's prices and the symbol's contract data is known and still good: the entry
        # then needs no trip to the terminal's thread before its intent.
        if warm is None or warm.quote is None:
            return None
        spec = self._known_contract(name)
        if spec is None or spec.name != warm.quote.symbol:
            return None
        if by_risk and spec.currency_profit != warm.now.account.currency:
            return None  # its tick value moves with the exchange rate: read afresh (below)
        return spec, warm.quote, warm.now

    def _known_contract(self, name: str) -> SymbolSpec | None:
        # The symbol's contract data when read within CONTRACT_TTL, else None.
        known = self._contracts.get(name)
        return known[0] if known is not None and time.monotonic() - known[1] <= CONTRACT_TTL else None

    def _read_market(self, name: str, by_risk: bool, warm: AccountNow | None) -> tuple[SymbolSpec, Quote, AccountNow]:
        # Everything an entry reads of the terminal, in one trip to its thread (blocking; runs
        # there). The contract data of a symbol traded lately is reused for a while; the quote and
        # the account never are (``warm``: the account as read while the job was being claimed,
        # with nothing sent since). A tick value moves with the exchange rate when the symbol's
        # profit currency is not the account's, so risk sizing reads such a symbol afresh every time.
        known = self._known_contract(name)
        fresh = known is None
        if warm is None:
            self.terminal.read_ahead(known.name if known is not None else None)
        now = warm or self.read_account()
        spec = known if known is not None else self.terminal.symbol(name)
        if not fresh and by_risk and spec.currency_profit != now.account.currency:
            spec, fresh = self.terminal.symbol(name), True
        quote = self.terminal.quote(spec.name)
        if fresh:
            self._contracts[name] = (spec, time.monotonic())
        self._quote_hint = spec.name
        return spec, quote, now

    async def _settle(self, outcome: OrderOutcome, token: str, note: str) -> dict[str, Any]:
        if outcome.executed:
            result = result_from_outcome(outcome, token)
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
