"""Volume sizing against hand-computed lots."""

from __future__ import annotations

import pytest
from tnm_desktop.agent.sizing import Contract, size_by_risk, size_fixed, stop_distance
from tnm_desktop.domain.pips import InstrumentKind
from tnm_desktop.errors import UserError

# Contract data as a USD account sees it (tick value per lot, for a loss).
EURUSD = Contract("EURUSD.m", 5, 0.00001, 0.00001, 1.0, 0.01, 0.01, 100.0)
# 100,000 JPY per pip-point; at 150.00 one 0.001 tick is 100 JPY = 0.6667 USD.
USDJPY = Contract("USDJPY.m", 3, 0.001, 0.001, 100 / 150.0, 0.01, 0.01, 100.0)
XAUUSD = Contract("XAUUSD.m", 2, 0.01, 0.01, 1.0, 0.01, 0.01, 50.0, kind=InstrumentKind.METAL)  # 100 oz per lot
US30 = Contract("US30.m", 1, 0.1, 0.1, 0.1, 0.1, 0.1, 50.0, kind=InstrumentKind.INDEX)  # 1 USD per point per lot
GBPUSD_COARSE = Contract("GBPUSD.x", 5, 0.00001, 0.00001, 1.0, 0.1, 0.1, 20.0)  # broker with 0.1 steps


@pytest.mark.parametrize(
    ("contract", "balance", "risk", "stop_pips", "stop_price", "entry", "expected"),
    [
        # $100 at risk; 20 pips = 200 ticks x $1 = $200 per lot -> 0.50
        (EURUSD, 10_000, 1.0, 20, None, 1.08500, 0.50),
        # $50; 15 pips = $150 per lot -> 0.3333 -> 0.33 (down, never more risk)
        (EURUSD, 5_000, 1.0, 15, None, 1.08500, 0.33),
        # $100; 30 pips = 300 ticks x $0.6667 = $200 per lot -> 0.50
        (USDJPY, 10_000, 1.0, 30, None, 150.000, 0.50),
        # $200; stop 5.00 away = 500 ticks x $1 = $500 per lot -> 0.40
        (XAUUSD, 20_000, 1.0, None, 2645.00, 2650.00, 0.40),
        # $250; stop 120 points away = 1200 ticks x $0.1 = $120 per lot -> 2.0833 -> 2.0
        (US30, 10_000, 2.5, None, 41880.0, 42000.0, 2.0),
        # $30; 10 pips = $100 per lot -> 0.3 at a 0.1 step
        (GBPUSD_COARSE, 3_000, 1.0, 10, None, 1.27000, 0.3),
        # $1,000; 5 pips = $50 per lot -> 20 lots, above the 20-lot max? equal: allowed
        (GBPUSD_COARSE, 100_000, 1.0, 5, None, 1.27000, 20.0),
    ],
)
def test_size_by_risk(contract: Contract, balance: float, risk: float, stop_pips: float | None,
                      stop_price: float | None, entry: float, expected: float) -> None:
    distance = stop_distance(contract, entry, pips=stop_pips, price=stop_price)
    sized = size_by_risk(contract, balance=balance, risk_pct=risk, distance=distance)
    assert sized.volume == pytest.approx(expected)
    assert sized.risk_money == pytest.approx(balance * risk / 100)


def test_pip_convention() -> None:
    assert EURUSD.pip == pytest.approx(0.0001)
    assert USDJPY.pip == pytest.approx(0.01)
    assert XAUUSD.pip == pytest.approx(0.10)
    assert US30.pip == pytest.approx(1.0)


def test_caps_by_the_traders_max_and_the_symbol_max() -> None:
    distance = stop_distance(EURUSD, 1.085, pips=10, price=None)
    capped = size_by_risk(EURUSD, balance=1_000_000, risk_pct=2, distance=distance, max_lot_size=5)
    assert capped.volume == 5.0 and "capped" in capped.note
    huge = size_by_risk(EURUSD, balance=100_000_000, risk_pct=10, distance=distance)
    assert huge.volume == 100.0


def test_refuses_when_the_minimum_volume_risks_more_than_asked() -> None:
    distance = stop_distance(XAUUSD, 2650.0, pips=None, price=2600.0)  # $5,000 per lot
    with pytest.raises(UserError) as raised:
        size_by_risk(XAUUSD, balance=1_000, risk_pct=1, distance=distance)  # $10 < $50 for 0.01
    assert raised.value.code == "risk_too_small"
    assert "50.00" in raised.value.message


def test_fixed_lots_round_down_to_the_step() -> None:
    assert size_fixed(GBPUSD_COARSE, 0.37).volume == pytest.approx(0.3)
    assert size_fixed(EURUSD, 0.123).volume == pytest.approx(0.12)
    with pytest.raises(UserError):
        size_fixed(US30, 0.05)
    assert size_fixed(EURUSD, 250).volume == 100.0


def test_float_steps_do_not_lose_a_step() -> None:
    # 0.3 / 0.1 is 2.9999999999999996 in binary floating point; Decimal keeps it 3 steps.
    assert size_fixed(GBPUSD_COARSE, 0.3).volume == pytest.approx(0.3)
    assert size_fixed(EURUSD, 0.07).volume == pytest.approx(0.07)


def test_a_stop_on_the_price_grid_gives_the_exact_distance() -> None:
    # 1.08 - 1.0775 is 0.0025000000000001688 in binary floating point: unrounded, 0.39 lots.
    distance = stop_distance(EURUSD, 1.08, pips=None, price=1.0775)
    assert size_by_risk(EURUSD, balance=10_000, risk_pct=1.0, distance=distance).volume == 0.4
