"""Breakeven, trailing and targets as pure rules over a scripted price path (no terminal, no database)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from tnm_desktop.domain.orders import Breakeven, Level, Manage, Target, Trailing
from tnm_desktop.domain.rules import Change, Market, PositionRule, next_change

EURUSD: dict[str, Any] = {"pip": 0.0001, "point": 0.00001, "digits": 5}


def rule(side: str, entry: float, manage: Manage, volume: float = 0.1) -> PositionRule:
    return PositionRule(id="r", job_id="j", signal_id=None, symbol="EURUSD.m", side=side, ticket=1, volume=volume,
                        entry_price=entry, manage=manage, state="active", stop=None, trail_stop=None,
                        be_done=False, targets_done=0, changes=0, pending=None)


def walk(r: PositionRule, sl: float | None, path: list[float], *, spread: float = 0.00012,
         stops_level: int = 0, freeze_level: int = 0) -> list[tuple[float, str, float | None]]:
    """Play ``path`` (bids) through the rules as the agent would; return (bid, kind, new stop) per change."""
    out = []
    for bid in path:
        market = Market(bid, round(bid + spread, 5), stops_level=stops_level, freeze_level=freeze_level, **EURUSD)
        change = next_change(r, sl, market)
        if change is None:
            continue
        out.append((bid, change.kind, change.sl if change.kind != "target" else change.volume))
        r = _applied(r, change)
        sl = change.sl if change.sl is not None else sl
    return out


def _applied(r: PositionRule, change: Change) -> PositionRule:
    return replace(r, changes=r.changes + 1, stop=change.sl or r.stop,
                   trail_stop=change.sl if change.kind == "trailing" else r.trail_stop,
                   be_done=r.be_done or change.kind == "breakeven" or change.breakeven,
                   targets_done=change.target or r.targets_done)


def test_a_long_moves_to_breakeven_then_trails_in_steps_and_never_back() -> None:
    r = rule("buy", 1.08512, Manage(breakeven=Breakeven(10, 2), trailing=Trailing(20, 15, 5)))
    path = [1.08560, 1.08615, 1.08590, 1.08720, 1.08740, 1.08780, 1.08700, 1.08900, 1.08800]
    assert walk(r, 1.08212, path) == [(1.08615, "breakeven", 1.08532), (1.0872, "trailing", 1.0857),
                                      (1.0878, "trailing", 1.0863), (1.089, "trailing", 1.0875)]


def test_a_short_mirrors_it_measured_from_the_ask() -> None:
    r = rule("sell", 1.08500, Manage(breakeven=Breakeven(10), trailing=Trailing(15, 10)))
    spread = 0.00012
    asks = [1.08420, 1.08395, 1.08420, 1.08345, 1.08344, 1.08330]
    bids = [round(a - spread, 5) for a in asks]
    assert walk(r, 1.08800, bids, spread=spread) == [
        (round(1.08395 - spread, 5), "breakeven", 1.085), (round(1.08345 - spread, 5), "trailing", 1.08445),
        (round(1.08344 - spread, 5), "trailing", 1.08444),  # step 0: any whole point of improvement
        (round(1.08330 - spread, 5), "trailing", 1.0843)]


def test_a_stop_is_never_moved_backwards_even_below_a_manual_one() -> None:
    r = rule("buy", 1.08500, Manage(breakeven=Breakeven(10), trailing=Trailing(10, 20)))
    # The trader moved the stop to 1.08700 by hand: breakeven and a trail behind it must not undo that.
    assert walk(r, 1.08700, [1.08650, 1.08880, 1.08905, 1.08950]) == [(1.08905, "trailing", 1.08705),
                                                                      (1.0895, "trailing", 1.0875)]


def test_the_stops_and_freeze_levels_hold_a_change_back_until_the_price_allows_it() -> None:
    r = rule("buy", 1.08500, Manage(breakeven=Breakeven(10, 8)))  # a stop 2 pips behind the trigger
    # stops level 30 points: the stop must be 3 pips from the bid; at 1.08600 it would be 2, at 1.08605 2.5.
    assert walk(r, 1.08300, [1.08600, 1.08605, 1.08610], stops_level=30) == [(1.0861, "breakeven", 1.0858)]
    frozen = rule("buy", 1.08500, Manage(trailing=Trailing(5, 0.3)))
    # At 1.08552 the trail (1.08549) would improve on the stop 1.08548, but that stop sits 4 points under
    # the bid: inside the freeze level (5 points) the broker refuses any change, so it waits for 1.08554.
    assert walk(frozen, 1.08548, [1.08552, 1.08554], freeze_level=5) == [(1.08554, "trailing", 1.08551)]


def test_targets_close_their_share_and_the_last_one_is_left_to_the_broker() -> None:
    manage = Manage(targets=(Target(Level(pips=10), 50), Target(Level(pips=20), 30), Target(Level(pips=40), 20)),
                    be_after_tp1=True)
    r = rule("buy", 1.08500, manage, volume=1.0)
    changes = walk(r, 1.08300, [1.08550, 1.08601, 1.08620, 1.08700, 1.08950])
    assert changes == [(1.08601, "target", 0.5), (1.0862, "breakeven", 1.085), (1.087, "target", pytest.approx(0.3))]


def test_targets_that_leave_some_volume_close_it_at_each_target_including_the_last() -> None:
    manage = Manage(targets=(Target(Level(price=1.0860), 25), Target(Level(percent=0.2), 25)))
    r = rule("buy", 1.08500, manage, volume=0.4)
    assert walk(r, 1.08300, [1.08600, 1.08700, 1.08717]) == [(1.086, "target", 0.1),
                                                            (1.08717, "target", 0.1)]  # 0.2 % of 1.085 = 21.7 pips
