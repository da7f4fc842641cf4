"""Every order-management command, as a PineConnector line and as JSON, posted to the headless demo's
receiver: the simulator's state afterwards and the signal's outcome. Breakeven and trailing on a
scripted price path, with the agent process killed (SIGKILL) in the middle of it and started again.

Each case gets a strategy of its own on the demo's broker connection (its own magic number), so
cases do not see each other's orders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tnm_desktop.agent.tokens import magic_for
from tnm_desktop.demo.alerts import post
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.client import RemoteMt5

from tests.conftest import reachable_tmpdir
from tests.demo.test_headless_demo import Demo
from tests.must import must

BID = 1.08500  # EURUSD.m is held here at the start of each case; the ask is 1.08512


@dataclass
class Desk:
    """The running demo, a client of its simulator, and a way to make strategies."""

    demo: Demo
    sim: RemoteMt5

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.demo.db() as conn:
            return conn.execute(sql, params).fetchall()

    def strategy(self, name: str) -> tuple[str, str]:
        """A new strategy on the demo's connection; return (id, webhook URL)."""
        ((strategy_id, secret),) = self.query(
            "insert into tv_strategies (user_id, broker_connection_id, name) "
            "select user_id, id, %s from broker_connections limit 1 returning id::text, webhook_secret", (name,))
        return strategy_id, f"{self.demo.info['receiver']}/tv/{secret}"

    def send(self, url: str, body: str) -> str:
        status, answer = post(url, body)
        assert status == 200, (body, answer)
        return str(json.loads(answer)["signal_id"])

    def outcome(self, signal_id: str, within: float = 30) -> tuple[str, str | None]:
        """Wait for the signal to be resolved; return (status, message)."""
        deadline = time.monotonic() + within
        while True:
            ((status, message),) = self.query("select status, error_message from tv_signals where id = %s",
                                              (signal_id,))
            if status != "pending":
                return str(status), message
            assert time.monotonic() < deadline, f"signal {signal_id} still pending"
            time.sleep(0.1)

    def executed(self, url: str, body: str) -> str:
        signal_id = self.send(url, body)
        status, message = self.outcome(signal_id)
        assert status == "executed", (body, message)
        return signal_id

    def mine(self, strategy_id: str, what: str = "positions") -> list[Any]:
        records = self.sim.positions_get() if what == "positions" else self.sim.orders_get()
        return [r for r in records or () if r.magic == magic_for(strategy_id)]


@pytest.fixture(scope="module")
def desk() -> Iterator[Desk]:
    root = reachable_tmpdir("tnm-demo-orders-")
    running = Demo(root)
    sim = RemoteMt5(running.info["simulator"])
    try:
        assert sim.initialize()
        yield Desk(running, sim)
    finally:
        sim.close()
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def until(check: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not true in time: {what}"
        time.sleep(0.05)


# (case, PineConnector line, the same in JSON). Each case's check looks at the simulator afterwards.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("buylimit", "6012,buylimit,EURUSD,vol_lots=0.1,price=15,sl=20,tp=40",
     {"action": "buylimit", "symbol": "EURUSD", "lots": 0.1, "entry_pips": 15, "sl_pips": 20, "tp_pips": 40}),
    ("sellstop", "6012,sellstop,EURUSD,vol_lots=0.2,price=10,expiry=120",
     {"action": "sellstop", "symbol": "EURUSD", "lots": 0.2, "entry_pips": 10, "expiry": 120}),
    ("buystoplimit", "6012,buystoplimit,EURUSD,vol_lots=0.1,price=20,stoplimit=15",
     {"action": "buystoplimit", "symbol": "EURUSD", "lots": 0.1, "entry_pips": 20, "stoplimit_pips": 15}),
    ("cancellong", "6012,cancellong,EURUSD", {"action": "cancel", "side": "long", "symbol": "EURUSD"}),
    ("newsltplong", "6012,newsltplong,EURUSD,sl=15,tp=25",
     {"action": "newsltp", "side": "long", "symbol": "EURUSD", "sl_pips": 15, "tp_pips": 25}),
    ("closelongsell", "6012,closelongsell,EURUSD,vol_lots=0.1",
     {"action": "closelongsell", "symbol": "EURUSD", "lots": 0.1}),
    ("targets", "6012,buy,EURUSD,vol_lots=0.2,sl=30,tp1=10,tp1pct=50,tp2=20",
     {"action": "buy", "symbol": "EURUSD", "lots": 0.2, "sl_pips": 30, "tp1_pips": 10, "tp1_close": 50,
      "tp2_pips": 20}),
    ("spread", "6012,buy,EURUSD,vol_lots=0.1,spread=5", {"action": "buy", "symbol": "EURUSD", "lots": 0.1,
                                                         "spread": 5}),
]


def _check(desk: Desk, case: str, strategy_id: str, url: str, body: str) -> None:
    sim = desk.sim
    if case == "buylimit":
        desk.executed(url, body)
        (order,) = desk.mine(strategy_id, "orders")
        assert (order.type, order.price_open, order.sl, order.tp, order.volume_initial) == (
            mt5.ORDER_TYPE_BUY_LIMIT, 1.08362, 1.08162, 1.08762, 0.1)
    elif case == "sellstop":
        desk.executed(url, body)
        (order,) = desk.mine(strategy_id, "orders")
        assert (order.type, order.price_open, order.volume_initial) == (mt5.ORDER_TYPE_SELL_STOP, 1.084, 0.2)
        assert order.type_time == mt5.ORDER_TIME_SPECIFIED and order.time_expiration > 0
    elif case == "buystoplimit":
        desk.executed(url, body)
        (order,) = desk.mine(strategy_id, "orders")
        assert (order.type, order.price_open, order.price_stoplimit) == (mt5.ORDER_TYPE_BUY_STOP_LIMIT, 1.08712,
                                                                         1.08662)
    elif case == "cancellong":
        desk.executed(url, "6012,buylimit,EURUSD,vol_lots=0.1,price=30")
        (order,) = desk.mine(strategy_id, "orders")
        desk.executed(url, body)
        assert desk.mine(strategy_id, "orders") == []
        assert must(sim.history_orders_get(ticket=order.ticket))[0].state == mt5.ORDER_STATE_CANCELED
    elif case == "newsltplong":
        desk.executed(url, "6012,buy,EURUSD,vol_lots=0.1,sl=40")
        sim.control.hold_price("EURUSD.m", 1.08600)
        desk.executed(url, body)
        (position,) = desk.mine(strategy_id)
        assert (position.sl, position.tp) == (1.0845, 1.0885)
    elif case == "closelongsell":
        desk.executed(url, "6012,buy,EURUSD,vol_lots=0.3")
        (long,) = desk.mine(strategy_id)
        desk.executed(url, body)
        (short,) = desk.mine(strategy_id)
        assert (short.type, short.volume) == (mt5.POSITION_TYPE_SELL, 0.1) and short.ticket != long.ticket
    elif case == "targets":
        desk.executed(url, body)
        (position,) = desk.mine(strategy_id)
        assert (position.volume, position.tp) == (0.2, 1.08712)
        sim.control.hold_price("EURUSD.m", 1.08615)  # through the first target
        until(lambda: [p.volume for p in desk.mine(strategy_id)] == [0.1], "half closed at the first target")
        sim.control.hold_price("EURUSD.m", 1.08720)  # through the second: the broker's take profit
        until(lambda: desk.mine(strategy_id) == [], "closed at the take profit")
        closing = [(d.volume, d.reason) for d in must(sim.history_deals_get(position=position.ticket))
                   if d.entry == mt5.DEAL_ENTRY_OUT]
        assert closing == [(0.1, mt5.DEAL_REASON_EXPERT), (0.1, mt5.DEAL_REASON_TP)]
    elif case == "spread":
        signal_id = desk.send(url, body)
        assert desk.outcome(signal_id) == ("failed", "The spread is 12 points; this alert allows at most 5. "
                                                     "Nothing was opened.")
        assert desk.mine(strategy_id) == []


@pytest.mark.parametrize("syntax", ["pineconnector", "json"])
@pytest.mark.parametrize(("case", "pine", "alert"), CASES, ids=[c for c, _, _ in CASES])
def test_each_command_ends_in_the_expected_terminal_state(desk: Desk, case: str, pine: str, alert: dict[str, Any],
                                                          syntax: str) -> None:
    desk.sim.control.hold_price("EURUSD.m", BID)
    strategy_id, url = desk.strategy(f"{case} {syntax}")
    _check(desk, case, strategy_id, url, pine if syntax == "pineconnector" else json.dumps(alert))


def test_breakeven_and_trailing_survive_a_sigkill_of_the_agent_mid_path(desk: Desk) -> None:
    sim = desk.sim
    sim.control.hold_price("EURUSD.m", BID)
    strategy_id, url = desk.strategy("trailing")
    signal_id = desk.executed(url, "6012,buy,EURUSD,vol_lots=0.1,sl=30,betrigger=10,beoffset=2,trailtrig=20,"
                                   "traildist=15,trailstep=5")

    def stop() -> float:
        (position,) = desk.mine(strategy_id)
        return float(position.sl)

    def step(bid: float, expected: float) -> None:
        sim.control.hold_price("EURUSD.m", bid)
        until(lambda: stop() == expected, f"stop {expected} at {bid}")

    assert stop() == 1.08212
    step(1.08615, 1.08532)   # breakeven
    step(1.08720, 1.08570)   # trailing starts
    os.kill(desk.demo.agent_pid, signal.SIGKILL)  # the demo reaps it later: a zombie until then
    sim.control.hold_price("EURUSD.m", 1.08780)  # while the agent is down nothing moves: the stop stays
    time.sleep(1.5)  # several looks at the price, had the agent been running; dead, it cannot move the stop
    assert stop() == 1.08570
    restarted = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "agent", "--dir",
                                  str(desk.demo.root / "ws")], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        until(lambda: stop() == 1.08630, "the restarted agent trails on", within=60)
        sim.control.hold_price("EURUSD.m", 1.08700)   # down: never backwards
        step(1.08900, 1.08750)
        sim.control.hold_price("EURUSD.m", 1.08740)  # through the stop: closed by the broker
        until(lambda: desk.mine(strategy_id) == [], "closed at the trailed stop")
        until(lambda: len(desk.query("select 1 from position_rules where signal_id = %s and state = 'done'",
                                     (signal_id,))) == 1, "the rule ended")
        rows = desk.query("select e.kind, e.sl from position_rule_events e join position_rules r on r.id = e.rule_id "
                          "where r.signal_id = %s order by e.seq", (signal_id,))
        assert [(kind, float(sl) if sl is not None else None) for kind, sl in rows] == [
            ("breakeven", 1.08532), ("trailing", 1.0857), ("trailing", 1.0863), ("trailing", 1.0875), ("ended", None)]
    finally:
        restarted.terminate()
        restarted.wait(30)
