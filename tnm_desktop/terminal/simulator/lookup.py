"""Finding history orders and deals by ticket or position without reading the whole history.

``history_deals_get(ticket=…)`` follows every filled order (the adapter reads the position an
order opened from its deal), so it must not cost more as the history grows. The history is
append-only (see :mod:`book_store`): each index catches up with what was appended since it last
looked, and starts afresh if the list was replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tnm_desktop.terminal.simulator.model import DealRec, OrderRec, SimState


class _Index:
    """Positions in one append-only list, by the value of one field."""

    def __init__(self, field: str) -> None:
        self._field = field
        self._list: Sequence[Any] | None = None
        self._count = 0
        self._last: object = None
        self._where: dict[int, list[int]] = {}

    def find(self, records: Sequence[Any], value: int) -> list[Any]:
        count = self._count
        if records is not self._list or len(records) < count or (count and records[count - 1] is not self._last):
            self._list, self._where, count = records, {}, 0
        field, where = self._field, self._where
        for i in range(count, len(records)):
            where.setdefault(getattr(records[i], field), []).append(i)
        self._count = len(records)
        self._last = records[-1] if records else None
        return [records[i] for i in where.get(value, ())]


class HistoryLookup:
    """The indexes of one simulator's history."""

    def __init__(self) -> None:
        self._orders_by_ticket = _Index("ticket")
        self._orders_by_position = _Index("position_id")
        self._deals_by_order = _Index("order")
        self._deals_by_position = _Index("position_id")

    def orders(self, state: SimState, *, ticket: int | None = None, position: int | None = None) -> list[OrderRec]:
        """Return the history orders with ``ticket``, or of ``position``, in history order."""
        if ticket is not None:
            return self._orders_by_ticket.find(state.history_orders, ticket)
        return self._orders_by_position.find(state.history_orders, position or 0)

    def deals(self, state: SimState, *, order: int | None = None, position: int | None = None) -> list[DealRec]:
        """Return the deals of ``order``, or of ``position``, in history order."""
        if order is not None:
            return self._deals_by_order.find(state.deals, order)
        return self._deals_by_position.find(state.deals, position or 0)
