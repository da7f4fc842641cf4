"""Changing a position's stop loss and take profit (``modify_position`` jobs), exactly once.

The payload names the positions — one ``ticket``, or a ``symbol`` with a ``side`` ("long",
"short", "all") and optionally a ``strategy_id`` (issue 12's ``newsltplong``/``newsltpshort``) —
and the new levels: ``"sl"``/``"tp"`` each ``{"price": p}``, ``{"pips": n}`` (from the position's
open price), ``null`` (remove it), or absent (leave it). ``login`` (optional) is the account the
trader saw; a terminal logged in to another account does nothing.

A stop change is idempotent (setting the same levels again changes nothing, retcode 10025), so
the discipline is simpler than for orders: the intent (every ticket and its levels) is recorded
before anything is sent; after a restart or an unclear answer the positions are read again and
only those not yet at their levels are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tnm_desktop.agent.trading import contract_of, magic_for
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, ClaimedJob
from tnm_desktop.domain.trade import Level
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.terminal.port import Position, Side, TerminalPort

T = TypeVar("T")
_KEEP = object()  # a level the payload does not mention


def check_login(payload: dict[str, Any], login: int | None) -> None:
    """Refuse a job meant for another account than the terminal's (tickets are per account)."""
    wanted = payload.get("login")
    if wanted is not None and login is not None and int(wanted) != login:
        raise UserError(f"This was asked for account {wanted}, but MetaTrader 5 is logged in to account {login}: "
                        "nothing was done.", code="wrong_account")


def _level(payload: dict[str, Any], key: str) -> Level | object | None:
    if key not in payload:
        return _KEEP
    return Level.parse(payload[key])


def _price(position: Position, level: Level | object | None, current: float | None, pip: float, digits: int, *,
           loss: bool) -> float | None:
    if level is _KEEP:
        return current
    if level is None:
        return None
    assert isinstance(level, Level)
    if level.price is not None:
        return level.price
    distance = (level.pips or 0) * pip
    down = (position.side is Side.BUY) == loss
    return round(position.price_open - distance if down else position.price_open + distance, digits)


def _same(a: float | None, b: float | None) -> bool:
    return (a or 0.0) == (b or 0.0) or (a is not None and b is not None and abs(a - b) < 1e-9)


@dataclass
class StopsEditor:
    """Executes ``modify_position`` jobs on one terminal.

    Args:
        data: Where intents are recorded.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread and awaits it.
        checkpoint: Called at each step (crash-injection tests stop the agent there).
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Any]
    checkpoint: Callable[[str], None] = lambda _step: None

    async def _t(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(fn, *args, **kwargs)
        return result

    async def modify(self, claimed: ClaimedJob, login: int | None) -> dict[str, Any]:
        """Set the levels the job asks for; return which positions now have which."""
        payload = claimed.job.payload
        check_login(payload, login)
        sl_level, tp_level = _level(payload, "sl"), _level(payload, "tp")
        if sl_level is _KEEP and tp_level is _KEEP:
            raise UserError("The change names neither a stop loss nor a take profit.", code="invalid_payload")
        positions = await self._targets(payload)
        if not positions:
            what = f"#{payload['ticket']}" if payload.get("ticket") is not None else str(payload.get("symbol") or "")
            return {"modified": [], "note": f"Nothing to change: no open {what} position.".replace("  ", " ")}
        intent = claimed.job.intent
        if intent is not None and isinstance(intent.get("modify"), list):
            # After a restart: the levels decided then, not recomputed from moved prices.
            plan = {int(i["ticket"]): (i.get("sl"), i.get("tp")) for i in intent["modify"]}
        else:
            plan = {}
            for position in positions:
                spec = await self._t(self.terminal.symbol, position.symbol)
                contract = contract_of(spec)
                plan[position.ticket] = (
                    _price(position, sl_level, position.sl, contract.pip, spec.digits, loss=True),
                    _price(position, tp_level, position.tp, contract.pip, spec.digits, loss=False))
            self.checkpoint("before_intent")
            await self.data.record_intent(self.creds, claimed, {
                "modify": [{"ticket": t, "sl": sl, "tp": tp} for t, (sl, tp) in plan.items()]})
        self.checkpoint("before_send")
        done = []
        for position in positions:
            if position.ticket not in plan:
                continue
            sl, tp = plan[position.ticket]
            if not (_same(position.sl, sl) and _same(position.tp, tp)):
                await self._send(position, sl, tp)
                self.checkpoint("after_send")
            done.append({"ticket": position.ticket, "symbol": position.symbol, "sl": sl, "tp": tp})
        return {"modified": done, "note": ""}

    async def _send(self, position: Position, sl: float | None, tp: float | None) -> None:
        try:
            outcome = await self._t(self.terminal.modify_position, position.ticket, sl, tp)
        except UserError as exc:
            if exc.code == "position_not_open":
                return  # closed meanwhile: nothing left to change
            raise
        if outcome.executed:
            return
        if outcome.status.value == "rejected":
            raise UserError(f"Changing the stops of #{position.ticket}: {outcome.message} (retcode {outcome.retcode})",
                            code=str(outcome.retcode))
        now = await self._t(self.terminal.position, position.ticket)
        if now is None or (_same(now.sl, sl) and _same(now.tp, tp)):
            return
        raise TransientError(f"The terminal did not confirm the new stops of #{position.ticket}; they will be "
                             "checked and sent again.", code="unconfirmed")

    async def _targets(self, payload: dict[str, Any]) -> list[Position]:
        ticket = payload.get("ticket")
        if ticket is not None:
            position = await self._t(self.terminal.position, int(ticket))
            return [position] if position is not None else []
        symbol = payload.get("symbol")
        if not symbol:
            raise UserError("The change names no position: give a ticket or a symbol.", code="invalid_payload")
        side = str(payload.get("side") or "all")
        wanted = {"long": {Side.BUY}, "short": {Side.SELL}, "all": {Side.BUY, Side.SELL}}.get(side)
        if wanted is None:
            raise UserError(f"Unknown side {side!r}: long, short or all.", code="invalid_payload")
        magic = magic_for(payload["strategy_id"]) if payload.get("strategy_id") else None
        positions = await self._t(self.terminal.positions, str(symbol))
        return [p for p in positions if p.side in wanted and (magic is None or p.magic == magic)]
