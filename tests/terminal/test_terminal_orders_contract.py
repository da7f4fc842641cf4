"""The terminal port's order management — pending orders, new stops, removals — through the real
adapter over both simulators (the same calls drive MetaTrader 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.port import (
    ChangeStatus,
    FillStatus,
    MarketOrder,
    PendingKind,
    PendingOrder,
    Side,
)

from tests.terminal.conftest import Rig


def test_pending_orders_are_placed_listed_found_by_token_and_removed(rig: Rig) -> None:
    rig.control.hold_price("EURUSD.m", 1.08500)
    expires = rig.now() + timedelta(hours=3)
    limit = rig.terminal.send_pending_order(PendingOrder(
        "EURUSD.m", Side.BUY, PendingKind.LIMIT, 0.1, 1.08300, sl=1.08100, tp=1.08700, expires_at=expires, magic=9,
        comment="tnm:limit"))
    assert (limit.status, limit.retcode, limit.order) == (FillStatus.PLACED, 10008, limit.order)
    stop_limit = rig.terminal.send_pending_order(PendingOrder(
        "EURUSD.m", Side.SELL, PendingKind.STOP_LIMIT, 0.2, 1.08300, stoplimit=1.08350, comment="tnm:sl"))
    assert stop_limit.status is FillStatus.PLACED
    listed = {o.ticket: o for o in rig.terminal.orders("EURUSD.m")}
    assert set(listed) == {limit.order, stop_limit.order}
    placed = listed[limit.order]
    assert (placed.price_open, placed.sl, placed.tp, placed.magic, placed.comment) == (1.083, 1.081, 1.087, 9,
                                                                                        "tnm:limit")
    assert placed.expires_at == expires.replace(microsecond=0)
    assert listed[stop_limit.order].stoplimit == 1.0835
    assert [o.ticket for o in rig.terminal.find_by_token("tnm:limit").pending_orders] == [limit.order]
    removed = rig.terminal.remove_order(stop_limit.order)
    assert (removed.status, removed.done) == (ChangeStatus.DONE, True)
    with pytest.raises(UserError, match="not pending"):
        rig.terminal.remove_order(stop_limit.order)
    assert [o.ticket for o in rig.terminal.orders()] == [limit.order]


def test_a_refused_pending_order_says_why(rig: Rig) -> None:
    rig.control.hold_price("EURUSD.m", 1.08500)
    above = rig.terminal.send_pending_order(PendingOrder("EURUSD.m", Side.BUY, PendingKind.LIMIT, 0.1, 1.08700))
    assert (above.status, above.retcode) == (FillStatus.REJECTED, 10015)  # a buy limit above the market
    with pytest.raises(UserError, match=r"does not accept stop-limit orders on US30\.m"):
        rig.terminal.send_pending_order(PendingOrder("US30.m", Side.BUY, PendingKind.STOP_LIMIT, 1.0, 50_000.0,
                                                     stoplimit=49_990.0))
    assert PendingKind.STOP_LIMIT not in rig.terminal.symbol("US30.m").pending_kinds
    assert rig.terminal.symbol("XAUUSD.m").freeze_level == 20


def test_a_pending_order_that_triggers_opens_a_position_its_token_finds(rig: Rig) -> None:
    rig.control.hold_price("GBPUSD.m", 1.27000)
    stop = rig.terminal.send_pending_order(PendingOrder("GBPUSD.m", Side.BUY, PendingKind.STOP, 0.3, 1.27200,
                                                        sl=1.27000, comment="tnm:breakout"))
    rig.control.advance_time(1)
    rig.control.hold_price("GBPUSD.m", 1.27250)
    assert rig.terminal.orders() == ()
    found = rig.terminal.find_by_token("tnm:breakout")
    assert [p.ticket for p in found.positions] == [stop.order] and found.filled_volume == 0.3


def test_stops_of_an_open_position_are_changed_and_unchanged_requests_are_done(rig: Rig) -> None:
    rig.control.hold_price("EURUSD.m", 1.08500)
    opened = rig.terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, sl=1.08300))
    changed = rig.terminal.modify_position(opened.position, 1.08400, 1.08900)
    assert (changed.status, changed.retcode) == (ChangeStatus.DONE, 10009)
    again = rig.terminal.modify_position(opened.position, 1.08400, 1.08900)
    assert (again.status, again.retcode) == (ChangeStatus.DONE, 10025)  # "no changes": what was asked is there
    too_close = rig.terminal.modify_position(opened.position, 1.08600, 1.08900)
    assert (too_close.status, too_close.retcode) == (ChangeStatus.REJECTED, 10016)
    position = rig.terminal.position(opened.position)
    assert position is not None and (position.sl, position.tp) == (1.084, 1.089)
    cleared = rig.terminal.modify_position(opened.position, 1.08400, None)
    assert cleared.done
    position = rig.terminal.position(opened.position)
    assert position is not None and position.tp is None
    rig.terminal.close_position(opened.position)
    with pytest.raises(UserError, match="not open"):
        rig.terminal.modify_position(opened.position, 1.08400, None)


def test_a_stop_inside_the_freeze_level_is_refused_as_frozen(rig: Rig) -> None:
    rig.control.hold_price("XAUUSD.m", 2650.00)
    opened = rig.terminal.send_market_order(MarketOrder("XAUUSD.m", Side.BUY, 0.1, sl=2649.50))
    rig.control.hold_price("XAUUSD.m", 2649.65)
    frozen = rig.terminal.modify_position(opened.position, 2649.00, None)
    assert (frozen.status, frozen.retcode) == (ChangeStatus.REJECTED, 10029)
