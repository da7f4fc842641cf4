"""Column storage of signal rows for the signal log model (no Qt here).

Rows live in append-only stores whose columns are arrays: ids packed 16 bytes apiece, times as
integer microseconds (exact, so the keyset cursor can be rebuilt), symbols, strategies and error
texts as codes into intern tables, prices as doubles (NaN for none), broker order ids as integers.
"""

from __future__ import annotations

import math
import uuid
from array import array
from datetime import UTC, datetime, timedelta

from tnm_desktop.domain import Signal as TvSignal
from tnm_desktop.domain import SignalFilter, SignalStatus

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = list(SignalStatus)
_STATUS_CODES = {status: code for code, status in enumerate(STATUSES)}


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def matches(filters: SignalFilter, signal: TvSignal) -> bool:
    """Whether the database would list ``signal`` under ``filters`` (for live rows)."""
    return ((filters.strategy_id is None or signal.strategy_id == filters.strategy_id)
            and (filters.status is None or signal.status is filters.status)
            and (filters.symbol is None or (signal.symbol or "") == filters.symbol.upper())
            and (filters.since is None or signal.received_at >= filters.since)
            and (filters.until is None or signal.received_at < filters.until))


class Interned:
    """Table of repeated strings (symbols, strategy ids, error texts); code 0 is None."""

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self._codes: dict[str | None, int] = {None: 0}

    def code(self, value: str | None) -> int:
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.values)
            self.values.append(value)
        return found


class Tables:
    """The intern tables a model's two stores share."""

    def __init__(self) -> None:
        self.strategies = Interned()
        self.words = Interned()  # symbols and actions
        self.errors = Interned()  # errors repeat ("Market is closed"): one copy each


def key_of(signal_id: str) -> bytes:
    """A signal id packed into 16 bytes."""
    return bytes.fromhex(signal_id.replace("-", ""))


class Store:
    """Append-only column arrays of signal rows."""

    def __init__(self) -> None:
        self.ids = bytearray()
        self.received = array("q")
        self.strategy = array("I")
        self.symbol = array("I")
        self.action = array("I")
        self.status = array("B")
        self.price = array("d")
        self.fill = array("d")
        self.error = array("I")
        self.order = array("q")  # MT5 tickets are numbers; -1 means none
        self.order_text: dict[int, str] = {}  # the rare broker order id that is not a number

    def __len__(self) -> int:
        return len(self.received)

    def append(self, signal: TvSignal, key: bytes, tables: Tables) -> None:
        self.ids += key
        self.received.append(micros(signal.received_at))
        self.strategy.append(tables.strategies.code(signal.strategy_id))
        self.symbol.append(tables.words.code(signal.symbol))
        self.action.append(tables.words.code(signal.action))
        self.price.append(math.nan if signal.price is None else signal.price)
        self.status.append(0)
        self.fill.append(math.nan)
        self.error.append(0)
        self.order.append(-1)
        self.update(len(self) - 1, signal, tables)

    def update(self, i: int, signal: TvSignal, tables: Tables) -> None:
        # What changes after a signal is logged: its resolution.
        self.status[i] = _STATUS_CODES[signal.status]
        self.fill[i] = math.nan if signal.fill_price is None else signal.fill_price
        self.error[i] = tables.errors.code(signal.error_message or None)
        order = signal.broker_order_id or ""
        self.order_text.pop(i, None)
        if order.isdigit() and len(order) < 19:
            self.order[i] = int(order)
        else:
            self.order[i] = -1
            if order:
                self.order_text[i] = order

    def order_at(self, i: int) -> str:
        number = self.order[i]
        return str(number) if number >= 0 else self.order_text.get(i, "")

    def rfind(self, key: bytes) -> int | None:
        # bytes.rfind over the packed ids runs in C, from the newest row back; misaligned hits skipped.
        ids = self.ids
        pos = ids.rfind(key)
        while pos != -1 and pos % 16:
            pos = ids.rfind(key, 0, pos + 15)
        return None if pos == -1 else pos // 16

    def find_sorted(self, key: bytes, received: int) -> int | None:
        # The tail is newest first: binary search for the timestamp, then compare the few ties.
        times = self.received
        low, high = 0, len(times)
        while low < high:
            middle = (low + high) // 2
            if times[middle] > received:
                low = middle + 1
            else:
                high = middle
        while low < len(times) and times[low] == received:
            if self.ids[low * 16:low * 16 + 16] == key:
                return low
            low += 1
        return None

    def id_at(self, i: int) -> str:
        return str(uuid.UUID(bytes=bytes(self.ids[i * 16:i * 16 + 16])))
