"""Margin, profit and tick values in the account currency, as MT5 computes them.

Amounts in another currency are converted through a symbol that quotes that currency against
the account currency, on the side that is worse for the trader: a gain in yen is bought into
dollars at USDJPY's ask, a loss at its bid; that is why ``trade_tick_value_loss`` is a little
larger than ``trade_tick_value_profit`` on JPY pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.catalog import SymbolSpec

Quote = Callable[[str], tuple[float, float]]  # symbol -> (bid, ask) now


def conversion(currency: str, account: str, symbols: Sequence[SymbolSpec], quote: Quote, *, gain: bool) -> float:
    """Return the factor turning an amount in ``currency`` into the account currency.

    Raises:
        ValueError: no symbol quotes the two currencies against each other.
    """
    if currency == account:
        return 1.0
    for spec in symbols:
        if spec.calc_mode != mt5.SYMBOL_CALC_MODE_FOREX:
            continue
        bid, ask = quote(spec.name)
        if spec.currency_base == currency and spec.currency_profit == account:
            return bid if gain else ask
        if spec.currency_base == account and spec.currency_profit == currency:
            return 1.0 / (ask if gain else bid)
    raise ValueError(f"no symbol converts {currency} into {account}")


def margin(spec: SymbolSpec, volume: float, price: float, *, leverage: int, account: str,
           symbols: Sequence[SymbolSpec], quote: Quote) -> float:
    """Return the margin of ``volume`` lots opened at ``price``, in the account currency."""
    units = volume * spec.contract_size
    if spec.calc_mode == mt5.SYMBOL_CALC_MODE_FOREX:
        amount = units / leverage * spec.margin_rate
    elif spec.calc_mode == mt5.SYMBOL_CALC_MODE_CFD:
        amount = units * price * spec.margin_rate
    else:  # CFD with leverage
        amount = units * price / leverage * spec.margin_rate
    if spec.currency_margin == account:
        return round(amount, 2)
    if spec.calc_mode == mt5.SYMBOL_CALC_MODE_FOREX and spec.currency_profit == account:
        return round(amount * price, 2)  # EURUSD: euros at the order's own price
    return round(amount * conversion(spec.currency_margin, account, symbols, quote, gain=False), 2)


def profit(spec: SymbolSpec, order_type: int, volume: float, price_open: float, price_close: float, *,
           account: str, symbols: Sequence[SymbolSpec], quote: Quote) -> float:
    """Return the profit of ``volume`` lots from ``price_open`` to ``price_close``, in the account currency."""
    direction = 1.0 if order_type in (mt5.ORDER_TYPE_BUY, mt5.POSITION_TYPE_BUY) else -1.0
    raw = (price_close - price_open) * direction * volume * spec.contract_size
    if spec.currency_profit == account:
        return round(raw, 2)
    return round(raw * conversion(spec.currency_profit, account, symbols, quote, gain=raw >= 0), 2)


def tick_values(spec: SymbolSpec, *, account: str, symbols: Sequence[SymbolSpec],
                quote: Quote) -> tuple[float, float, float]:
    """Return ``(trade_tick_value, trade_tick_value_profit, trade_tick_value_loss)`` for one lot."""
    per_tick = spec.tick_size * spec.contract_size
    if spec.currency_profit == account:
        return per_tick, per_tick, per_tick
    gain = per_tick * conversion(spec.currency_profit, account, symbols, quote, gain=True)
    loss = per_tick * conversion(spec.currency_profit, account, symbols, quote, gain=False)
    return gain, gain, loss
