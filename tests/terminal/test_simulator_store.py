"""The simulator's state file: written by difference, read back whole, checked, migrated from format 1."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import book_store
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.engine import Engine
from tnm_desktop.terminal.simulator.model import SimState, new_state, state_to_json
from tnm_desktop.terminal.simulator.process import start_simulator
from tnm_desktop.terminal.simulator.store import StateFile

from tests.terminal.simhelp import EPOCH_MS, market

REPO = Path(__file__).resolve().parents[2]
BUY, SELL = mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL


def _stored(state_file: Path) -> SimState:
    state = StateFile(state_file).load()
    assert state is not None
    return state


def _saved_simulator(state_file: Path) -> tuple[SimulatedMt5, book_store.BookStore]:
    """An in-process simulator whose every change goes to ``state_file`` as the server saves it."""
    store, state = StateFile(state_file).open(lambda: new_state(now_ms=EPOCH_MS, manual_clock=True, seed=5))
    sim = SimulatedMt5(Engine(state, on_change=store.save))
    assert sim.initialize()
    return sim, store


def _busy_books(sim: SimulatedMt5) -> None:
    """Change every part of the books: positions, pending orders, history, shifts, faults, switches."""
    sim.control.set_price("EURUSD.m", 1.08500)
    first = market(sim, "EURUSD.m", BUY, 0.3, comment="first")
    second = market(sim, "GBPUSD.m", SELL, 0.2, comment="second")
    third = market(sim, "USDJPY.m", BUY, 0.1, comment="third")
    market(sim, "GBPUSD.m", BUY, 0.2, position=second.order, comment="closes the middle one")
    market(sim, "EURUSD.m", SELL, 0.1, position=first.order, comment="part of the first")
    changed = sim.order_send({"action": mt5.TRADE_ACTION_SLTP, "symbol": "USDJPY.m", "position": third.order,
                              "sl": 140.0, "tp": 0.0})
    assert changed is not None and changed.retcode == mt5.TRADE_RETCODE_DONE
    pending = {"action": mt5.TRADE_ACTION_PENDING, "symbol": "EURUSD.m", "volume": 0.1,
               "type": mt5.ORDER_TYPE_BUY_LIMIT, "type_filling": mt5.ORDER_FILLING_RETURN}
    kept = sim.order_send({**pending, "price": 1.08000, "comment": "kept"})
    dropped = sim.order_send({**pending, "price": 1.07900, "comment": "dropped"})
    assert kept is not None and dropped is not None
    sim.order_send({"action": mt5.TRADE_ACTION_MODIFY, "order": kept.order, "price": 1.08100, "sl": 1.07000})
    sim.order_send({"action": mt5.TRADE_ACTION_REMOVE, "order": dropped.order})
    sim.control.inject_fault("requote", symbol="GBPUSD.m", count=2)
    sim.control.set_market_open("US30.m", False)
    sim.control.deposit(500.0, "top up")
    sim.control.advance_time(90)
    assert sim.symbol_select("BTCUSD.m", True)


def test_every_change_is_on_disk_as_it_is_in_memory(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    sim, store = _saved_simulator(state_file)
    try:
        _busy_books(sim)
        assert _stored(state_file) == sim.engine.state
        # A change of a record's place (nothing does that today) is still written right.
        state = sim.engine.state
        sim.engine.control(lambda _b: state.positions.reverse())
        assert [p.ticket for p in _stored(state_file).positions] == [p.ticket for p in state.positions]
        assert _stored(state_file) == state
    finally:
        store.close()
    assert _stored(state_file) == sim.engine.state


def test_a_failed_save_is_written_whole_by_the_next_one(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    sim, store = _saved_simulator(state_file)
    try:
        market(sim, "EURUSD.m", BUY, 0.1)
        broken = sim.engine.state.positions[0]
        broken.tp = float("nan")  # a value the store refuses: this save fails and is rolled back
        with pytest.raises(ValueError, match="JSON compliant"):
            sim.control.advance_time(1)
        assert _stored(state_file).last_scan_ms == EPOCH_MS  # the whole change was rolled back
        broken.tp = 1.5
        market(sim, "USDJPY.m", SELL, 0.1)
        assert [p.tp for p in _stored(state_file).positions] == [1.5, 0.0]
        assert _stored(state_file) == sim.engine.state
    finally:
        store.close()


def test_an_order_writes_its_own_rows_not_the_history(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    sim, store = _saved_simulator(state_file)
    try:
        for _ in range(50):
            opened = market(sim, "EURUSD.m", BUY, 0.1)
            market(sim, "EURUSD.m", SELL, 0.1, position=opened.order)
        market(sim, "GBPUSD.m", BUY, 0.1)
        with sqlite3.connect(state_file) as db:  # count every row the store writes from now on
            db.execute("create table written (tab text, n integer)")
            for table in ("part", "position", "pending_order", "history_order", "deal"):
                for event in ("insert", "update", "delete"):
                    db.execute(f"create trigger count_{table}_{event} after {event} on {table} begin "
                               f"insert into written values ('{table}', 1); end")
        db.close()
        market(sim, "EURUSD.m", BUY, 0.1)
        with sqlite3.connect(state_file) as db:
            written = db.execute("select tab, sum(n) from written group by tab order by tab").fetchall()
        db.close()
        # An order adds its history order, its deal and its position and changes the books part:
        # four rows, with 102 deals and 101 orders already in the history.
        assert written == [("deal", 1), ("history_order", 1), ("part", 1), ("position", 1)]
        assert len(sim.engine.state.deals) == 103
    finally:
        store.close()


def _v1_file(path: Path) -> SimState:
    """Write a format 1 state file (one JSON document) with positions, orders, history and faults."""
    sim = SimulatedMt5(state=new_state(now_ms=EPOCH_MS, manual_clock=True, seed=9))
    assert sim.initialize()
    _busy_books(sim)
    state = sim.engine.state
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"simulator": state_to_json(state),
                                "endpoint": {"host": "127.0.0.1", "port": 1, "token": "old", "pid": 1}}))
    return state


def _history(state_file: Path) -> list[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", "history", "--state", str(state_file)],
                          cwd=REPO, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()


def test_a_format_1_file_is_migrated_when_served_and_nothing_is_lost(tmp_path: Path) -> None:
    state_file = tmp_path / "simulator" / "state.json"
    before = _v1_file(state_file)
    original = state_file.read_bytes()
    lines = _history(state_file)  # reading it needs no migration
    assert state_file.read_bytes() == original
    assert any('"comment": "closes the middle one"' in line for line in lines)
    served = start_simulator(state_file)
    try:
        with RemoteMt5(state_file) as sim:
            assert sim.initialize()
            positions, orders = sim.positions_get() or (), sim.orders_get() or ()
            deals, account = sim.history_deals_get(0, 2**40) or (), sim.account_info()
            assert [(p.ticket, p.volume, p.sl, p.comment) for p in positions] == [
                (p.ticket, p.volume, p.sl, p.comment) for p in before.positions]
            assert [o.ticket for o in orders] == [o.ticket for o in before.orders]
            assert len(deals) == len(before.deals)
            assert account is not None and account.balance == before.balance
            again = market(sim, "EURUSD.m", BUY, 0.1)
            assert again.retcode == mt5.TRADE_RETCODE_DONE and again.order >= before.next_order
    finally:
        assert served.stop() == 0
    after = _stored(state_file)
    assert dataclasses.replace(after, positions=after.positions[:-1], history_orders=after.history_orders[:-1],
                               deals=after.deals[:-1], next_order=before.next_order, next_deal=before.next_deal,
                               next_request=before.next_request, last_scan_ms=before.last_scan_ms) == before
    assert (tmp_path / "simulator" / "state.json.v1.bak").read_bytes() == original
    migrated = _history(state_file)
    assert set(lines) <= set(migrated) and len(migrated) == len(lines) + 2  # and the new order and its deal


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: p.mkdir(parents=True), "is a folder"),
    (lambda p: p.write_bytes(b"\xff\xfe{ not text"), "is not a simulator state file"),
    (lambda p: p.write_bytes(b'{"simulator": "caf\xe9"}'), "is damaged (it is not UTF-8 text)"),
    (lambda p: p.write_text('{"simulator": {"version": 1'), "is damaged (it is not valid JSON"),
    (lambda p: p.write_text('{"orders": []}'), "is not a simulator state file"),
], ids=["folder", "binary", "latin-1", "cut short", "other JSON"])
def test_a_file_that_is_not_a_state_file_gets_one_line_and_is_left_alone(tmp_path: Path, make: object,
                                                                          words: str) -> None:
    state_file = tmp_path / "state.json"
    make(state_file)  # type: ignore[operator]
    _refused(state_file, words)


def _files(folder: Path) -> list[tuple[str, bytes]]:
    # Every file and its bytes, but the server's lock (it holds nothing and is made by every start).
    return sorted((p.name, p.read_bytes() if p.is_file() else b"") for p in folder.iterdir()
                  if not p.name.endswith(".lock"))


def _refused(state_file: Path, words: str) -> None:
    before = _files(state_file.parent)
    for action in ("serve", "history"):
        run = subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", action, "--state", str(state_file)],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 2, run.stderr
        errors = [line for line in run.stderr.splitlines() if line.startswith("tnm-desktop: ")]
        assert len(errors) == 1 and words in errors[0] and str(state_file) in errors[0], run.stderr
        assert "Traceback" not in run.stderr
    assert _files(state_file.parent) == before


def test_wrong_types_are_refused_with_where_they_are(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state = new_state(now_ms=EPOCH_MS)
    data = state_to_json(state)
    data["balance"] = "10000"
    state_file.write_text(json.dumps({"simulator": data}))
    _refused(state_file, "balance should be a number, not text ('10000')")
    data = state_to_json(state)
    data["deals"][0]["volume"] = None
    state_file.write_text(json.dumps({"simulator": data}))
    _refused(state_file, "deals[0].volume should be a number, not empty")


def test_a_damaged_store_or_another_programs_database_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    sim, store = _saved_simulator(state_file)
    market(sim, "EURUSD.m", BUY, 0.1)
    store.close()
    with sqlite3.connect(state_file) as db:
        db.execute("""update position set data = json_set(data, '$.volume', 'lots')""")
    db.close()
    _refused(state_file, "positions[0].volume should be a number, not text ('lots')")
    other = tmp_path / "other" / "state.json"
    other.parent.mkdir()
    with sqlite3.connect(other) as db:
        db.execute("create table notes (body text)")
    db.close()
    _refused(other, "is damaged (it is a database of another program)")


def test_the_app_hears_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    # start_simulator is how the app and the demo start it: the reason reaches the window's message.
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"simulator": {**state_to_json(new_state(now_ms=EPOCH_MS)), "balance": "x"}}))
    with pytest.raises(OperationalError, match=r"is damaged \(balance should be a number, not text \('x'\)\)"):
        start_simulator(state_file)


def test_reading_a_missing_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    state_file = tmp_path / "nothing" / "state.json"
    assert StateFile(state_file).load() is None and StateFile(state_file).endpoint() is None
    with pytest.raises(UserError, match="is a folder"):
        StateFile(tmp_path).load()
    assert not state_file.parent.exists()
