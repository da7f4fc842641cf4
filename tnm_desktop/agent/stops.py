"""The agent's position manager: breakeven, trailing stops and take-profit targets, tick by tick.

It watches the symbols of the rules this agent manages (``position_rules``, read from the
database every few seconds and soon after a trade), reads their prices every ``every`` seconds,
and sends what :func:`tnm_desktop.domain.rules.next_change` says, exactly once:

1. ``begin``: the change (with its sequence number and, for a partial close, a comment token) is
   recorded in the rule before anything is sent;
2. the request goes to the terminal (an SL/TP change, or a partial close);
3. ``finish``: the change is confirmed in the rule and logged once as an event.

A rule found with a change begun but not finished (the agent died, or the answer was unclear)
is settled first: the position's stop is compared with the one asked for, a partial close is
looked up by its token; only what is not at the broker is sent again. An SL/TP change sent twice
is harmless (10025, "no changes"); a partial close never goes out twice.

Changes of one position are at least ``min_interval`` seconds apart (brokers dislike floods and
each change is a round trip); a change the broker refuses waits ``refused_pause`` seconds. While
the agent is down nothing moves: the last stop set stays at the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tnm_desktop.agent.sizing import Contract, size_fixed
from tnm_desktop.agent.tokens import rule_token
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials
from tnm_desktop.domain.rules import Change, Market, PositionRule, next_change
from tnm_desktop.errors import OperationalError, TnmError, UserError
from tnm_desktop.terminal.port import DealEntry, OrderRecord, Position, Quote, SymbolSpec, TerminalPort

log = logging.getLogger(__name__)
T = TypeVar("T")
_SPEC_TTL = 600.0


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What one look at the terminal saw: positions and pending orders by ticket, quotes and specs."""

    positions: dict[int, Position]
    orders: dict[int, OrderRecord]
    quotes: dict[str, Quote]
    specs: dict[str, SymbolSpec]


@dataclass
class StopManager:
    """Manages the position rules of one agent on its terminal.

    Args:
        data: Where the rules live.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread and awaits it.
        contract: What sizing needs of a symbol (its pip, volume step).
        every: Seconds between two looks at the prices.
        refresh_every: Seconds between two reads of the rules (sooner after :meth:`expect`).
        min_interval: Seconds between two changes of one position.
        refused_pause: Seconds a rule waits after the broker refused its change.
        checkpoint: Called at each step (crash-injection tests stop the agent there).
        changed: Awaited after a change is confirmed at the broker (the positions snapshot follows).
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Any]
    contract: Callable[[SymbolSpec], Contract]
    every: float = 0.2
    refresh_every: float = 30.0
    min_interval: float = 1.0
    refused_pause: float = 10.0
    checkpoint: Callable[[str], None] = lambda _step: None
    changed: Callable[[], Awaitable[None]] | None = None
    _rules: dict[str, PositionRule] = field(default_factory=dict, init=False, repr=False)
    _refresh_at: float = field(default=0.0, init=False, repr=False)
    _quiet_until: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _specs: dict[str, tuple[SymbolSpec, float]] = field(default_factory=dict, init=False, repr=False)
    _soon_until: float = field(default=0.0, init=False, repr=False)
    ticks: int = field(default=0, init=False)  # looks at the market so far (tests wait on it)

    async def _t(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self.call(fn, *args, **kwargs)
        return result

    def expect(self) -> None:
        """A trade that may have made a rule just finished: read the rules soon, for a while."""
        self._refresh_at = 0.0
        self._soon_until = time.monotonic() + 10.0

    @property
    def rules(self) -> list[PositionRule]:
        """The rules being managed now."""
        return list(self._rules.values())

    async def run(self) -> None:
        """Manage until cancelled; errors are logged and retried, never raised."""
        failures = 0
        while True:
            try:
                await self.tick()
                failures = 0
            except asyncio.CancelledError:
                raise
            except OperationalError as exc:  # the agent itself stops on these; wait for it
                log.warning("position rules paused: %s", exc.message)
                failures += 1
            except TnmError as exc:
                log.info("position rules: %s", exc.message)
                failures += 1
            except Exception:  # a bug in one tick must not stop stops being managed
                log.exception("position rules failed")
                failures += 1
            await asyncio.sleep(min(self.every * 2 ** min(failures, 5), 5.0) if failures else self.every)

    async def tick(self) -> None:
        """One look at the market: settle, activate, change or end each rule."""
        now = time.monotonic()
        if now >= self._refresh_at:
            self._rules = {r.id: r for r in await self.data.position_rules(self.creds)}
            self._refresh_at = now + (0.5 if now < self._soon_until else self.refresh_every)
        if not self._rules:
            return
        snapshot = await self._t(self._look, sorted({r.symbol for r in self._rules.values()}))
        for rule in list(self._rules.values()):
            try:
                await self._handle(rule, snapshot)
            except UserError as exc:
                log.warning("position rule %s: %s", rule.id, exc.message)
                self._quiet_until[rule.id] = time.monotonic() + self.refused_pause
        self.ticks += 1

    def _look(self, symbols: list[str]) -> _Snapshot:
        # On the terminal's thread: one trip for everything this tick needs.
        positions = {p.ticket: p for p in self.terminal.positions()}
        orders = {o.ticket: o for o in self.terminal.orders()}
        specs: dict[str, SymbolSpec] = {}
        quotes: dict[str, Quote] = {}
        for name in symbols:
            known = self._specs.get(name)
            if known is None or time.monotonic() - known[1] > _SPEC_TTL:
                known = (self.terminal.symbol(name), time.monotonic())
                self._specs[name] = known
            specs[name] = known[0]
            quotes[name] = self.terminal.quote(name)
        return _Snapshot(positions, orders, quotes, specs)

    async def _handle(self, rule: PositionRule, snap: _Snapshot) -> None:
        position = snap.positions.get(rule.ticket)
        if rule.pending is not None:
            await self._settle(rule, position, snap)
            return
        if rule.state == "waiting":
            if position is not None:
                self._keep(await self._step(rule, "activate", {"entry_price": position.price_open,
                                                               "volume": position.volume}))
            elif rule.ticket not in snap.orders:
                await self._end(rule, "The pending order was cancelled or expired, or its position closed at once.")
            return
        if position is None:
            await self._end(rule, "The position is closed.")
            return
        if time.monotonic() < self._quiet_until.get(rule.id, 0.0):
            return
        spec = snap.specs[rule.symbol]
        quote = snap.quotes[rule.symbol]
        contract = self.contract(spec)
        market = Market(quote.bid, quote.ask, contract.pip, spec.point, spec.digits, spec.stops_level,
                        spec.freeze_level)
        change = next_change(rule, position.sl, market)
        if change is not None:
            await self._apply(rule, change, position, spec)

    async def _apply(self, rule: PositionRule, change: Change, position: Position, spec: SymbolSpec) -> None:
        seq = rule.changes + 1
        if change.kind == "target" and change.volume is not None:
            contract = self.contract(spec)
            volume = min(change.volume, position.volume)
            if volume < contract.volume_min:
                change = Change("target", change.price, volume=0.0, target=change.target)
            else:
                change = Change("target", change.price, volume=size_fixed(contract, volume).volume,
                                target=change.target)
        begun = change.to_json(seq, rule_token(rule.id, seq), position.tp) | {"position_volume": position.volume}
        rule = await self._step(rule, "begin", begun)
        self._keep(rule)  # until it is finished, the next tick settles it (by looking) rather than redoing it
        self.checkpoint("rule_begun")
        self._quiet_until[rule.id] = time.monotonic() + self.min_interval
        await self._send(rule, position)

    async def _send(self, rule: PositionRule, position: Position) -> None:
        pending = rule.pending
        assert pending is not None
        seq = int(pending["seq"])
        if pending["kind"] == "target":
            volume = float(pending.get("volume") or 0.0)
            if volume <= 0:
                self._keep(await self._step(rule, "finish", {"seq": seq, "applied": False,
                                                             "note": "The target's share is below the smallest "
                                                                     "volume the broker accepts: nothing closed."}))
                return
            outcome = await self._t(self.terminal.close_position, position.ticket, volume, magic=position.magic,
                                    comment=str(pending["token"]))
            self.checkpoint("rule_sent")
            if outcome.executed:
                self._keep(await self._step(rule, "finish", {"seq": seq, "volume": outcome.filled_volume,
                                                             "note": f"closed at {outcome.price:g}"}))
            elif outcome.status.value == "rejected":
                await self._refused(rule, seq, f"{outcome.message} (retcode {outcome.retcode})")
            return  # unclear: settled on the next tick, by its token
        outcome_sl = await self._t(self.terminal.modify_position, position.ticket, pending.get("sl"),
                                   pending.get("tp") if "tp" in pending else position.tp)
        self.checkpoint("rule_sent")
        if outcome_sl.done:
            self._keep(await self._step(rule, "finish", {"seq": seq}))
        elif outcome_sl.status.value == "rejected":
            await self._refused(rule, seq, f"{outcome_sl.message} (retcode {outcome_sl.retcode})")
        # unclear: settled on the next tick, by the position's stop

    async def _refused(self, rule: PositionRule, seq: int, why: str) -> None:
        self._keep(await self._step(rule, "finish", {"seq": seq, "applied": False, "note": why}))
        self._quiet_until[rule.id] = time.monotonic() + self.refused_pause

    async def _settle(self, rule: PositionRule, position: Position | None, snap: _Snapshot) -> None:
        """A change was begun and not finished: find out whether it is at the broker, then finish or resend."""
        pending = rule.pending
        assert pending is not None
        seq = int(pending["seq"])
        if pending["kind"] == "target":
            matches = await self._t(self.terminal.find_by_token, str(pending["token"]))
            closed = [d for d in matches.deals if d.entry is not DealEntry.IN and str(pending["token"]) in d.comment]
            before = float(pending.get("position_volume") or 0.0)
            if closed:
                self._keep(await self._step(rule, "finish", {"seq": seq, "volume": sum(d.volume for d in closed),
                                                             "note": f"closed at {closed[0].price:g}"}))
            elif position is not None and before and position.volume < before - 1e-9:
                # The history has not shown the deal yet, but the position is smaller: it was closed.
                self._keep(await self._step(rule, "finish", {"seq": seq, "volume": round(before - position.volume, 8)}))
            elif position is not None:
                await self._send(rule, position)
            else:
                self._keep(await self._step(rule, "finish", {"seq": seq, "applied": False,
                                                             "note": "The position closed before the target."}))
            return
        wanted = pending.get("sl")
        spec = snap.specs[rule.symbol]
        if position is None:
            self._keep(await self._step(rule, "finish", {"seq": seq, "applied": False,
                                                         "note": "The position closed before the stop moved."}))
        elif position.sl is not None and wanted is not None and abs(position.sl - float(wanted)) < spec.point / 2:
            self._keep(await self._step(rule, "finish", {"seq": seq}))
        elif position.sl is not None and wanted is not None and rule.sign * (position.sl - float(wanted)) > 0:
            # Someone moved it further meanwhile: never take a stop back.
            self._keep(await self._step(rule, "finish", {"seq": seq, "applied": False,
                                                         "note": f"The stop was already at {position.sl:g}."}))
        else:
            await self._send(rule, position)

    async def _end(self, rule: PositionRule, reason: str) -> None:
        await self._step(rule, "end", {"reason": reason})
        self._rules.pop(rule.id, None)
        self._quiet_until.pop(rule.id, None)

    async def _step(self, rule: PositionRule, step: str, data: dict[str, Any]) -> PositionRule:
        try:
            stepped = await self.data.position_rule_step(self.creds, rule.id, step, data)
        except UserError:
            self._refresh_at = 0.0  # another agent or a restart moved it on: read it afresh
            raise
        if step == "finish" and data.get("applied", True) and self.changed is not None:
            await self.changed()
        return stepped

    def _keep(self, rule: PositionRule) -> None:
        if rule.state == "done":
            self._rules.pop(rule.id, None)
        else:
            self._rules[rule.id] = rule

