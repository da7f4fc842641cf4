"""Bars and ticks for the ``copy_rates_*`` and ``copy_ticks_*`` calls (times in server seconds)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import feed
from tnm_desktop.terminal.simulator.broker import Broker
from tnm_desktop.terminal.simulator.catalog import SymbolSpec
from tnm_desktop.terminal.simulator.views import server_s

MAX_BARS = 100_000  # the terminal's "Max. bars in chart"
MAX_TICKS = 1_000_000


def _now_s(broker: Broker) -> int:
    return server_s(broker.state, broker.now_ms)


def _back(timeframe: int, newest: int, count: int) -> list[int]:
    if timeframe == mt5.TIMEFRAME_MN1:
        starts = [newest]
        while len(starts) < count:
            starts.append(feed.previous_bar_start(timeframe, starts[-1]))
        return starts[::-1]
    length = feed.next_bar_start(timeframe, newest) - newest
    return [int(s) for s in newest - np.arange(count - 1, -1, -1, dtype=np.int64) * length]


def _make(broker: Broker, spec: SymbolSpec, timeframe: int, starts: list[int]) -> npt.NDArray[np.void]:
    state = broker.state
    return feed.bars(spec, state.seed, state.shifts.get(spec.name, []), state.account.server_offset_s, timeframe,
                     starts, broker.now_ms, state.holds.get(spec.name, []))


def rates_from_pos(broker: Broker, spec: SymbolSpec, timeframe: int, start_pos: int,
                   count: int) -> npt.NDArray[np.void]:
    """Return ``count`` bars ending ``start_pos`` bars before the current one (0: the forming bar)."""
    count = max(0, min(count, MAX_BARS - start_pos))
    if count == 0:
        return np.zeros(0, dtype=mt5.RATES_DTYPE)
    starts = _back(timeframe, feed.bar_start(timeframe, _now_s(broker)), start_pos + count)
    return _make(broker, spec, timeframe, starts[:count])


def rates_from(broker: Broker, spec: SymbolSpec, timeframe: int, date_from: int, count: int) -> npt.NDArray[np.void]:
    """Return ``count`` bars ending with the one open at ``date_from``."""
    newest = feed.bar_start(timeframe, min(date_from, _now_s(broker)))
    return _make(broker, spec, timeframe, _back(timeframe, newest, max(0, min(count, MAX_BARS))))


def rates_range(broker: Broker, spec: SymbolSpec, timeframe: int, date_from: int,
                date_to: int) -> npt.NDArray[np.void]:
    """Return the bars opening between ``date_from`` and ``date_to`` (inclusive)."""
    last = min(date_to, _now_s(broker))
    start = feed.bar_start(timeframe, date_from)
    if start < date_from:
        start = feed.next_bar_start(timeframe, start)
    starts: list[int] = []
    while start <= last and len(starts) < MAX_BARS:
        starts.append(start)
        start = feed.next_bar_start(timeframe, start)
    return _make(broker, spec, timeframe, starts)


def _ticks(broker: Broker, spec: SymbolSpec, first: int, last: int, count: int) -> npt.NDArray[np.void]:
    last = min(last, _now_s(broker))
    count = max(0, min(count, last - first + 1, MAX_TICKS))
    state = broker.state
    seconds = np.arange(first, first + count, dtype=np.int64)
    return feed.ticks(spec, state.seed, state.shifts.get(spec.name, []), state.account.server_offset_s, seconds,
                      state.holds.get(spec.name, []))


def ticks_from(broker: Broker, spec: SymbolSpec, date_from: int, count: int) -> npt.NDArray[np.void]:
    """Return up to ``count`` ticks from ``date_from`` on (one a second)."""
    return _ticks(broker, spec, date_from, _now_s(broker), count)


def ticks_range(broker: Broker, spec: SymbolSpec, date_from: int, date_to: int) -> npt.NDArray[np.void]:
    """Return the ticks between ``date_from`` and ``date_to`` (inclusive)."""
    return _ticks(broker, spec, date_from, date_to, MAX_TICKS)
