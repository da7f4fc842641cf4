"""The simulator's books in SQLite: one durable commit per change, holding only what changed.

The store is a SQLite database in WAL mode with ``synchronous=FULL``: a commit is on disk when
it returns, so a SIGKILL (or a power cut) right after an order was answered loses nothing, and
SQLite's checkpoints fold the log into the database as it grows. A save compares the books
with what the last one wrote and writes only the difference — the order and deal an order adds,
the position it opened or closed, the account's scalars — in one transaction, so an order costs
the same with an empty history as with a full one.

Tables: ``part`` holds the small parts as JSON (the account, the symbols, the scalars, the
terminal's switches, faults, price shifts, the server's endpoint); ``position``,
``pending_order``, ``history_order`` and ``deal`` hold one record per row, as JSON, in list
order (``seq``). History is append-only: an order or deal never changes once it is in the
history, so a save only appends the new ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from tnm_desktop.terminal.simulator import checked
from tnm_desktop.terminal.simulator.checked import BadState
from tnm_desktop.terminal.simulator.model import (
    DealRec,
    OrderRec,
    PositionRec,
    SimState,
    field_names,
    flat,
)

APPLICATION_ID = 0x544E4D53  # "TNMS": this SQLite file is a TNM simulator state file
FORMAT = 2  # PRAGMA user_version; format 1 was one JSON document rewritten on every change
BUSY_MS = 10_000  # how long a reader waits for the writer's checkpoint (it never holds the lock longer)

SCHEMA = """
create table part (name text primary key, data text not null) without rowid;
create table position (seq integer primary key, data text not null);
create table pending_order (seq integer primary key, data text not null);
create table history_order (seq integer primary key, data text not null);
create table deal (seq integer primary key, data text not null);
"""

# The scalars and small lists kept together in the part "books".
_BOOKS = ("seed", "balance", "credit", "next_order", "next_deal", "next_request", "last_scan_ms", "selected",
          "closed_markets", "clock", "terminal", "faults", "holds")


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _books(state: SimState) -> str:
    data = {name: getattr(state, name) for name in _BOOKS}
    data.update(clock=flat(state.clock), terminal=flat(state.terminal), faults=[flat(f) for f in state.faults])
    return _dumps(data)


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store at ``path`` (which must exist unless ``create``), in autocommit mode."""
    mode = "rwc" if create else "rw"
    db = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, isolation_level=None,
                         check_same_thread=False)
    try:
        db.execute(f"pragma busy_timeout = {BUSY_MS}")
        db.execute("pragma synchronous = full")
    except BaseException:
        db.close()
        raise
    return db


def check_format(db: sqlite3.Connection) -> None:
    """Raise :class:`BadState` unless ``db`` is a simulator store this version can read."""
    application_id = db.execute("pragma application_id").fetchone()[0]
    version = db.execute("pragma user_version").fetchone()[0]
    if application_id != APPLICATION_ID:
        raise BadState("it is a database of another program")
    if version != FORMAT:
        raise BadState(f"its format is {version}, and this version of TNM Desktop reads {FORMAT}")


class _Appended:
    """A history list: rows are only ever appended, so a save writes the records after the last one saved."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._count = 0
        self._last: object = None  # the last record saved: the list must still hold it at its place

    def reset(self, records: Sequence[object]) -> None:
        self._count = len(records)
        self._last = records[-1] if records else None

    def sync(self, db: sqlite3.Connection, records: Sequence[object]) -> bool:
        count = self._count
        if len(records) < count or (count and records[count - 1] is not self._last):
            write_all(db, self.table, records)  # not an append after all: write the list afresh
        elif len(records) == count:
            return False
        else:
            db.executemany(f"insert into {self.table} (seq, data) values (?, ?)",
                           [(count + i + 1, _dumps(flat(r))) for i, r in enumerate(records[count:])])
        self.reset(records)
        return True


class _Changing:
    """Positions or pending orders: rows are added, changed and removed; a save writes those rows only.

    A record is followed by identity (the engine changes records in place) and its saved row by
    the values it held then; references to the saved records keep their ids from being reused.
    """

    def __init__(self, table: str, cls: type[Any]) -> None:
        self.table = table
        self._values: Callable[[Any], tuple[Any, ...]] = attrgetter(*field_names(cls))
        self._kept: dict[int, tuple[object, int, tuple[Any, ...]]] = {}  # id → (record, seq, values)
        self._next = 1

    def reset(self, records: Sequence[object]) -> None:
        self._kept = {id(r): (r, i + 1, self._values(r)) for i, r in enumerate(records)}
        self._next = len(records) + 1

    def sync(self, db: sqlite3.Connection, records: Sequence[object]) -> bool:
        kept, values_of = self._kept, self._values
        writes: list[tuple[int, str]] = []
        new: dict[int, tuple[object, int, tuple[Any, ...]]] = {}
        next_seq, last = self._next, 0
        for record in records:
            values = values_of(record)
            old = kept.get(id(record))
            if old is None:
                seq, next_seq = next_seq, next_seq + 1
            else:
                seq = old[1]
            if seq <= last:  # moved before a record it followed: write the list afresh
                write_all(db, self.table, records)
                self.reset(records)
                return True
            if old is None or old[2] != values:
                writes.append((seq, _dumps(flat(record))))
            new[id(record)] = (record, seq, values)
            last = seq
        gone = [(old[1],) for key, old in kept.items() if key not in new]
        if gone:
            db.executemany(f"delete from {self.table} where seq = ?", gone)
        if writes:
            db.executemany(f"insert or replace into {self.table} (seq, data) values (?, ?)", writes)
        self._kept, self._next = new, next_seq
        return bool(gone or writes)


def write_all(db: sqlite3.Connection, table: str, records: Sequence[object]) -> None:
    """Replace a table's rows with ``records``, in list order."""
    db.execute(f"delete from {table}")
    db.executemany(f"insert into {table} (seq, data) values (?, ?)",
                   [(i + 1, _dumps(flat(r))) for i, r in enumerate(records)])


class BookStore:
    """The open store of a simulator that serves it: the only writer of its file.

    Args:
        db: The connection (see :func:`connect`).
        state: The books as the file holds them now.
    """

    def __init__(self, db: sqlite3.Connection, state: SimState) -> None:
        self._db = db
        self._positions = _Changing("position", PositionRec)
        self._orders = _Changing("pending_order", OrderRec)
        self._history = _Appended("history_order")
        self._deals = _Appended("deal")
        self._rewrite_next = False  # a failed save leaves the trackers ahead of the file: write everything
        self._remember(state)

    def _remember(self, state: SimState) -> None:
        self._books = _books(state)
        self._account = state.account
        self._symbols = list(state.symbols)
        self._shifts = {k: list(v) for k, v in state.shifts.items()}
        self._positions.reset(state.positions)
        self._orders.reset(state.orders)
        self._history.reset(state.history_orders)
        self._deals.reset(state.deals)

    def save(self, state: SimState) -> None:
        """Write what changed since the last save, in one durable transaction."""
        db = self._db
        db.execute("begin immediate")
        try:
            wrote = self._write_changes(state)
        except BaseException:
            db.execute("rollback")
            self._rewrite_next = True
            raise
        db.execute("commit" if wrote else "rollback")

    def _write_changes(self, state: SimState) -> bool:
        db = self._db
        if self._rewrite_next:
            write_state(db, state)
            self._remember(state)
            self._rewrite_next = False
            return True
        wrote = False
        books = _books(state)
        if books != self._books:
            _put(db, "books", books)
            self._books, wrote = books, True
        if state.account != self._account:
            _put(db, "account", _dumps(flat(state.account)))
            self._account, wrote = state.account, True
        if state.symbols != self._symbols:
            _put(db, "symbols", _dumps([flat(s) for s in state.symbols]))
            self._symbols, wrote = list(state.symbols), True
        if state.shifts != self._shifts:
            _put(db, "shifts", _dumps(state.shifts))
            self._shifts, wrote = {k: list(v) for k, v in state.shifts.items()}, True
        wrote = self._positions.sync(db, state.positions) or wrote
        wrote = self._orders.sync(db, state.orders) or wrote
        wrote = self._history.sync(db, state.history_orders) or wrote
        return self._deals.sync(db, state.deals) or wrote

    def set_endpoint(self, endpoint: dict[str, Any] | None) -> None:
        """Record where the server listens (``None``: no server runs)."""
        if endpoint is None:
            self._db.execute("delete from part where name = 'endpoint'")
        else:
            _put(self._db, "endpoint", _dumps(endpoint))

    def close(self) -> None:
        """Fold the log into the database and close it."""
        try:
            self._db.execute("pragma wal_checkpoint(truncate)")
        finally:
            self._db.close()


def _put(db: sqlite3.Connection, name: str, data: str) -> None:
    db.execute("insert or replace into part (name, data) values (?, ?)", (name, data))


def initialize(db: sqlite3.Connection, state: SimState) -> None:
    """Give a new, empty database the store's schema and ``state``, in one transaction."""
    db.execute("pragma journal_mode = wal")
    db.execute("begin immediate")
    try:
        db.execute(f"pragma application_id = {APPLICATION_ID}")
        db.execute(f"pragma user_version = {FORMAT}")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        write_state(db, state)
    except BaseException:
        db.execute("rollback")
        raise
    db.execute("commit")


def write_state(db: sqlite3.Connection, state: SimState) -> None:
    """Write the whole state (inside the caller's transaction)."""
    _put(db, "books", _books(state))
    _put(db, "account", _dumps(flat(state.account)))
    _put(db, "symbols", _dumps([flat(s) for s in state.symbols]))
    _put(db, "shifts", _dumps(state.shifts))
    write_all(db, "position", state.positions)
    write_all(db, "pending_order", state.orders)
    write_all(db, "history_order", state.history_orders)
    write_all(db, "deal", state.deals)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadState(f"{where} is not readable") from exc


def read_state(db: sqlite3.Connection) -> SimState:
    """Read the whole state in one snapshot, checking every field.

    Raises:
        BadState: the store does not hold a valid state.
    """
    db.execute("begin")
    try:
        check_format(db)
        parts = dict(db.execute("select name, data from part").fetchall())
        rows = {table: [data for (data,) in db.execute(f"select data from {table} order by seq")]
                for table in ("position", "pending_order", "history_order", "deal")}
    finally:
        db.execute("commit")
    for name in ("books", "account", "symbols", "shifts"):
        if name not in parts:
            raise BadState(f"its {name} are missing")
    data = _json(parts["books"], "books")
    if not isinstance(data, dict):
        raise BadState("books should be a record")
    data.update(account=_json(parts["account"], "account"), symbols=_json(parts["symbols"], "symbols"),
                shifts=_json(parts["shifts"], "shifts"))
    state = checked.books(data)
    state.positions = _rows(PositionRec, rows["position"], "positions")
    state.orders = _rows(OrderRec, rows["pending_order"], "orders")
    state.history_orders = _rows(OrderRec, rows["history_order"], "history_orders")
    state.deals = _rows(DealRec, rows["deal"], "deals")
    return state


def _rows(cls: type[Any], texts: list[str], where: str) -> list[Any]:
    return [checked.record(cls, _json(text, f"{where}[{i}]"), f"{where}[{i}]") for i, text in enumerate(texts)]


def read_endpoint(db: sqlite3.Connection) -> Any:
    """Return the endpoint part as JSON data, or ``None``."""
    check_format(db)
    row = db.execute("select data from part where name = 'endpoint'").fetchone()
    return None if row is None else _json(row[0], "endpoint")
