"""Helpers for driving a simulator through the MT5 API in tests."""

from __future__ import annotations

from typing import Any

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.model import new_state

# 2025-06-02 10:00:00 UTC, a Monday morning.
EPOCH_MS = 1_748_858_400_000
OFFSET_S = 2 * 3600


def frozen_simulator(*, seed: int = 7) -> SimulatedMt5:
    """Return an initialized simulator whose clock moves only when told to."""
    sim = SimulatedMt5(state=new_state(now_ms=EPOCH_MS, manual_clock=True, seed=seed))
    assert sim.initialize()
    return sim


def market(sim: Any, symbol: str, order_type: int, volume: float, *, filling: int | None = None, sl: float = 0.0,
           tp: float = 0.0, comment: str = "", magic: int = 0, position: int = 0, deviation: int = 20) -> Any:
    """Send a market order at the current price with the symbol's first allowed filling mode."""
    assert sim.symbol_select(symbol, True)
    tick = sim.symbol_info_tick(symbol)
    if filling is None:
        flags = sim.symbol_info(symbol).filling_mode
        filling = mt5.ORDER_FILLING_FOK if flags & mt5.SYMBOL_FILLING_FOK else mt5.ORDER_FILLING_IOC
    request = {"action": mt5.TRADE_ACTION_DEAL, "symbol": symbol, "volume": volume, "type": order_type,
               "price": tick.ask if order_type == mt5.ORDER_TYPE_BUY else tick.bid, "sl": sl, "tp": tp,
               "deviation": deviation, "magic": magic, "comment": comment, "type_filling": filling,
               "type_time": mt5.ORDER_TIME_GTC}
    if position:
        request["position"] = position
    return sim.order_send(request)
