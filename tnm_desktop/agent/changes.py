"""Changing what is already at the broker, exactly once: cancelling pending orders, new stops.

Both follow the executor's rule (:mod:`tnm_desktop.agent.trading`): what is about to be changed
is recorded in the job (its intent) before the first request leaves; a job that comes back with
an intent (a retry, a restart) works from that list, not from a new reading, so a change is
neither lost nor made twice. Deleting an order that is already gone and setting stops a position
already has are both done: those requests are idempotent at the broker (10025 "no changes").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tnm_desktop.agent.tokens import token_for
from tnm_desktop.domain import ClaimedJob
from tnm_desktop.domain.trade import Level, ModifyInstruction, TradeInstruction
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.terminal.port import ChangeStatus, OrderRecord, Position, Side

if TYPE_CHECKING:
    from tnm_desktop.agent.trading import TradeExecutor

_BUYS = frozenset({2, 4, 6})  # ORDER_TYPE_BUY_LIMIT, BUY_STOP, BUY_STOP_LIMIT
_SIDES = {"long": {Side.BUY}, "short": {Side.SELL}, "all": {Side.BUY, Side.SELL}}


def check_login(payload: dict[str, Any], login: int | None) -> None:
    """Refuse a change meant for another account than the terminal's (tickets are per account).

    ``login`` in the payload is the account the trader saw on the Positions page.
    """
    wanted = payload.get("login")
    if wanted is not None and login is not None and int(wanted) != login:
        raise UserError(f"This was asked for account {wanted}, but MetaTrader 5 is logged in to account {login}: "
                        "nothing was done.", code="wrong_account")


def _order_side(order: OrderRecord) -> Side:
    return Side.BUY if order.order_type in _BUYS else Side.SELL


async def cancel_orders(executor: TradeExecutor, claimed: ClaimedJob, instruction: TradeInstruction,
                        magic: int) -> dict[str, Any]:
    """Delete the pending orders a cancel alert names: of its side and strategy, or placed by one alert."""
    cancel = instruction.cancel
    assert cancel is not None
    token = token_for(claimed.job.id)
    intent = claimed.job.intent or {}
    tickets: list[int] = [int(t) for t in intent.get("cancel", [])] if "cancel" in intent else []
    if "cancel" not in intent:
        if cancel.job_id is not None:
            found = await executor._t(executor.terminal.find_by_token, token_for(cancel.job_id))
            orders: tuple[OrderRecord, ...] = found.pending_orders
        else:
            wanted = _SIDES[cancel.side]
            orders = tuple(o for o in await executor._t(executor.terminal.orders, instruction.broker_symbol)
                           if o.magic == magic and _order_side(o) in wanted)
        tickets = [o.ticket for o in orders]
        if not tickets:
            what = "that alert's" if cancel.job_id else {"long": "buy", "short": "sell", "all": ""}[cancel.side]
            return {"cancelled": [], "token": token,
                    "note": f"Nothing to cancel: no pending {what} order on {instruction.broker_symbol}.".replace(
                        "  ", " ")}
        executor.checkpoint("before_intent")
        await executor.data.record_intent(executor.creds, claimed, {"cancel": tickets, "token": token})
    executor.checkpoint("before_send")
    cancelled, gone = [], []
    for ticket in tickets:
        try:
            outcome = await executor._t(executor.terminal.remove_order, ticket)
        except UserError as exc:
            if exc.code != "order_not_pending":
                raise
            gone.append(ticket)  # deleted before a restart, or it triggered or expired meanwhile
            continue
        executor.checkpoint("after_send")
        if outcome.done:
            cancelled.append(ticket)
        elif outcome.status is ChangeStatus.REJECTED:
            raise UserError(f"Deleting order #{ticket}: {outcome.message} (retcode {outcome.retcode})",
                            code=str(outcome.retcode))
        elif any(o.ticket == ticket for o in await executor._t(executor.terminal.orders)):
            raise TransientError(f"The terminal did not confirm deleting order #{ticket}; it will be tried again.",
                                 code="unconfirmed")
        else:
            cancelled.append(ticket)
    note = f"Cancelled {len(cancelled)} pending order(s)." if cancelled else "Nothing left to cancel."
    if gone:
        note += f" {len(gone)} order(s) were no longer pending."
    first = (cancelled or gone or [0])[0]
    return {"cancelled": cancelled, "no_longer_pending": gone, "order": first or None,
            "token": token, "note": note}


def _new_level(level: Level | None, current: float | None, side: Side, market: float, pip: float, digits: int, *,
               loss: bool) -> float | None:
    # PineConnector's newsltp: pips and percent from the market price now; a price as it is.
    if level is None:
        return current
    if level.price is not None:
        return level.price or None  # a price of 0 removes the stop (MT5's own convention)
    distance = level.distance(market, pip) or 0.0
    below = (side is Side.BUY) == loss
    return round(market - distance if below else market + distance, digits)


async def modify_positions(executor: TradeExecutor, claimed: ClaimedJob, change: ModifyInstruction,
                           magic: int | None) -> dict[str, Any]:
    """Set new stops on one position or on a symbol's side (a newsltp alert, the Positions page)."""
    token = token_for(claimed.job.id)
    intent = claimed.job.intent or {}
    plan: list[dict[str, Any]] = list(intent.get("modify", []))
    if "modify" not in intent:
        positions = await _positions(executor, change, magic)
        if not positions:
            what = f"#{change.ticket}" if change.ticket else f"{change.side if change.side != 'all' else ''} " \
                                                              f"{change.broker_symbol}".strip()
            return {"modified": [], "token": token, "note": f"Nothing to change: no open {what} position."}
        for position in positions:
            spec = await executor._t(executor.terminal.symbol, position.symbol)
            quote = await executor._t(executor.terminal.quote, position.symbol)
            market = quote.bid if position.side is Side.BUY else quote.ask
            pip = executor.contract(spec).pip  # the symbol's own pip, as sizing uses
            plan.append({"ticket": position.ticket,
                         "sl": _new_level(change.sl, position.sl, position.side, market, pip, spec.digits, loss=True),
                         "tp": _new_level(change.tp, position.tp, position.side, market, pip, spec.digits,
                                          loss=False)})
        executor.checkpoint("before_intent")
        await executor.data.record_intent(executor.creds, claimed, {"modify": plan, "token": token})
    executor.checkpoint("before_send")
    done, refused, gone = [], [], []
    for item in plan:
        try:
            outcome = await executor._t(executor.terminal.modify_position, int(item["ticket"]), item["sl"], item["tp"])
        except UserError as exc:
            if exc.code != "position_not_open":
                raise
            gone.append(item["ticket"])
            continue
        executor.checkpoint("after_send")
        if outcome.done:
            done.append(item)
        elif outcome.status is ChangeStatus.REJECTED:
            refused.append(f"#{item['ticket']}: {outcome.message} (retcode {outcome.retcode})")
        else:
            raise TransientError(f"The terminal did not confirm the new stops of #{item['ticket']}; they will be "
                                 "set again.", code="unconfirmed")
    if refused and not done:
        raise UserError("The broker refused the new stops: " + "; ".join(refused), code="invalid_stops")
    parts = [f"New stops on {len(done)} position(s)." if done else "No position changed."]
    if refused:
        parts.append("Refused: " + "; ".join(refused) + ".")
    if gone:
        parts.append(f"{len(gone)} position(s) had closed.")
    first = done[0] if done else {}
    return {"modified": done, "refused": refused, "closed_before": gone, "position": first.get("ticket"),
            "sl": first.get("sl"), "tp": first.get("tp"), "token": token, "note": " ".join(parts)}


async def _positions(executor: TradeExecutor, change: ModifyInstruction, magic: int | None) -> list[Position]:
    if change.ticket is not None:
        position = await executor._t(executor.terminal.position, change.ticket)
        return [position] if position is not None else []
    wanted = _SIDES[change.side]
    positions = await executor._t(executor.terminal.positions, change.broker_symbol)
    return [p for p in positions if p.side in wanted and (magic is None or p.magic == magic)]
