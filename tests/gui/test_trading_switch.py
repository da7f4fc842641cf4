"""Stop trading / Start trading in the main window and the tray, over the real database.

The database's side (what a stop cancels and queues) is exercised end to end with the agent in
tests/agent/test_risk_e2e.py; here: what the trader sees and that each click does what it says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tnm_desktop.gui.shell.mainwindow import MainWindow

from tests.gui import test_mainwindow
from tests.gui.seed import seed_broker, seed_strategy
from tests.gui.test_mainwindow import OpenWindow
from tests.gui.test_strategies import confirm, open_confirmation
from tests.ingest.conftest import Desk
from tests.pg import Db, User
from tests.waiting import eventually

open_window = test_mainwindow.open_window  # the main window's fixture, shared


def queued_entry(db: Db, user: User, strategy_id: str, agent_id: str) -> tuple[str, str]:
    """An entry alert waiting for the agent: its job and signal, as ingestion writes them."""
    job = db.admin.execute(
        "insert into jobs (user_id, job_type, payload, target_agent_id) values (%s, 'trade', %s, %s) "
        "returning id::text as id", (user.id, json.dumps({"action": "buy", "symbol": "EURUSD"}), agent_id)
    ).fetchone()
    assert job is not None
    signal = db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) "
        "values (%s, %s, 'EURUSD', 'buy', '{}', %s) returning id::text as id", (strategy_id, user.id, job["id"])
    ).fetchone()
    assert signal is not None
    return str(job["id"]), str(signal["id"])


def row(db: Db, query: str, *params: Any) -> dict[str, Any]:
    found = db.admin.execute(query, params).fetchone()
    assert found is not None
    return dict(found)


async def trading_shown(window: MainWindow, on: bool) -> None:
    bar = window.stop_bar
    await eventually(lambda: window.trading.enabled is on and bar.stop_button.isVisible() is on
                     and bar.start_button.isVisible() is not on, what=f"trading shown {'on' if on else 'off'}")


async def test_stop_trading_stops_at_once_then_asks_before_closing_everything(
        open_window: OpenWindow, db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user, agent=agent))
    db.admin.execute("insert into trading_accounts (user_id, login, server, balance, currency) "
                     "values (%s, 51234567, 'TNM-Simulator', 10000, 'USD')", (user.id,))
    job_id, signal_id = queued_entry(db, user, strategy, agent.id)
    window = await open_window(user)
    await trading_shown(window, True)
    bar = window.stop_bar
    assert bar.stop_button.text() == "Stop trading" and "Trading on" in bar.state.text()

    bar.stop_button.click()
    await eventually(lambda: bar.confirmation is not None and bar.confirmation.isVisible(), what="the question")
    # Off before anything was asked: the waiting entry will not trade, and says why.
    assert row(db, "select trading_enabled, trading_off_by from user_settings where user_id = %s", user.id) == {
        "trading_enabled": False, "trading_off_by": "app"}
    assert row(db, "select status from jobs where id = %s", job_id) == {"status": "cancelled"}
    assert row(db, "select status, error_message from tv_signals where id = %s", signal_id) == {
        "status": "discarded", "error_message": "Not executed: trading was stopped with Stop trading in the app."}
    box = open_confirmation(window)
    assert box.text() == ("Trading is off: new alerts are not traded; 1 waiting entry was cancelled.\n\n"
                          "Also close every open position and delete every pending order on account 51234567 "
                          "(TNM-Simulator)?")
    await trading_shown(window, False)
    assert window.tray_start.isEnabled() and not window.tray_stop.isEnabled()
    assert db.admin.execute("select count(*) as n from jobs where job_type = 'close_position'").fetchone() == {"n": 0}

    confirm(window, "Close everything")
    await eventually(lambda: db.admin.execute("select count(*) as n from jobs where job_type = 'close_position'"
                                              ).fetchone() == {"n": 1}, what="the close-all job")
    close = row(db, "select payload, target_agent_id::text as agent from jobs where job_type = 'close_position'")
    assert (close["payload"]["scope"], close["agent"]) == ("account", agent.id)

    bar.start_button.click()
    await trading_shown(window, True)
    assert row(db, "select trading_enabled, trading_off_reason from user_settings where user_id = %s", user.id) == {
        "trading_enabled": True, "trading_off_reason": None}


# The offscreen platform's notices (the tray's "show" raises the window).
@pytest.mark.qt_log_ignore("This plugin does not support raise", "This plugin does not support propagateSizeHints")
async def test_keeping_positions_open_queues_no_close(open_window: OpenWindow, db: Db, user: User) -> None:
    window = await open_window(user)
    await trading_shown(window, True)
    window.tray_stop.trigger()  # from the tray: the window comes up with the question
    await eventually(lambda: window.stop_bar.confirmation is not None
                     and window.stop_bar.confirmation.isVisible(), what="the question")
    confirm(window, "Cancel")
    await trading_shown(window, False)
    assert "every account your agents serve" in window.stop_bar.confirmation.text()  # type: ignore[union-attr]
    assert db.admin.execute("select count(*) as n from jobs").fetchone() == {"n": 0}
    window.tray_start.trigger()
    await trading_shown(window, True)


async def test_an_eaoff_alert_shows_as_trading_off_with_its_reason(open_window: OpenWindow, db: Db,
                                                                   user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    broker = seed_broker(db, user, agent=agent)
    strategy = seed_strategy(db, user, "Gold", broker)
    secret = row(db, "select webhook_secret from tv_strategies where id = %s", strategy)["webhook_secret"]
    window = await open_window(user)
    await trading_shown(window, True)
    desk = Desk(db, user, agent, broker, strategy, str(secret))
    try:
        assert desk.ingest("60123456789,eaoff,eaoff")["status"] == "executed"
        await trading_shown(window, False)
        assert window.stop_bar.state.toolTip() == "Trading was turned off by an eaoff alert of strategy “Gold”."
        assert desk.ingest("60123456789,eaon,eaon")["status"] == "executed"
        await trading_shown(window, True)
    finally:
        desk.close()


async def test_a_daily_loss_reached_is_told_once_in_the_tray(open_window: OpenWindow, db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    window = await open_window(user)
    told: list[tuple[str, str]] = []
    window.notifier.notify.connect(lambda title, text: told.append((title, text)))
    reason = ("daily loss 2.4 % reached the 2 % limit (balance at the start of the trading day 10,000.00 USD; "
              "realised -150.00, floating -90.00)")
    lock = "select record_daily_loss(%s::uuid, %s, current_date, now() + interval '3 hours', 2, %s::numeric, %s)"
    db.call_as(user, lock, (agent.id, agent.key, 2.4, reason))  # as the agent records it, from any machine
    db.call_as(user, lock, (agent.id, agent.key, 2.5, reason))  # and again at its next look: nothing new
    await eventually(lambda: told != [], what="the notification")
    assert told == [("Maximum daily loss reached", reason + ". New entries are refused until the broker's next "
                                                            "trading day; closes still run.")]
