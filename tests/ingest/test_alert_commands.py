"""Ingestion of what is not a plain trade: the trading switch from an alert, closing the whole
account, the daily-loss lock, the strategy's market position, and the job's new fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.ingest.conftest import Desk, make_desk

BUY = '{"action": "buy", "symbol": "EURUSD", "lots": 0.1}'
TODAY = datetime.now(UTC).date()
OFF_BY_ALERT = "trading was turned off by an eaoff alert of strategy “Trend”"


def switch(desk: Desk) -> dict[str, Any]:
    row = desk.db.admin.execute("select trading_enabled, trading_off_by, trading_off_reason from user_settings "
                                "where user_id = %s", (desk.user.id,)).fetchone()
    assert row is not None
    return dict(row)


@pytest.mark.parametrize("eaoff", ["60123456789,eaoff,eaoff", '{"action": "eaoff"}'])
def test_eaoff_turns_trading_off_at_once_and_cancels_the_queued_entries(desk: Desk, eaoff: str) -> None:
    queued = desk.ingest(BUY)
    close = desk.ingest('{"action": "close", "symbol": "GBPUSD"}')
    result = desk.ingest(eaoff)
    assert (result["status"], result["code"], result["job_id"]) == ("executed", "accepted", None)
    assert result["reason"] == ("Trading is off: new entries are refused until an eaon alert or Start trading in "
                                "the app; 1 queued entries were cancelled.")
    signal = desk.signal(result["signal_id"])
    assert (signal["action"], signal["symbol"], signal["status"]) == ("eaoff", None, "executed")
    assert switch(desk) == {"trading_enabled": False, "trading_off_by": "alert", "trading_off_reason": OFF_BY_ALERT}
    # The entry waiting for the agent will not trade; the close will still run.
    assert desk.job(queued["job_id"])["status"] == "cancelled"
    assert desk.signal(queued["signal_id"])["status"] == "discarded"
    assert desk.signal(queued["signal_id"])["error_message"] == f"Not executed: {OFF_BY_ALERT}."
    assert desk.job(close["job_id"])["status"] == "pending"


def test_while_off_entries_are_refused_naming_the_switch_and_closes_pass(desk: Desk) -> None:
    desk.ingest("60123456789,eaoff,eaoff")
    refused = desk.ingest(BUY)
    assert (refused["code"], refused["reason"]) == (
        "disabled", f"Trading switch: {OFF_BY_ALERT}. New entries are refused until trading is turned on again; "
                    "closes still run.")
    for close in ('{"action": "close", "symbol": "EURUSD"}', "60123456789,closelong,EURUSD",
                  '{"action": "sell", "position": "flat", "symbol": "EURUSD"}', "60123456789,closeall,EURUSD"):
        assert desk.ingest(close)["code"] == "accepted", close


def test_eaon_turns_on_only_what_an_alert_turned_off(desk: Desk) -> None:
    assert desk.ingest("60123456789,eaon,eaon")["reason"] == "Trading was on already."
    desk.ingest('{"action": "eaoff"}')
    on = desk.ingest('{"action": "eaon", "id": "on-1"}')
    assert (on["status"], on["reason"]) == ("executed", "Trading is on again.")
    assert switch(desk) == {"trading_enabled": True, "trading_off_by": None, "trading_off_reason": None}
    assert desk.ingest(BUY)["code"] == "accepted"
    # The trader's own stop is not an alert's to undo.
    desk.db.call_as(desk.user, "select stop_trading(false)")
    refused = desk.ingest('{"action": "eaon", "id": "on-2"}')
    assert (refused["status"], refused["code"], refused["reason"]) == (
        "discarded", "disabled", "Trading switch: trading was stopped with Stop trading in the app; an eaon alert "
                                 "turns on only what an alert turned off. Use Start trading in the app.")
    assert switch(desk)["trading_enabled"] is False


def test_closeall_closes_the_whole_account_and_closealleaoff_also_stops(desk: Desk) -> None:
    result = desk.ingest("60123456789,closeall,EURUSD")
    payload = desk.job(result["job_id"])["payload"]
    assert (payload["action"], payload["symbol"], payload["close"]) == (
        "close", None, {"side": "all", "scope": "account"})
    assert str(desk.job(result["job_id"])["target_agent_id"]) == desk.agent.id  # the strategy's account
    assert (desk.signal(result["signal_id"])["action"], desk.signal(result["signal_id"])["symbol"]) == (
        "closeall", None)
    instruction = desk.instruction(result)
    assert instruction.close is not None and instruction.close.scope == "account"
    queued = desk.ingest('{"action": "sell", "symbol": "GBPUSD", "id": "q"}')
    both = desk.ingest('{"action": "closealleaoff", "id": "both"}')
    assert (both["status"], both["code"]) == ("pending", "accepted")
    assert desk.job(both["job_id"])["payload"]["close"] == {"side": "all", "scope": "account"}
    assert switch(desk)["trading_off_reason"] == "trading was turned off by an closealleaoff alert of strategy “Trend”"
    assert desk.job(queued["job_id"])["status"] == "cancelled"


def test_a_daily_loss_lock_refuses_entries_early_until_the_limit_is_raised(desk: Desk) -> None:
    desk.db.admin.execute("update user_settings set max_daily_loss_pct = 2 where user_id = %s", (desk.user.id,))
    reason = "daily loss 2.4 % reached the 2 % limit (balance at the start of the trading day 10,000.00 USD; ...)"
    new = desk.db.call_as(desk.user, "select record_daily_loss(%s, %s, %s, %s, 2, 2.4, %s) as new", (
        desk.agent.id, desk.agent.key, TODAY, datetime.now(UTC) + timedelta(hours=5), reason))
    assert new == [{"new": True}]
    again = desk.db.call_as(desk.user, "select record_daily_loss(%s, %s, %s, %s, 2, 2.6, %s) as new", (
        desk.agent.id, desk.agent.key, TODAY, datetime.now(UTC) + timedelta(hours=5), reason))
    assert again == [{"new": False}]  # the trader is told once
    refused = desk.ingest(BUY)
    assert (refused["code"], refused["reason"]) == (
        "disabled", f"Maximum daily loss: {reason}. New entries are refused until the broker's next trading day; "
                    "closes still run.")
    assert desk.ingest('{"action": "close", "symbol": "EURUSD"}')["code"] == "accepted"
    desk.db.admin.execute("update user_settings set max_daily_loss_pct = 3 where user_id = %s", (desk.user.id,))
    assert desk.ingest('{"action": "buy", "symbol": "EURUSD", "id": "after"}')["code"] == "accepted"
    # Trading stays on unless the trader asked for everything to close.
    assert switch(desk)["trading_enabled"] is True


def test_a_daily_loss_with_close_all_turns_trading_off_and_queues_the_close(desk: Desk) -> None:
    desk.db.admin.execute("update user_settings set max_daily_loss_pct = 1, close_all_on_daily_loss = true "
                          "where user_id = %s", (desk.user.id,))
    queued = desk.ingest(BUY)
    desk.db.call_as(desk.user, "select record_daily_loss(%s, %s, %s, %s, 1, 1.2, 'daily loss 1.2 %% reached')", (
        desk.agent.id, desk.agent.key, TODAY, datetime.now(UTC) + timedelta(hours=5)))
    assert switch(desk) == {"trading_enabled": False, "trading_off_by": "daily_loss",
                            "trading_off_reason": "trading was turned off when the daily loss reached the 1 % limit"}
    assert desk.job(queued["job_id"])["status"] == "cancelled"
    close = desk.db.admin.execute("select payload, target_agent_id::text as agent from jobs "
                                  "where job_type = 'close_position'").fetchall()
    assert [(c["payload"]["scope"], c["agent"]) for c in close] == [("account", desk.agent.id)]


def test_only_the_agent_with_its_key_records_a_daily_loss_or_reads_the_limits(desk: Desk) -> None:
    other = make_desk(desk.db)
    try:
        for call in ("select agent_risk_state(%s, %s)",
                     "select record_daily_loss(%s, %s, current_date, now() + interval '1 hour', 1, 2, 'x')"):
            with pytest.raises(psycopg.DatabaseError) as refused:
                other.db.call_as(other.user, call, (desk.agent.id, other.agent.key))
            assert refused.value.sqlstate == "TNA01"
        state = desk.db.call_as(desk.user, "select agent_risk_state(%s, %s) as s", (desk.agent.id, desk.agent.key))
        assert state[0]["s"]["limits"]["trading_enabled"] is True and state[0]["s"]["lock"] is None
        assert other.db.call_as(other.user, "select count(*) as n from daily_loss_locks") == [{"n": 0}]
    finally:
        other.close()


def test_stop_trading_touches_only_the_callers_queue(desk: Desk) -> None:
    other = make_desk(desk.db)
    try:
        theirs = other.ingest(BUY)
        mine = desk.ingest(BUY)
        result = desk.db.call_as(desk.user, "select stop_trading(true) as r")[0]["r"]
        assert result["cancelled"] == 1 and len(result["close_jobs"]) == 1
        assert desk.job(mine["job_id"])["status"] == "cancelled"
        assert other.job(theirs["job_id"])["status"] == "pending"
        assert switch(other)["trading_enabled"] is True
    finally:
        other.close()
    with desk.db.as_anon() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select stop_trading(false)")


def test_the_settings_switch_says_who_turned_it_off(desk: Desk) -> None:
    desk.db.call_as(desk.user, "update user_settings set trading_enabled = false")
    assert switch(desk) == {"trading_enabled": False, "trading_off_by": "app",
                            "trading_off_reason": "trading is turned off in Settings"}
    desk.db.call_as(desk.user, "update user_settings set trading_enabled = true")
    assert switch(desk) == {"trading_enabled": True, "trading_off_by": None, "trading_off_reason": None}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # not the trader's to forge
        desk.db.call_as(desk.user, "update user_settings set trading_off_by = 'alert'")


@pytest.mark.parametrize(("alert", "expected"), [
    # Exits, whatever the order's direction: flat closes the symbol's positions.
    ({"action": "sell", "position": "flat"}, ("close", {"side": "all", "fraction": None, "volume": None})),
    ({"action": "buy", "position": "FLAT", "lots": 2}, ("close", {"side": "all", "fraction": None, "volume": None})),
    # Against the position: a partial exit, by the sizes when TradingView gives them.
    ({"action": "sell", "position": "long", "position_size": 1, "prev_position_size": 4},
     ("close", {"side": "long", "fraction": 0.75, "volume": None})),
    ({"action": "buy", "position": "short", "position_size": "0", "prev_position_size": "2"},
     ("close", {"side": "short", "fraction": 1, "volume": None})),
    ({"action": "buy", "position": "short"}, ("close", {"side": "short", "fraction": None, "volume": None})),
    # With the position: an entry (or an addition).
    ({"action": "buy", "position": "long", "position_size": 2, "prev_position_size": 1}, ("buy", None)),
    ({"action": "sell", "position": "short"}, ("sell", None)),
])
def test_the_strategys_market_position_tells_an_exit_from_an_entry(desk: Desk, alert: dict[str, Any],
                                                                    expected: tuple[str, Any]) -> None:
    result = desk.ingest(json.dumps({"symbol": "EURUSD", **alert}))
    payload = desk.job(result["job_id"])["payload"]
    close = payload["close"]
    if close is not None:
        close = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in close.items()}
    assert (payload["action"], close) == expected
    desk.instruction(result)


@pytest.mark.parametrize(("alert", "reason"), [
    ({"action": "sell", "position": "out"},
     'position must be "long", "short" or "flat", as {{strategy.market_position}} gives (got "out")'),
    ({"action": "sell", "position": "long", "position_size": -1, "prev_position_size": 2},
     "position_size must be a number of at least 0 (got -1)"),
])
def test_a_bad_market_position_is_refused(desk: Desk, alert: dict[str, Any], reason: str) -> None:
    result = desk.ingest(json.dumps({"symbol": "EURUSD", **alert}))
    assert (result["code"], result["reason"]) == ("invalid", reason)


def test_the_job_carries_the_opposite_setting_the_pip_size_and_the_limits(desk: Desk) -> None:
    desk.db.admin.execute("update tv_strategies set opposite_signal = 'reverse' where id = %s", (desk.strategy_id,))
    desk.db.admin.execute("update broker_connections set pip_sizes = '{\"GOLD\": 0.01, \"EURUSD\": 0.0001}' "
                          "where id = %s", (desk.broker_id,))
    desk.db.admin.execute("update user_settings set default_sl_pips_lots = 30, max_positions_per_symbol = 2, "
                          "equity_floor = 5000 where user_id = %s", (desk.user.id,))
    gold = desk.instruction(desk.ingest('{"action": "buy", "symbol": "XAUUSD"}'))
    assert (gold.broker_symbol, gold.pip_size, gold.opposite.value) == ("GOLD", 0.01, "reverse")
    assert gold.limits.default_sl_pips_lots == 30
    payload = desk.job(desk.ingest('{"action": "buy", "symbol": "GBPUSD"}')["job_id"])["payload"]
    assert payload["pip_size"] is None
    assert (payload["limits"]["max_positions_per_symbol"], payload["limits"]["equity_floor"]) == (2, 5000)
    # A new strategy's default is the safe one.
    fresh, _ = desk.add_strategy("Fresh")
    assert desk.db.admin.execute("select opposite_signal from tv_strategies where id = %s",
                                 (fresh,)).fetchone() == {"opposite_signal": "close"}


def test_the_switch_holds_pending_orders_and_lets_a_reversals_close_through(desk: Desk) -> None:
    # Issue 12's entry kinds: a pending order is an entry; a reversal's close always runs (the agent
    # then refuses its entry with the same reason).
    desk.ingest("60123456789,eaoff,eaoff")
    pending = desk.ingest("60123456789,buylimit,EURUSD,vol_lots=0.1,price=15")
    assert (pending["code"], pending["reason"]) == (
        "disabled", f"Trading switch: {OFF_BY_ALERT}. New entries are refused until trading is turned on again; "
                    "closes still run.")
    reversal = desk.ingest("60123456789,closelongsell,EURUSD,vol_lots=0.1")
    assert reversal["code"] == "accepted"
    assert desk.job(reversal["job_id"])["payload"]["close_first"] == "long"
