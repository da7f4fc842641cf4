"""Closing positions and deleting pending orders, exactly once, with the job's token.

Closes are never refused by a risk limit: they only ever take risk off. One token marks every
closing deal of a job, so after a crash or an unclear answer the positions already closed are
found in the terminal's history and not closed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from tnm_desktop.agent.risk import AccountNow
from tnm_desktop.agent.sizing import Contract, size_fixed
from tnm_desktop.agent.tokens import token_for
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, ClaimedJob
from tnm_desktop.domain.pips import instrument_kind
from tnm_desktop.domain.trade import Close
from tnm_desktop.errors import TnmError, TransientError, UserError
from tnm_desktop.terminal.port import (
    DealEntry,
    OrderOutcome,
    Position,
    Quote,
    Side,
    SymbolSpec,
    TerminalPort,
    TokenMatches,
)

T = TypeVar("T")

# How old a read of the account taken while a job was being claimed may be when the job uses it.
WARM_TTL = 0.1


@dataclass(frozen=True, slots=True)
class WarmRead:
    """What was read of the terminal while a job was being claimed.

    Attributes:
        began: Monotonic time the read began.
        now: The account and its positions.
        quote: The prices of the symbol entered last (None: no entry yet, or they could not be read).
    """

    began: float
    now: AccountNow
    quote: Quote | None


def contract_of(spec: SymbolSpec, pip_override: float | None = None) -> Contract:
    """What sizing and stops need of a symbol (``pip_override``: the connection's pip size for it)."""
    kind = instrument_kind(path=spec.path, calc_mode=spec.calc_mode, currency_base=spec.currency_base,
                           currency_profit=spec.currency_profit)
    return Contract(spec.name, spec.digits, spec.point, spec.tick_size, spec.tick_value, spec.volume_min,
                    spec.volume_step, spec.volume_max, kind=kind, pip_override=pip_override,
                    stops_level=spec.stops_level)


def not_executed(matches: TokenMatches) -> bool:
    """Found only as a rejected/cancelled order: nothing was filled and nothing waits."""
    return matches.filled_volume == 0 and not matches.pending_orders and not matches.positions


def result_from_outcome(outcome: OrderOutcome, token: str) -> dict[str, Any]:
    """A filled order as a job result."""
    return {"price": outcome.price, "order": outcome.order, "deal": outcome.deal, "position": outcome.position,
            "volume": outcome.filled_volume, "requested_volume": outcome.requested_volume,
            "retcode": outcome.retcode, "attempts": outcome.attempts, "token": token,
            "filled_at": datetime.now(UTC).isoformat(), "reconciled": False}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass
class TerminalWork:
    """What closing and opening share: the terminal, its thread, and where intents go.

    Args:
        data: Where intents are recorded.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread and awaits it.
        reconcile_wait: How long to keep looking for an order after an unclear result.
        checkpoint: Called at each step (crash-injection tests stop the agent there).
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Any]
    reconcile_wait: float = 3.0
    checkpoint: Callable[[str], None] = lambda _step: None
    # What was read of the terminal while the next job was being claimed.
    _warm: asyncio.Future[WarmRead] | None = field(default=None, init=False, repr=False)
    # The terminal's name of the symbol entered last: its prices are read with the account, since a
    # strategy's next entry is most often on the same symbol.
    _quote_hint: str | None = field(default=None, init=False, repr=False)

    async def _t(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(fn, *args, **kwargs)
        return result

    def read_account(self) -> AccountNow:
        """The account and its positions (blocking; runs on the terminal's thread)."""
        return AccountNow(self.terminal.account(), self.terminal.positions())

    def _read_warm(self) -> WarmRead:
        began = time.monotonic()
        hint = self._quote_hint
        self.terminal.read_ahead(hint)
        now = self.read_account()
        quote = None
        # An entry on it reads the prices again when they could not be read here, and that read
        # reports what is wrong.
        with contextlib.suppress(TnmError):
            quote = self.terminal.quote(hint) if hint is not None else None
        return WarmRead(began, now, quote)

    def warm(self) -> None:
        """A job may be claimed now: read the account and positions (and the prices of the symbol
        entered last) meanwhile, on the terminal's thread.

        The claim's round trip and these reads then overlap; an entry or a close that follows at
        once uses them instead of reading again. :meth:`written` drops them.
        """
        if self._warm is not None and not self._warm.done():
            return
        warm = asyncio.ensure_future(self._t(self._read_warm))
        # An error here is the next read's to report (it reads again): nothing waits on this one.
        warm.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._warm = warm

    def written(self) -> None:
        """Something that changes the account went to the terminal: a read taken before it is stale."""
        self._warm = None

    async def _take_warm_read(self) -> WarmRead | None:
        # The read taken while this job was claimed, once: None when there is none, it failed, it
        # is older than WARM_TTL, or anything was sent to the terminal after it was asked for.
        warm, self._warm = self._warm, None
        if warm is None:
            return None
        try:
            read = await warm
        except TnmError:  # the caller reads afresh, and that read reports what is wrong
            return None
        return read if time.monotonic() - read.began <= WARM_TTL else None

    async def _take_warm(self) -> AccountNow | None:
        read = await self._take_warm_read()
        return read.now if read is not None else None

    async def _look_again(self, token: str) -> TokenMatches | None:
        deadline = asyncio.get_running_loop().time() + self.reconcile_wait
        while True:
            try:
                matches = await self._t(self.terminal.find_by_token, token)
            except TransientError:
                matches = None
            if matches is not None and not not_executed(matches):
                return matches
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.25)

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
            words = [f"#{ticket}"] if ticket else [w for w in (close.side if close.side != "all" else "", symbol) if w]
            what = " ".join(["open", *words, "position"])
            note = "Already closed before a restart." if done else f"Nothing to close: no {what}."
            return {"closed": [], "note": note, "token": token}
        self.checkpoint("before_intent")
        await self.data.record_intent(self.creds, claimed, {
            "close": [{"ticket": p.ticket, "volume": v} for p, v in plan], "token": token})
        self.checkpoint("before_send")
        sent_at = datetime.now(UTC)
        closed = []
        for position, volume in plan:
            try:
                outcome = await self._t(self.terminal.close_position, position.ticket, volume, magic=magic or 0,
                                        comment=token, seen=position)
            except UserError as exc:
                if exc.code == "position_not_open":
                    continue  # closed meanwhile (its stop, or the trader): nothing left to do
                raise
            self.checkpoint("after_send")
            if outcome.executed:
                closed.append(result_from_outcome(outcome, token) | {"position": position.ticket})
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

    async def close_account(self, claimed: ClaimedJob) -> dict[str, Any]:
        """Close every position and delete every pending order of the account (``closeall``)."""
        result = await self.close(claimed, None, Close(), None)
        cancelled, refused = [], {}
        for order in await self._t(self.terminal.orders):
            try:
                outcome = await self._t(self.terminal.remove_order, order.ticket)
            except UserError as exc:
                if exc.code == "order_not_pending":
                    continue  # it triggered or expired meanwhile: nothing left to delete
                raise
            if outcome.done:
                cancelled.append(order.ticket)
            else:
                refused[order.ticket] = outcome.message
        if refused:  # an unclear answer: the order may be gone all the same
            still = {o.ticket for o in await self._t(self.terminal.orders)}
            failed = [f"#{t}: {m}" for t, m in refused.items() if t in still]
        else:
            failed = []
        closed = result.get("closed") or []
        parts = [f"Closed {_plural(len(closed), 'position')}"]
        if cancelled:
            parts.append(f"deleted {_plural(len(cancelled), 'pending order')}")
        note = " and ".join(parts) + "." if closed or cancelled else "Nothing was open: no position, no pending order."
        if failed:
            raise UserError(note + " Could not delete " + "; ".join(failed), code="cancel_failed")
        return result | {"cancelled_orders": cancelled, "note": note}

    async def _targets(self, symbol: str | None, close: Close, magic: int | None,
                       ticket: int | None) -> list[Position]:
        if ticket is not None:
            position = await self._t(self.terminal.position, ticket)
            return [position] if position is not None else []
        warm = await self._take_warm()
        if warm is not None:
            positions = tuple(p for p in warm.positions if symbol is None or p.symbol == symbol)
        else:
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
