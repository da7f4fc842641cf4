"""A deterministic price feed: the bid of every symbol as a pure function of time.

The bid wanders around the symbol's anchor as a sum of smooth value-noise layers, from one
second to one week, whose amplitudes grow with the square root of their period — it looks like
a random walk at every horizon yet stays within a few daily ranges of the anchor. The noise is
a hash of (seed, symbol, layer, knot), so any moment's price can be computed directly: history
bars, ticks and the current quote agree with each other, and a restarted simulator continues
the same feed without having saved it. Manual moves (``set_price``, ``step``) are stored as
price shifts that take effect at a moment and stay until the next one. A held price
(``hold_price``: a test scripting a price path) replaces the wandering bid exactly from its
moment until the next hold or its release.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.catalog import SymbolSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_LAYERS = (1, 10, 60, 600, 3600, 14_400, 86_400, 604_800)  # seconds between knots
_AMPLITUDE = 0.8  # share of the daily volatility one layer of one day contributes
_BAR_SAMPLES = 12  # prices sampled inside a bar to find its high and low

_MINUTE_FRAMES = {mt5.TIMEFRAME_M1: 1, mt5.TIMEFRAME_M2: 2, mt5.TIMEFRAME_M3: 3, mt5.TIMEFRAME_M4: 4,
                  mt5.TIMEFRAME_M5: 5, mt5.TIMEFRAME_M6: 6, mt5.TIMEFRAME_M10: 10, mt5.TIMEFRAME_M12: 12,
                  mt5.TIMEFRAME_M15: 15, mt5.TIMEFRAME_M20: 20, mt5.TIMEFRAME_M30: 30, mt5.TIMEFRAME_H1: 60,
                  mt5.TIMEFRAME_H2: 120, mt5.TIMEFRAME_H3: 180, mt5.TIMEFRAME_H4: 240, mt5.TIMEFRAME_H6: 360,
                  mt5.TIMEFRAME_H8: 480, mt5.TIMEFRAME_H12: 720, mt5.TIMEFRAME_D1: 1440, mt5.TIMEFRAME_W1: 10_080}
TIMEFRAMES = frozenset({*_MINUTE_FRAMES, mt5.TIMEFRAME_MN1})
_SUNDAY = 3 * 86_400  # 1970-01-04, a Sunday: MT5 weekly bars open on Sunday


_MASK = (1 << 64) - 1


@functools.lru_cache(maxsize=4096)
def _layer_seed(seed: int, symbol: str, layer: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{symbol}:{layer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _layer_key(seed: int, symbol: str, layer: int) -> np.uint64:
    return np.uint64(_layer_seed(seed, symbol, layer))


def _unit(key: np.uint64, knots: IntArray) -> FloatArray:
    # splitmix64 over (knot, key): uniform in [-1, 1). Arrays only: numpy wraps uint64 silently there.
    x = knots.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ key
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**52) - 1.0


@functools.lru_cache(maxsize=8192)
def _unit_one(key: int, knot: int) -> float:
    # _unit of one knot in Python integers: the same bits (every step is taken mod 2**64). Cached:
    # a quote asks for 16 knots, and all but the shortest layers' stay the same for minutes.
    x = ((knot & _MASK) * 0x9E3779B97F4A7C15 & _MASK) ^ key
    x ^= x >> 30
    x = x * 0xBF58476D1CE4E5B9 & _MASK
    x ^= x >> 27
    x = x * 0x94D049BB133111EB & _MASK
    x ^= x >> 31
    return float(x >> 11) / float(2**52) - 1.0


def _noise_one(seed: int, symbol: str, daily_vol: float, second: float) -> float:
    # noise() of one moment with Python floats: the same operations in the same order, so the
    # same value, without numpy's per-call cost on one-element arrays (a quote is one moment,
    # and the agent asks for quotes on every trade's path).
    total = 0.0
    for layer in _LAYERS:
        amplitude = _AMPLITUDE * daily_vol * math.sqrt(layer / 86_400)
        position = second / layer
        knot = math.floor(position)
        frac = position - knot
        weight = frac * frac * (3.0 - 2.0 * frac)
        key = _layer_seed(seed, symbol, layer)
        total += amplitude * (_unit_one(key, knot) * (1.0 - weight) + _unit_one(key, knot + 1) * weight)
    return total


def noise(seed: int, symbol: str, daily_vol: float, seconds: FloatArray) -> FloatArray:
    """Return the relative (log) deviation from the anchor at each of ``seconds`` (UTC)."""
    seconds = np.atleast_1d(np.asarray(seconds, dtype=np.float64))
    if seconds.size == 1:
        return np.full(seconds.shape, _noise_one(seed, symbol, daily_vol, float(seconds.flat[0])))
    total = np.zeros_like(seconds)
    for layer in _LAYERS:
        amplitude = _AMPLITUDE * daily_vol * math.sqrt(layer / 86_400)
        position = seconds / layer
        knot = np.floor(position)
        frac = position - knot
        weight = frac * frac * (3.0 - 2.0 * frac)  # smoothstep: no kinks at the knots
        key = _layer_key(seed, symbol, layer)
        knots = knot.astype(np.int64)
        total += amplitude * (_unit(key, knots) * (1.0 - weight) + _unit(key, knots + 1) * weight)
    return total


def shift_at(shifts: Sequence[tuple[int, float]], times_ms: npt.ArrayLike) -> FloatArray:
    """Return the manual price shift in force at each of ``times_ms``."""
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    if not shifts:
        return np.zeros(times.shape, dtype=np.float64)
    starts = np.array([s[0] for s in shifts], dtype=np.int64)
    values = np.array([0.0, *(s[1] for s in shifts)], dtype=np.float64)
    return values[np.searchsorted(starts, times, side="right")]


def raw_bids(spec: SymbolSpec, seed: int, times_ms: npt.ArrayLike) -> FloatArray:
    """Return the bid without manual shifts (unrounded)."""
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    return spec.anchor * np.exp(noise(seed, spec.name, spec.daily_vol, times / 1000.0))


def held_at(holds: Sequence[tuple[int, float | None]], times_ms: npt.ArrayLike) -> FloatArray:
    """Return the held bid in force at each of ``times_ms`` (NaN where the price is not held)."""
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    if not holds:
        return np.full(times.shape, np.nan)
    starts = np.array([h[0] for h in holds], dtype=np.int64)
    values = np.array([np.nan, *(np.nan if h[1] is None else h[1] for h in holds)], dtype=np.float64)
    return values[np.searchsorted(starts, times, side="right")]


def round_like_numpy(value: float, digits: int) -> float:
    """``np.round`` of one float64, in Python floats: the same bits at a fraction of the cost.

    numpy multiplies by 10**digits, rounds half to even and divides back; Python's ``round`` of a
    float rounds half to even as well. numpy's scalar calls cost 30-130 µs each on a process
    that has sat idle (measured here), and a quote made ten of them.
    """
    scale = 10.0 ** digits
    scaled = value * scale
    if not math.isfinite(scaled):
        return value
    whole = round(scaled)
    return whole / scale if whole else math.copysign(0.0, scaled)


def _in_force(moments: Sequence[tuple[int, float | None]], moment_ms: int) -> tuple[bool, float | None]:
    # The last entry at or before moment_ms (entries are in time order), as searchsorted(side="right").
    at = bisect.bisect_right(moments, moment_ms, key=lambda m: m[0])
    return (True, moments[at - 1][1]) if at else (False, None)


def _bid_one(spec: SymbolSpec, seed: int, shifts: Sequence[tuple[int, float]],
             holds: Sequence[tuple[int, float | None]], moment_ms: int) -> float:
    # bids() of one moment: the same float64 operations in the same order (numpy's exp, rounding as
    # np.round does), so the same bits, without numpy's per-call cost on one-element arrays.
    held_from, held = _in_force(holds, moment_ms)
    if held_from and held is not None:
        value = held
    else:
        value = spec.anchor * float(np.exp(_noise_one(seed, spec.name, spec.daily_vol, moment_ms / 1000.0)))
        value += _in_force(shifts, moment_ms)[1] or 0.0
    bid = round_like_numpy(value, spec.digits)
    return bid if bid >= spec.point or bid != bid else spec.point


def quote_one(spec: SymbolSpec, seed: int, shifts: Sequence[tuple[int, float]],
              holds: Sequence[tuple[int, float | None]], moment_ms: int) -> tuple[float, float]:
    """Return ``(bid, ask)`` at one moment: what :func:`bids` and :func:`asks` give for it."""
    bid = _bid_one(spec, seed, shifts, holds, moment_ms)
    return bid, round_like_numpy(bid + spec.spread * spec.point, spec.digits)


FEW = 4  # up to this many moments, pricing them one by one is cheaper than numpy's array set-up


def bids(spec: SymbolSpec, seed: int, shifts: Sequence[tuple[int, float]], times_ms: npt.ArrayLike,
         holds: Sequence[tuple[int, float | None]] = ()) -> FloatArray:
    """Return the bid at each of ``times_ms`` (UTC milliseconds), rounded to the symbol's digits."""
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    if times.size <= FEW:
        return np.array([_bid_one(spec, seed, shifts, holds, int(t)) for t in times.flat], dtype=np.float64)
    value = raw_bids(spec, seed, times) + shift_at(shifts, times)
    if holds:
        held = held_at(holds, times)
        value = np.where(np.isnan(held), value, held)
    return np.maximum(np.round(value, spec.digits), spec.point)


def asks(spec: SymbolSpec, bid: FloatArray) -> FloatArray:
    """Return the ask for each bid (a fixed spread per symbol)."""
    return np.round(bid + spec.spread * spec.point, spec.digits)


def bar_start(timeframe: int, server_s: int) -> int:
    """Return the opening time (server seconds) of the bar holding ``server_s``."""
    if timeframe == mt5.TIMEFRAME_MN1:
        moment = datetime.fromtimestamp(server_s, tz=UTC)
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())
    length = _MINUTE_FRAMES[timeframe] * 60
    if timeframe == mt5.TIMEFRAME_W1:
        return (server_s - _SUNDAY) // length * length + _SUNDAY
    return server_s // length * length


def next_bar_start(timeframe: int, start: int) -> int:
    """Return the opening time of the bar after the one opening at ``start``."""
    if timeframe == mt5.TIMEFRAME_MN1:
        moment = datetime.fromtimestamp(start, tz=UTC)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    return start + _MINUTE_FRAMES[timeframe] * 60


def previous_bar_start(timeframe: int, start: int) -> int:
    """Return the opening time of the bar before the one opening at ``start``."""
    if timeframe == mt5.TIMEFRAME_MN1:
        return bar_start(timeframe, start - 86_400)
    return start - _MINUTE_FRAMES[timeframe] * 60


def bars(spec: SymbolSpec, seed: int, shifts: Sequence[tuple[int, float]], offset_s: int, timeframe: int,
         starts: Sequence[int], now_ms: int, holds: Sequence[tuple[int, float | None]] = ()) -> npt.NDArray[np.void]:
    """Return the bars opening at ``starts`` (server seconds, oldest first) as the package's rates array."""
    out = np.zeros(len(starts), dtype=mt5.RATES_DTYPE)
    if not starts:
        return out
    begin = np.array(starts, dtype=np.int64)
    end = np.array([next_bar_start(timeframe, s) for s in starts], dtype=np.int64)
    begin_ms = (begin - offset_s) * 1000
    end_ms = np.minimum((end - offset_s) * 1000 - 1, now_ms)
    steps = np.linspace(0.0, 1.0, _BAR_SAMPLES + 1)
    grid = (begin_ms[:, None] + (end_ms - begin_ms)[:, None] * steps[None, :]).astype(np.int64)
    prices = bids(spec, seed, shifts, grid.ravel(), holds).reshape(grid.shape)
    out["time"] = begin
    out["open"] = prices[:, 0]
    out["close"] = prices[:, -1]
    out["high"] = prices.max(axis=1)
    out["low"] = prices.min(axis=1)
    length = (end - begin).astype(np.float64)
    activity = (_unit(_layer_key(seed, spec.name, -timeframe), begin) + 1.5) / 2.5
    out["tick_volume"] = (activity * np.sqrt(length) * 4 + 1).astype(np.uint64)
    out["spread"] = spec.spread
    return out


def ticks(spec: SymbolSpec, seed: int, shifts: Sequence[tuple[int, float]], offset_s: int,
          seconds: IntArray, holds: Sequence[tuple[int, float | None]] = ()) -> npt.NDArray[np.void]:
    """Return one tick per second at ``seconds`` (server time) as the package's ticks array."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = np.zeros(len(seconds), dtype=mt5.TICKS_DTYPE)
    if len(seconds) == 0:
        return out
    bid = bids(spec, seed, shifts, (seconds - offset_s) * 1000, holds)
    out["time"] = seconds
    out["time_msc"] = seconds * 1000
    out["bid"] = bid
    out["ask"] = asks(spec, bid)
    out["flags"] = mt5.TICK_FLAG_BID | mt5.TICK_FLAG_ASK
    return out
