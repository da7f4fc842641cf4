"""The risk limits as rules: the broker's trading day, the day's loss, and which limit refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from tnm_desktop.domain.risk import (
    DailyLossLock,
    Money,
    RiskLimits,
    RiskState,
    check_entry,
    daily_loss_reached,
    day_figures,
    trading_day,
)
from tnm_desktop.errors import UserError

OFFSET = timedelta(hours=2)  # the trade server runs two hours ahead of UTC


def test_the_trading_day_is_the_servers_day() -> None:
    # 23:30 UTC is already 01:30 on the server: the next day has begun there.
    day, start, next_start = trading_day(datetime(2025, 12, 10, 23, 30, tzinfo=UTC), OFFSET)
    assert day == date(2025, 12, 11)
    assert start == datetime(2025, 12, 10, 22, 0, tzinfo=UTC)
    assert next_start == datetime(2025, 12, 11, 22, 0, tzinfo=UTC)


def test_the_days_loss_is_realised_plus_floating_against_the_balance_at_the_start() -> None:
    now = datetime(2025, 12, 10, 12, tzinfo=UTC)
    # Since the day began: a closed loss of -150 with -5 commission, and a position now 90 down.
    # Balance now: 10,000 - 155 = 9,845.
    figures = day_figures(now=now, server_offset=OFFSET, balance=9_845.0, floating=-90.0,
                          deals_today=[Money(-155.0, trading=True)], currency="USD")
    assert figures.start_balance == 10_000.0
    assert (figures.realised, figures.floating, figures.pnl) == (-155.0, -90.0, -245.0)
    assert figures.loss_pct == pytest.approx(2.45)
    assert figures.describe() == ("balance at the start of the trading day 10,000.00 USD; realised -155.00, "
                                  "floating -90.00")


def test_money_deposited_during_the_day_is_neither_profit_nor_loss() -> None:
    # A new account funded this morning with 5,000, then 100 lost: 2 % of what it started trading with.
    figures = day_figures(now=datetime(2025, 12, 10, 12, tzinfo=UTC), server_offset=OFFSET, balance=4_900,
                          floating=0, deals_today=[Money(5_000, trading=False), Money(-100, trading=True)])
    assert (figures.start_balance, figures.realised, figures.loss_pct) == (5_000, -100, 2.0)


def test_a_profitable_day_has_no_loss() -> None:
    figures = day_figures(now=datetime(2025, 12, 10, 12, tzinfo=UTC), server_offset=OFFSET, balance=10_100,
                          floating=-50, deals_today=[Money(100, trading=True)])
    assert figures.loss_pct == 0


def _figures(loss: float) -> object:
    return day_figures(now=datetime(2025, 12, 10, 12, tzinfo=UTC), server_offset=OFFSET, balance=10_000,
                       floating=-loss, deals_today=[], currency="USD")


def _check(limits: RiskLimits, *, loss: float = 0, equity: float = 10_000, lock: DailyLossLock | None = None,
           open_positions: int = 0, symbol_positions: int = 0) -> None:
    check_entry(limits, now=datetime(2025, 12, 10, 12, tzinfo=UTC), figures=_figures(loss),  # type: ignore[arg-type]
                equity=equity, lock=lock, open_positions=open_positions, symbol_positions=symbol_positions,
                symbol="EURUSD.m")


def test_every_refusal_names_its_limit_and_the_figures() -> None:
    cases = [
        (RiskLimits(trading_enabled=False, trading_off_reason="trading was stopped with Stop trading in the app"),
         {}, "trading_disabled",
         "Trading switch: trading was stopped with Stop trading in the app. New entries are refused until trading "
         "is turned on again; closes still run."),
        (RiskLimits(max_daily_loss_pct=2), {"loss": 240}, "daily_loss",
         "Maximum daily loss: daily loss 2.4 % reached the 2 % limit (balance at the start of the trading day "
         "10,000.00 USD; realised +0.00, floating -240.00). New entries are refused until the broker's next "
         "trading day; closes still run."),
        (RiskLimits(equity_floor=9_500), {"equity": 9_400}, "equity_floor",
         "Equity floor: equity 9,400.00 is below the floor of 9,500.00."),
        (RiskLimits(max_open_positions=3), {"open_positions": 3}, "max_positions",
         "Maximum open positions: 3 positions are open; the limit is 3."),
        (RiskLimits(max_positions_per_symbol=1), {"open_positions": 2, "symbol_positions": 1}, "max_positions_symbol",
         "Maximum positions per symbol: 1 EURUSD.m positions are open; the limit is 1 per symbol."),
    ]
    for limits, figures, code, message in cases:
        with pytest.raises(UserError) as refused:
            _check(limits, **figures)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.message) == (code, message)


def test_within_every_limit_nothing_is_refused() -> None:
    _check(RiskLimits(max_daily_loss_pct=2, equity_floor=9_000, max_open_positions=3, max_positions_per_symbol=2),
           loss=199, equity=9_801, open_positions=2, symbol_positions=1)


def test_a_lock_holds_for_the_day_until_the_limit_is_raised() -> None:
    now = datetime(2025, 12, 10, 12, tzinfo=UTC)
    lock = DailyLossLock(date(2025, 12, 10), now + timedelta(hours=10), 2.0, 2.4, "daily loss 2.4 % reached the 2 % limit")
    # The loss has come back under the limit, but it was reached today: still refused.
    with pytest.raises(UserError, match=r"^Maximum daily loss: daily loss 2\.4 % reached the 2 % limit\. "):
        _check(RiskLimits(max_daily_loss_pct=2), loss=50, lock=lock)
    assert lock.holds(RiskLimits(max_daily_loss_pct=1.5), now)
    assert not lock.holds(RiskLimits(max_daily_loss_pct=3), now)  # raised: trading may go on
    assert not lock.holds(RiskLimits(max_daily_loss_pct=None), now)  # removed
    assert not lock.holds(RiskLimits(max_daily_loss_pct=2), now + timedelta(hours=11))  # the next day
    _check(RiskLimits(max_daily_loss_pct=3), loss=50, lock=lock)


def test_the_limit_reached_exactly_counts() -> None:
    assert daily_loss_reached(RiskLimits(max_daily_loss_pct=2), _figures(200)) is not None  # type: ignore[arg-type]
    assert daily_loss_reached(RiskLimits(max_daily_loss_pct=2), _figures(199.99)) is None  # type: ignore[arg-type]
    assert daily_loss_reached(RiskLimits(), _figures(5_000)) is None  # type: ignore[arg-type]


def test_risk_state_reads_what_the_database_returns() -> None:
    state = RiskState.from_json({
        "limits": {"trading_enabled": True, "trading_off_reason": None, "max_daily_loss_pct": 2,
                   "close_all_on_daily_loss": True, "equity_floor": 9000.5, "max_open_positions": 3,
                   "max_positions_per_symbol": None, "max_lot_size": 1.5},
        "lock": {"trading_day": "2025-12-10", "until": "2025-12-10T22:00:00+00:00", "limit_pct": 2, "loss_pct": 2.4,
                 "reason": "r"}})
    assert state.limits == RiskLimits(max_daily_loss_pct=2.0, close_all_on_daily_loss=True, equity_floor=9000.5,
                                      max_open_positions=3, max_lot_size=1.5)
    assert state.lock == DailyLossLock(date(2025, 12, 10), datetime(2025, 12, 10, 22, tzinfo=UTC), 2.0, 2.4, "r")
    assert RiskState.from_json('{"limits": {}, "lock": null}') == RiskState(RiskLimits())
