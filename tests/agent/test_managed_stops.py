"""Breakeven, trailing stops and targets carried out by the agent on a scripted price path, also
across a crash of the agent in the middle of the path: every change exactly once, none backwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest
import pytest_asyncio
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import TradeRig, make_rig
from tests.must import must
from tests.pg import Db
from tests.waiting import eventually

FAST_STOPS = {"every": 0.02, "min_interval": 0.0, "refresh_every": 0.3, "refused_pause": 0.2}
# Bid path of a long bought at 1.08512 with sl=30, betrigger=10, beoffset=2, trailtrig=20, traildist=15,
# trailstep=5; and the stop each step must leave (None: unchanged, the step must not move it).
PATH: list[tuple[float, float | None]] = [
    (1.08560, None),      # 4.8 pips: nothing yet
    (1.08615, 1.08532),   # 10.3 pips: breakeven, 2 pips above the entry
    (1.08590, None),      # back down: a stop never moves back
    (1.08720, 1.08570),   # 20.8 pips: trailing starts 15 pips behind
    (1.08740, None),      # the trail would move 2 pips: less than the 5-pip step
    (1.08780, 1.08630),   # 6 pips: it moves
    (1.08700, None),      # down again: nothing
    (1.08900, 1.08750),
]
EXPECTED = [("breakeven", 1.08532), ("trailing", 1.08570), ("trailing", 1.08630), ("trailing", 1.08750)]


class Crash(BaseException):
    """The agent dies here."""


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    made.sim.control.hold_price("EURUSD.m", 1.08500)  # ask 1.08512
    yield made
    await made.stop()
    await made.adapter.close()


def runner(rig: TradeRig, checkpoint: Callable[[str], None] | None = None) -> TerminalRunner:
    options: dict[str, Any] = {"stops": FAST_STOPS}
    if checkpoint is not None:
        options["checkpoint"] = checkpoint
    return rig.runner(**options)


def events(rig: TradeRig) -> list[tuple[str, float | None]]:
    rows = rig.db.admin.execute("select kind, sl from position_rule_events order by seq").fetchall()
    return [(r["kind"], float(r["sl"]) if r["sl"] is not None else None) for r in rows]


def stop_of(rig: TradeRig, ticket: int) -> float | None:
    found = rig.sim.positions_get(ticket=ticket)
    return float(found[0].sl) if found else None


def _stop_is(rig: TradeRig, ticket: int, stop: float | None) -> bool:
    return stop_of(rig, ticket) == stop


async def look_twice(stops_runner: TerminalRunner) -> None:
    """Wait until the manager has looked at the market twice: once wholly after the last price change."""
    seen = stops_runner.stops.ticks
    await eventually(lambda: stops_runner.stops.ticks >= seen + 2, within=10, what="the manager looked again")


async def walk(rig: TradeRig, stops_runner: TerminalRunner, ticket: int, steps: list[tuple[float, float | None]]) -> None:
    for bid, stop in steps:
        before = stop_of(rig, ticket)
        rig.sim.control.hold_price("EURUSD.m", bid)
        if stop is None:
            await look_twice(stops_runner)
            assert stop_of(rig, ticket) == before, f"at {bid} the stop moved from {before}"
        else:
            await eventually(partial(_stop_is, rig, ticket, stop), within=10, what=f"stop {stop} at {bid}")


async def open_managed(rig: TradeRig) -> int:
    _, (job_id,) = rig.alert("6012,buy,EURUSD,vol_lots=0.1,sl=30,betrigger=10,beoffset=2,trailtrig=20,traildist=15,"
                             "trailstep=5")
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    assert job["result"]["price"] == 1.08512
    return int(job["result"]["position"])


async def test_breakeven_then_trailing_move_the_stop_exactly_as_specified(rig: TradeRig) -> None:
    stops_runner = runner(rig)
    await rig.start(stops_runner)
    ticket = await open_managed(rig)
    assert stop_of(rig, ticket) == 1.08212
    await walk(rig, stops_runner, ticket, PATH)
    rig.sim.control.hold_price("EURUSD.m", 1.08740)  # through the trailed stop: the broker closes the position
    await eventually(lambda: rig.db.admin.execute("select state from position_rules").fetchone() == {"state": "done"},
                     within=10, what="the rule ended")
    assert events(rig) == [*EXPECTED, ("ended", None)]
    closing = [d for d in must(rig.sim.history_deals_get(position=ticket)) if d.entry == mt5.DEAL_ENTRY_OUT]
    assert [(d.price, d.reason) for d in closing] == [(1.08740, mt5.DEAL_REASON_SL)]


@pytest.mark.parametrize("dies_at", ["rule_begun", "rule_sent"])
async def test_an_agent_that_dies_mid_change_carries_on_after_a_restart_without_losing_or_repeating_it(
        rig: TradeRig, dies_at: str) -> None:
    begun = 0

    def checkpoint(step: str) -> None:
        nonlocal begun
        begun += step == "rule_begun"
        if step == dies_at and begun == 3:  # the third change: trailing to 1.08630
            raise Crash(step)

    first = runner(rig, checkpoint)
    await rig.start(first)
    ticket = await open_managed(rig)
    await walk(rig, first, ticket, PATH[:5])
    rig.sim.control.hold_price("EURUSD.m", 1.08780)
    await eventually(lambda: rig.agent is not None and rig.agent._managing is not None and rig.agent._managing.done(),
                     within=10, what="the manager died")
    assert rig.agent is not None and rig.agent._managing is not None
    with contextlib.suppress(Crash):
        rig.agent._managing.result()
    pending = rig.db.admin.execute("select pending ->> 'sl' as sl, changes from position_rules").fetchone()
    assert pending == {"sl": "1.0863", "changes": 2}  # begun, not finished
    expected_stop = 1.08630 if dies_at == "rule_sent" else 1.08570
    assert stop_of(rig, ticket) == expected_stop
    await rig.stop()

    second = runner(rig)
    await rig.start(second)
    await eventually(lambda: stop_of(rig, ticket) == 1.08630 and events(rig) == EXPECTED[:3], within=10,
                     what="the change settled after the restart")
    await walk(rig, second, ticket, PATH[6:])
    await eventually(lambda: events(rig) == EXPECTED, within=10, what="the last change recorded")
    assert rig.db.admin.execute("select changes, pending from position_rules").fetchone() == {"changes": 4,
                                                                                             "pending": None}


async def test_targets_close_their_share_then_the_stop_goes_to_breakeven_and_the_broker_takes_the_rest(
        rig: TradeRig) -> None:
    stops_runner = runner(rig)
    await rig.start(stops_runner)
    _, (job_id,) = rig.alert({"action": "buy", "symbol": "EURUSD", "lots": 0.1, "sl_pips": 30,
                              "tp1_pips": 10, "tp1_close": 50, "tp2_pips": 20, "be_after_tp1": True})
    job = await rig.final(job_id)
    ticket = int(job["result"]["position"])
    (position,) = must(rig.sim.positions_get(ticket=ticket))
    assert position.tp == 1.08712  # the last target is the broker's take profit
    rig.sim.control.hold_price("EURUSD.m", 1.08615)
    await eventually(lambda: stop_of(rig, ticket) == 1.08512, within=10, what="breakeven after the first target")
    (position,) = must(rig.sim.positions_get(ticket=ticket))
    assert position.volume == 0.05
    rig.sim.control.hold_price("EURUSD.m", 1.08720)
    await eventually(lambda: rig.sim.positions_get(ticket=ticket) == (), within=10, what="closed at the take profit")
    await eventually(lambda: [k for k, _ in events(rig)] == ["target", "breakeven", "ended"], within=10,
                     what="the rule ended")
    closing = [(d.volume, d.price, d.reason) for d in must(rig.sim.history_deals_get(position=ticket))
               if d.entry == mt5.DEAL_ENTRY_OUT]
    assert closing == [(0.05, 1.08615, mt5.DEAL_REASON_EXPERT), (0.05, 1.08720, mt5.DEAL_REASON_TP)]


@pytest.mark.parametrize("fault", ["lose_reply", "timeout"])
async def test_an_unclear_answer_to_a_partial_close_or_a_stop_change_is_looked_up_not_repeated(
        rig: TradeRig, fault: str) -> None:
    stops_runner = runner(rig)
    await rig.start(stops_runner)
    _, (job_id,) = rig.alert({"action": "buy", "symbol": "EURUSD", "lots": 0.2, "sl_pips": 30, "tp1_pips": 10,
                              "tp1_close": 50, "tp2_pips": 30, "tp2_close": 25, "betrigger": 12})
    ticket = int((await rig.final(job_id))["result"]["position"])
    # The partial close at the first target executes, but its answer is lost (or times out, filled).
    rig.sim.control.inject_fault(fault, filled=True)
    rig.sim.control.hold_price("EURUSD.m", 1.08615)
    await eventually(lambda: [k for k, _ in events(rig)] == ["target"], within=10, what="the target recorded")
    (position,) = must(rig.sim.positions_get(ticket=ticket))
    assert position.volume == 0.1  # closed once: 0.2 → 0.1, not twice
    # The breakeven change's answer goes the same way: the stop is read back, not set again blindly.
    rig.sim.control.inject_fault(fault, filled=True)
    rig.sim.control.hold_price("EURUSD.m", 1.08640)
    await eventually(lambda: [k for k, _ in events(rig)] == ["target", "breakeven"], within=10,
                     what="breakeven recorded")
    assert stop_of(rig, ticket) == 1.08512
    closing = [d for d in must(rig.sim.history_deals_get(position=ticket)) if d.entry == mt5.DEAL_ENTRY_OUT]
    assert [d.volume for d in closing] == [0.1]
