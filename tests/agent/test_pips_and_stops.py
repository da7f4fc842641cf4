"""What a pip is on each kind of symbol, and stops that never fail on the broker's stops level."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tnm_desktop.agent.closing import contract_of
from tnm_desktop.agent.sizing import Contract
from tnm_desktop.agent.stop_levels import margin_points, place_stops
from tnm_desktop.domain.pips import InstrumentKind, describe_pip, instrument_kind, pip_size
from tnm_desktop.domain.trade import Level
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.port import Quote, Side
from tnm_desktop.terminal.simulator.api import SimulatedMt5


@pytest.mark.parametrize(("kind", "digits", "point", "pip"), [
    (InstrumentKind.FX, 5, 0.00001, 0.0001),  # EURUSD 1.08123
    (InstrumentKind.FX, 3, 0.001, 0.01),  # USDJPY 151.234
    (InstrumentKind.FX, 4, 0.0001, 0.0001),  # a 4-digit EURUSD quote
    (InstrumentKind.FX, 2, 0.01, 0.01),  # a 2-digit USDJPY quote
    (InstrumentKind.METAL, 2, 0.01, 0.10),  # XAUUSD 2650.12
    (InstrumentKind.METAL, 3, 0.001, 0.01),  # XAGUSD 31.123
    (InstrumentKind.INDEX, 1, 0.1, 1.0),  # US30 42000.5
    (InstrumentKind.INDEX, 2, 0.01, 1.0),  # DE40 18000.25
    (InstrumentKind.INDEX, 0, 1.0, 1.0),  # JP225 38000
    (InstrumentKind.OTHER, 2, 0.01, 0.10),  # BTCUSD 65000.12
])
def test_pip_size_by_kind_digits_and_point(kind: InstrumentKind, digits: int, point: float, pip: float) -> None:
    assert pip_size(kind, digits, point) == pytest.approx(pip)


def test_the_connections_pip_size_wins_over_the_rule() -> None:
    assert pip_size(InstrumentKind.METAL, 2, 0.01, override=0.01) == pytest.approx(0.01)
    assert pip_size(InstrumentKind.METAL, 2, 0.01, override=0) == pytest.approx(0.10)  # 0 is no setting
    assert describe_pip(0.0001) == "0.0001" and describe_pip(1.0) == "1"


@pytest.mark.parametrize(("fields", "kind"), [
    ({"path": "Forex\\Majors\\EURUSD.m", "calc_mode": "forex", "currency_base": "EUR", "currency_profit": "USD"},
     InstrumentKind.FX),
    ({"path": "Metals\\XAUUSD.m", "calc_mode": "forex", "currency_base": "XAU", "currency_profit": "USD"},
     InstrumentKind.METAL),  # many brokers price gold as Forex: the base currency decides
    ({"path": "Indices\\US30.m", "calc_mode": "cfd_leverage", "currency_base": "USD", "currency_profit": "USD"},
     InstrumentKind.INDEX),
    ({"path": "CFD\\GER40", "calc_mode": "cfd_index", "currency_base": "EUR", "currency_profit": "EUR"},
     InstrumentKind.INDEX),
    ({"path": "Crypto\\BTCUSD.m", "calc_mode": "cfd_leverage", "currency_base": "BTC", "currency_profit": "USD"},
     InstrumentKind.OTHER),
    ({"path": "", "calc_mode": "", "currency_base": "GBP", "currency_profit": "JPY"}, InstrumentKind.FX),
    ({"path": "", "calc_mode": "", "currency_base": "BTC", "currency_profit": "USD"}, InstrumentKind.OTHER),
    ({"path": "Stocks\\AAPL", "calc_mode": "exchange", "currency_base": "USD", "currency_profit": "USD"},
     InstrumentKind.OTHER),
])
def test_instrument_kind(fields: dict[str, str], kind: InstrumentKind) -> None:
    assert instrument_kind(**fields) is kind


@pytest.mark.parametrize(("symbol", "kind", "pip", "stops_level"), [
    ("EURUSD.m", InstrumentKind.FX, 0.0001, 0),
    ("USDJPY.m", InstrumentKind.FX, 0.01, 0),
    ("XAUUSD.m", InstrumentKind.METAL, 0.10, 50),
    ("US30.m", InstrumentKind.INDEX, 1.0, 100),
    ("BTCUSD.m", InstrumentKind.OTHER, 0.10, 1000),
])
def test_the_simulators_symbols_through_the_real_adapter(symbol: str, kind: InstrumentKind, pip: float,
                                                         stops_level: int) -> None:
    api = SimulatedMt5()
    terminal = Mt5Terminal(api)
    terminal.connect()
    try:
        contract = contract_of(terminal.symbol(symbol))
    finally:
        terminal.shutdown()
    assert (contract.kind, contract.stops_level) == (kind, stops_level)
    assert contract.pip == pytest.approx(pip)


GOLD = Contract("XAUUSD.m", 2, 0.01, 0.01, 1.0, 0.01, 0.01, 50.0, kind=InstrumentKind.METAL, stops_level=50)
EURUSD = Contract("EURUSD.m", 5, 0.00001, 0.00001, 1.0, 0.01, 0.01, 100.0)
NOW = datetime(2025, 12, 10, 12, tzinfo=UTC)
GOLD_QUOTE = Quote("XAUUSD.m", 2650.00, 2650.25, NOW)  # spread 25 points


def test_pips_far_enough_are_kept_as_they_are() -> None:
    stops = place_stops(GOLD, Side.BUY, GOLD_QUOTE, Level(pips=20), Level(pips=40))
    assert (stops.sl, stops.tp, stops.notes) == (2648.25, 2654.25, ())  # 20 pips = 2.00 on gold


def test_a_stop_in_pips_closer_than_the_stops_level_is_widened_and_says_so() -> None:
    # 2 pips = 0.20 from the ask is 0.05 above the bid... for a buy's stop, beyond the 0.50 minimum.
    stops = place_stops(GOLD, Side.BUY, GOLD_QUOTE, Level(pips=2), None)
    assert stops.sl is not None
    needed = (50 + margin_points(50)) * 0.01
    assert GOLD_QUOTE.bid - stops.sl == pytest.approx(needed)
    assert stops.notes == (
        f"The stop loss was widened from 2 pips (0.20) to {GOLD_QUOTE.ask - stops.sl:.2f} from the price: "
        "XAUUSD.m needs at least 0.50 from the market (50 points, the broker's stops level).",)


def test_a_sells_stops_are_measured_from_the_ask() -> None:
    stops = place_stops(GOLD, Side.SELL, GOLD_QUOTE, Level(pips=1), Level(pips=1))
    assert stops.sl is not None and stops.tp is not None
    assert round((stops.sl - GOLD_QUOTE.ask) / 0.01) >= 50
    assert round((GOLD_QUOTE.ask - stops.tp) / 0.01) >= 50
    assert len(stops.notes) == 2 and stops.notes[1].startswith("The take profit was widened")


def test_a_stop_price_closer_than_the_stops_level_is_refused_with_the_distance_needed() -> None:
    with pytest.raises(UserError) as refused:
        place_stops(GOLD, Side.BUY, GOLD_QUOTE, Level(price=2649.80), None)
    assert refused.value.code == "invalid_stops"
    assert refused.value.message == (
        "The stop loss 2649.8 is 0.20 from the market; XAUUSD.m needs at least 0.50 (50 points, the broker's "
        "stops level). Set it further away, or give it in pips: a distance in pips is widened to the minimum.")


def test_a_stop_price_on_the_wrong_side_is_refused() -> None:
    with pytest.raises(UserError, match=r"^The take profit 2640 must be above the buy price 2650\.25\.$"):
        place_stops(GOLD, Side.BUY, GOLD_QUOTE, None, Level(price=2640))


def test_a_symbol_without_a_stops_level_still_keeps_stops_off_the_spread() -> None:
    quote = Quote("EURUSD.m", 1.08500, 1.08512, NOW)
    stops = place_stops(EURUSD, Side.BUY, quote, Level(pips=0.5), None)  # 5 points: inside the 12-point spread
    assert stops.sl is not None and quote.bid - stops.sl >= 2 * 0.00001 - 1e-12
    assert stops.notes and "widened" in stops.notes[0]


def test_pip_sizes_as_the_trader_types_them() -> None:
    from tnm_desktop.domain.pips import format_pip_sizes, parse_pip_sizes

    assert parse_pip_sizes(" xauusd=0.01; US30 = 0.1\nGER40.cash=1,") == {"XAUUSD": 0.01, "US30": 0.1,
                                                                          "GER40.CASH": 1.0}
    assert format_pip_sizes({"XAUUSD": 0.01, "US30": 0.1}) == "US30=0.1, XAUUSD=0.01"
    assert parse_pip_sizes("") == {}
    for text, message in (("XAUUSD", "“XAUUSD” is not a pip size: write SYMBOL=size, like XAUUSD=0.01."),
                          ("XAUUSD=-1", "The pip size of XAUUSD must be a positive number, like 0.01 (got “-1”)."),
                          ("XAUUSD=nan", "The pip size of XAUUSD must be a positive number, like 0.01 (got “nan”)."),
                          ("gold=0.1, GOLD=0.01", "GOLD has two pip sizes.")):
        with pytest.raises(UserError) as refused:
            parse_pip_sizes(text)
        assert refused.value.message == message
