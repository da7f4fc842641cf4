"""Issue 11's must-shows on the headless demo: the limits hold, gold and index alerts execute, the
trading switch works from an alert — over HTTP, with the agent and the simulator as processes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from tnm_desktop.demo.alerts import post
from tnm_desktop.terminal.simulator.client import RemoteMt5

from tests.conftest import reachable_tmpdir
from tests.demo.test_headless_demo import Demo
from tests.must import must

PINE = "60123456789"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    root = reachable_tmpdir("tnm-demo-money-")
    running = Demo(root)
    try:
        running.wait("select count(*) = 5 from tv_signals where status = 'executed'", within=60)
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sim(demo: Demo) -> Iterator[RemoteMt5]:
    terminal = RemoteMt5(demo.info["simulator"])
    assert terminal.initialize()
    yield terminal
    terminal.close()


def alert(demo: Demo, strategy: str, body: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    status, answer = post(demo.info[f"webhook.{strategy}"], body if isinstance(body, str) else json.dumps(body))
    return status, json.loads(answer)


def settled(demo: Demo, signal_id: str) -> dict[str, Any]:
    """The signal once it is no longer pending."""
    demo.wait("select status <> 'pending' from tv_signals where id = %s", (signal_id,), within=30)
    with demo.db() as conn:
        row = conn.execute("select status, error_message, job_id from tv_signals where id = %s",
                           (signal_id,)).fetchone()
    assert row is not None
    return {"status": row[0], "error_message": row[1], "job_id": row[2]}


def orders(demo: Demo) -> int:
    return sum(1 for r in demo.history() if r.get("record") == "order")


def test_gold_alerts_with_lots_and_no_stop_and_with_sl_pips_execute(demo: Demo, sim: RemoteMt5) -> None:
    # Must show 2. The demo trades with a 20-pip default stop for risk-sized orders only.
    status, lots = alert(demo, "Gold breakout", {"id": "gold-lots", "action": "buy", "symbol": "XAUUSD", "lots": 0.1})
    assert status == 200, lots
    status, pips = alert(demo, "Gold breakout", {"id": "gold-sl", "action": "buy", "symbol": "XAUUSD", "sl_pips": 50})
    assert status == 200, pips
    assert settled(demo, lots["signal_id"])["status"] == "executed"
    assert settled(demo, pips["signal_id"])["status"] == "executed"
    gold = {p.comment[:20]: p for p in must(sim.positions_get(symbol="XAUUSD.m"))}
    with demo.db() as conn:
        tokens: dict[str, str] = dict(conn.execute(
            "select s.id::text, j.intent ->> 'token' from tv_signals s join jobs j on j.id = s.job_id "
            "where s.id = any(%s::uuid[])", ([lots["signal_id"], pips["signal_id"]],)).fetchall())
    no_stop, with_stop = gold[tokens[lots["signal_id"]]], gold[tokens[pips["signal_id"]]]
    assert (no_stop.volume, no_stop.sl) == (0.1, 0.0)  # lots and no stop: sent without one
    assert with_stop.price_open - with_stop.sl == pytest.approx(5.00, abs=0.011)  # 50 pips of 0.10 on gold
    # The demo's index alert (US30, fixed lots) went through on its first start.
    with demo.db() as conn:
        index = conn.execute("select status from tv_signals where raw_payload ->> 'id' = 'demo-5'").fetchone()
    assert index == ("executed",)
    assert sim.positions_get(symbol="US30.m")


def test_the_daily_loss_limit_refuses_a_buy_and_a_close_still_closes(demo: Demo, sim: RemoteMt5) -> None:
    # Must show 1: a loss beyond the limit, a buy refused naming the limit, no order; a close closes.
    status, opened = alert(demo, "EURUSD trend", {"id": "dl-open", "action": "buy", "symbol": "EURUSD", "lots": 1})
    assert status == 200 and settled(demo, opened["signal_id"])["status"] == "executed"
    sim.control.step_price("EURUSD.m", -150)  # 15 pips against one lot: about 1.5 % of the balance
    with demo.db() as conn:
        conn.execute("update user_settings set max_daily_loss_pct = 0.5")
    try:
        before = orders(demo)
        status, refused = alert(demo, "EURUSD trend", {"id": "dl-buy", "action": "buy", "symbol": "EURUSD",
                                                        "lots": 0.1})
        # Refused by ingestion (403) once the agent has recorded the limit, else by the agent itself.
        assert status in (200, 403), refused
        signal = settled(demo, refused["signal_id"])
        assert signal["status"] in ("discarded", "failed")
        assert signal["error_message"].startswith("Maximum daily loss: daily loss ")
        assert "reached the 0.5 % limit (balance at the start of the trading day" in signal["error_message"]
        assert orders(demo) == before  # nothing reached the simulator
        status, closing = alert(demo, "EURUSD trend", {"id": "dl-close", "action": "close", "symbol": "EURUSD"})
        assert status == 200, closing
        assert settled(demo, closing["signal_id"])["status"] == "executed"
        assert sim.positions_get(symbol="EURUSD.m") == ()
        demo.wait("select count(*) = 1 from daily_loss_locks where limit_pct = 0.5", within=30)
    finally:
        with demo.db() as conn:
            conn.execute("update user_settings set max_daily_loss_pct = null")


def test_eaoff_refuses_entries_eaon_resumes_and_closeall_leaves_nothing_open(demo: Demo, sim: RemoteMt5) -> None:
    # Must show 3, in PineConnector's own syntax.
    status, off = alert(demo, "EURUSD trend", f"{PINE},eaoff,eaoff")
    assert (status, off["status"]) == (200, "executed"), off
    before = orders(demo)
    status, refused = alert(demo, "EURUSD trend", f"{PINE},buy,EURUSD,vol_lots=0.1")
    assert (status, refused["status"]) == (403, "discarded")
    assert refused["reason"] == (
        "Trading switch: trading was turned off by an eaoff alert of strategy “EURUSD trend”. New entries are "
        "refused until trading is turned on again; closes still run.")
    assert orders(demo) == before
    status, on = alert(demo, "EURUSD trend", f"{PINE},eaon,eaon")
    assert (status, on["status"], on["reason"]) == (200, "executed", "Trading is on again.")
    status, bought = alert(demo, "EURUSD trend", f"{PINE},buy,EURUSD,vol_lots=0.1")
    assert status == 200 and settled(demo, bought["signal_id"])["status"] == "executed"
    assert sim.positions_get()  # the demo's gold, index and this EURUSD position at least
    status, closed = alert(demo, "Gold breakout", f"{PINE},closeall,XAUUSD")
    assert status == 200, closed
    signal = settled(demo, closed["signal_id"])
    assert signal["status"] == "executed", signal
    assert signal["error_message"].startswith("Closed ")
    assert sim.positions_get() == () and sim.orders_get() == ()
