"""Order-management alerts at ingestion: both syntaxes make the same job, the strategy's settings
decide how PineConnector's numbers are read, trading windows refuse entries only, and one alert
becomes one job per broker connection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tnm_desktop.domain.trade import ModifyInstruction, TradeInstruction

from tests.ingest.conftest import Desk

# (PineConnector line, the JSON a trader would write for it, what the job says)
ORDERS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("6012,buylimit,EURUSD,risk=1,price=15,sl=20,tp=40",
     {"action": "buylimit", "symbol": "EURUSD", "risk": 1, "entry_pips": 15, "sl_pips": 20, "tp_pips": 40},
     {"action": "buy", "command": "buylimit", "sl": {"pips": 20}, "tp": {"pips": 40},
      "order": {"kind": "limit", "entry": {"pips": 15}, "stoplimit": None, "expiry_minutes": None}}),
    ("6012,sellstop,GBPUSD,vol_lots=0.2,price=25,expiry=90",
     {"action": "sellstop", "symbol": "GBPUSD", "lots": 0.2, "entry_pips": 25, "expiry": 90},
     {"action": "sell", "command": "sellstop", "sizing": {"mode": "lots", "lots": 0.2},
      "order": {"kind": "stop", "entry": {"pips": 25}, "stoplimit": None, "expiry_minutes": 90}}),
    ("6012,buystoplimit,EURUSD,risk=1,price=20,stoplimit=15",
     {"action": "buystoplimit", "symbol": "EURUSD", "risk": 1, "entry_pips": 20, "stoplimit_pips": 15},
     {"order": {"kind": "stop_limit", "entry": {"pips": 20}, "stoplimit": {"pips": 15}, "expiry_minutes": None}}),
    ("6012,cancellong,EURUSD", {"action": "cancel", "symbol": "EURUSD", "side": "long"},
     {"action": "cancel", "cancel": {"side": "long", "job_id": None}, "sizing": None}),
    ("6012,cancelshort,EURUSD", {"action": "cancelshort", "symbol": "EURUSD"},
     {"action": "cancel", "cancel": {"side": "short", "job_id": None}}),
    ("6012,closelongsell,EURUSD,risk=1,sl=30", {"action": "closelongsell", "symbol": "EURUSD", "risk": 1, "sl_pips": 30},
     {"action": "sell", "command": "closelongsell", "close_first": "long"}),
    ("6012,closeshortbuy,EURUSD,risk=1", {"action": "closeshortbuy", "symbol": "EURUSD", "risk": 1},
     {"action": "buy", "close_first": "short"}),
    ("6012,closelongbuy,EURUSD,risk=1", {"action": "closelongbuy", "symbol": "EURUSD", "risk": 1},
     {"action": "buy", "close_first": "long"}),
    ("6012,closeshortsell,EURUSD,risk=1", {"action": "closeshortsell", "symbol": "EURUSD", "risk": 1},
     {"action": "sell", "close_first": "short"}),
    ("6012,buy,EURUSD,risk=1,sl=20,betrigger=15,beoffset=2,trailtrig=30,traildist=20,trailstep=5",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "sl_pips": 20, "betrigger": 15, "beoffset": 2,
      "trailtrig": 30, "traildist": 20, "trailstep": 5},
     {"manage": {"breakeven": {"trigger_pips": 15, "offset_pips": 2},
                 "trailing": {"trigger_pips": 30, "distance_pips": 20, "step_pips": 5}, "targets": [],
                 "be_after_tp1": False}}),
    ("6012,sell,EURUSD,risk=1,sl=20,tp1=10,tp1pct=50,tp2=20,tp2pct=30,tp3=40,be_after_tp1=1",
     {"action": "sell", "symbol": "EURUSD", "risk": 1, "sl_pips": 20, "tp1_pips": 10, "tp1_close": 50,
      "tp2_pips": 20, "tp2_close": 30, "tp3_pips": 40, "be_after_tp1": True},
     {"tp": {"pips": 40},  # the targets close everything: the last is the position's take profit
      "manage": {"breakeven": None, "trailing": None, "be_after_tp1": True,
                 "targets": [{"tp": {"pips": 10}, "close_pct": 50}, {"tp": {"pips": 20}, "close_pct": 30},
                             {"tp": {"pips": 40}, "close_pct": 20}]}}),
    ("6012,buy,EURUSD,risk=1,sl=20,tp1=10,tp2=20,tp3=30",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "sl_pips": 20, "tp1_pips": 10, "tp2_pips": 20, "tp3_pips": 30},
     {"manage": {"breakeven": None, "trailing": None, "be_after_tp1": False,
                 "targets": [{"tp": {"pips": 10}, "close_pct": 33.33}, {"tp": {"pips": 20}, "close_pct": 33.33},
                             {"tp": {"pips": 30}, "close_pct": 33.34}]}}),
    ("6012,buy,EURUSD,risk=1,tp1=10,tp1pct=50,tp2=30,tp2pct=25",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "tp1_pips": 10, "tp1_close": 50, "tp2_pips": 30, "tp2_close": 25},
     {"tp": None,  # a quarter stays open after the last target: no take profit at the broker
      "manage": {"breakeven": None, "trailing": None, "be_after_tp1": False,
                 "targets": [{"tp": {"pips": 10}, "close_pct": 50}, {"tp": {"pips": 30}, "close_pct": 25}]}}),
    ("6012,buy,EURUSD,risk=1,spread=15,accfilter=5000",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "spread": 15, "accfilter": 5000},
     {"filters": {"max_spread_points": 15, "account": {"basis": "balance", "above": 5000}}}),
]


def _job(desk: Desk, body: str) -> dict[str, Any]:
    result = desk.ingest(body)
    assert result["code"] == "accepted", (body, result)
    job = desk.job(result["job_id"])
    payload = dict(job["payload"])
    del payload["signal_id"]
    return {"job_type": job["job_type"], **payload}


@pytest.mark.parametrize(("pine", "alert", "expected"), ORDERS, ids=[p for p, _, _ in ORDERS])
def test_each_order_command_makes_the_same_job_in_both_syntaxes(
        desk: Desk, pine: str, alert: dict[str, Any], expected: dict[str, Any]) -> None:
    from_pine = _job(desk, pine)
    from_json = _job(desk, json.dumps(alert))
    assert from_pine == from_json
    assert {k: from_pine[k] for k in expected} == expected
    TradeInstruction.from_payload(from_pine)  # the agent's parser takes it


def test_newsltp_makes_a_position_change_job(desk: Desk) -> None:
    pine = _job(desk, "6012,newsltplong,EURUSD,sl=15,tp=60")
    json_job = _job(desk, json.dumps({"action": "newsltp", "side": "long", "symbol": "EURUSD", "sl_pips": 15,
                                      "tp_pips": 60}))
    assert pine == json_job
    assert (pine["job_type"], pine["side"], pine["sl"], pine["tp"], pine["ticket"]) == (
        "modify_position", "long", {"pips": 15}, {"pips": 60}, None)
    change = ModifyInstruction.from_payload(pine)
    assert (change.broker_symbol, change.side, change.ticket) == ("EURUSD.m", "long", None)
    signal = desk.signal(desk.ingest("6012,newsltpshort,EURUSD,sl_price=1.1")["signal_id"])
    assert signal["action"] == "modify"


@pytest.mark.parametrize(("target", "entry", "pine", "sl", "entry_level"), [
    ("pips", "pips", "6012,buylimit,EURUSD,risk=1,sl=20,price=15", {"pips": 20}, {"pips": 15}),
    ("price", "price", "6012,buylimit,EURUSD,risk=1,sl=1.0800,price=1.0850", {"price": 1.08}, {"price": 1.085}),
    ("percent", "percent", "6012,buylimit,EURUSD,risk=1,sl=1,price=0.5", {"percent": 1}, {"percent": 0.5}),
    ("price", "pips", "6012,buylimit,EURUSD,risk=1,sl=1.0800,price=15", {"price": 1.08}, {"pips": 15}),
])
def test_the_strategys_target_and_entry_types_decide_what_pineconnector_numbers_mean(
        desk: Desk, target: str, entry: str, pine: str, sl: dict[str, float], entry_level: dict[str, float]) -> None:
    desk.db.admin.execute("update tv_strategies set target_type = %s, entry_type = %s where id = %s",
                          (target, entry, desk.strategy_id))
    job = _job(desk, pine)
    assert (job["sl"], job["order"]["entry"]) == (sl, entry_level)


def test_entries_outside_the_trading_window_are_refused_with_the_window_closes_pass(desk: Desk) -> None:
    window = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "17:00", "time_zone": "Europe/London"}
    desk.db.admin.execute("update tv_strategies set trading_window = %s where id = %s",
                          (json.dumps(window), desk.strategy_id))
    saturday = datetime(2025, 6, 7, 12, 0, tzinfo=UTC)
    tuesday_evening = datetime(2025, 6, 3, 16, 30, tzinfo=UTC)  # 17:30 in London (summer time)
    tuesday_noon = datetime(2025, 6, 3, 11, 0, tzinfo=UTC)
    for at in (saturday, tuesday_evening):
        refused = desk.ingest('{"action": "buy", "symbol": "EURUSD"}', received_at=at)
        assert (refused["status"], refused["code"], refused["reason"]) == (
            "discarded", "disabled", "outside the strategy's trading window (Mon Tue Wed Thu Fri 08:00–17:00 "
                                     "Europe/London)")
    assert desk.ingest("6012,buylimit,EURUSD,risk=1,price=10", received_at=saturday)["code"] == "disabled"
    for body in ("6012,closelong,EURUSD", "6012,cancellong,EURUSD", "6012,newsltplong,EURUSD,sl=10",
                 "6012,closeshortbuy,EURUSD,risk=1"):  # a reversal's close must pass; the agent decides the rest
        assert desk.ingest(body, received_at=saturday)["code"] == "accepted", body
    assert desk.ingest('{"action": "sell", "symbol": "EURUSD"}', received_at=tuesday_noon)["code"] == "accepted"
    job = desk.job(desk.ingest('{"action": "buy", "symbol": "GBPUSD"}', received_at=tuesday_noon)["job_id"])
    assert job["payload"]["window"] == window  # the agent checks it again when it sends


def test_a_window_across_midnight_belongs_to_the_day_it_starts(desk: Desk) -> None:
    window = {"days": [7], "start": "22:00", "end": "02:00", "time_zone": "UTC"}  # Sunday night
    desk.db.admin.execute("update tv_strategies set trading_window = %s where id = %s",
                          (json.dumps(window), desk.strategy_id))
    sunday_late = datetime(2025, 6, 8, 23, 0, tzinfo=UTC)
    monday_early = datetime(2025, 6, 9, 1, 0, tzinfo=UTC)
    monday_late = datetime(2025, 6, 9, 23, 0, tzinfo=UTC)
    results = [desk.ingest(json.dumps({"action": "buy", "symbol": "EURUSD", "id": str(at)}), received_at=at)["code"]
               for at in (sunday_late, monday_early, monday_late)]
    assert results == ["accepted", "accepted", "disabled"]


@pytest.mark.parametrize(("window", "reason"), [
    ({"days": [], "start": "08:00", "end": "17:00", "time_zone": "UTC"}, "needs at least one weekday"),
    ({"days": [1], "start": "8am", "end": "17:00", "time_zone": "UTC"}, "must be written HH:MM"),
    ({"days": [1], "start": "08:00", "end": "08:00", "time_zone": "UTC"}, "starts and ends at the same time"),
    ({"days": [1], "start": "08:00", "end": "17:00", "time_zone": "Mars/Olympus"}, 'Unknown time zone "Mars/Olympus"'),
])
def test_a_bad_trading_window_is_refused_with_a_clear_reason(desk: Desk, window: dict[str, Any], reason: str) -> None:
    import psycopg

    with pytest.raises(psycopg.Error, match=reason):
        desk.db.admin.execute("update tv_strategies set trading_window = %s where id = %s",
                              (json.dumps(window), desk.strategy_id))


def _second_connection(desk: Desk, *, active: bool = True, agent: bool = True, multiplier: float = 2,
                       risk: float | None = None) -> str:
    row = desk.db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix, is_active) "
        "values (%s, %s, 'Second', '.pro', %s) returning id::text as id",
        (desk.user.id, desk.agent.id if agent else None, active)).fetchone()
    assert row is not None
    desk.db.admin.execute("insert into strategy_connections (strategy_id, broker_connection_id, user_id, "
                          "volume_multiplier, risk_pct, position) values (%s, %s, %s, %s, %s, 2)",
                          (desk.strategy_id, row["id"], desk.user.id, multiplier, risk))
    return str(row["id"])


def _legs(desk: Desk, signal_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in desk.db.admin.execute(
        "select status, error_message, target_agent_id::text as agent, payload from jobs where signal_id = %s "
        "order by (payload ->> 'leg')::int", (signal_id,)).fetchall()]


def test_one_alert_makes_one_job_per_connection_each_with_its_multiplier_or_risk(desk: Desk) -> None:
    second = _second_connection(desk, multiplier=2.5)
    result = desk.ingest('{"action": "buy", "symbol": "EURUSD", "lots": 0.1}')
    legs = _legs(desk, result["signal_id"])
    assert [(leg["payload"]["broker_connection_id"], leg["payload"]["broker_symbol"], leg["payload"]["sizing"],
             leg["payload"]["leg"], leg["payload"]["legs"], leg["status"]) for leg in legs] == [
        (desk.broker_id, "EURUSD.m", {"mode": "lots", "lots": 0.1}, 1, 2, "pending"),
        (second, "EURUSD.pro", {"mode": "lots", "lots": 0.25}, 2, 2, "pending")]
    assert str(desk.signal(result["signal_id"])["job_id"]) == result["job_id"]  # the first leg
    by_risk = _legs(desk, desk.ingest('{"action": "buy", "symbol": "EURUSD", "risk": 1}')["signal_id"])
    assert [leg["payload"]["sizing"] for leg in by_risk] == [{"mode": "risk", "risk_pct": 1},
                                                             {"mode": "risk", "risk_pct": 2.5}]
    desk.db.admin.execute("update strategy_connections set risk_pct = 0.4 where broker_connection_id = %s", (second,))
    own_risk = _legs(desk, desk.ingest('{"action": "sell", "symbol": "EURUSD", "risk": 1}')["signal_id"])
    assert own_risk[1]["payload"]["sizing"] == {"mode": "risk", "risk_pct": 0.4}
    closes = _legs(desk, desk.ingest('{"action": "close", "symbol": "EURUSD", "lots": 0.2}')["signal_id"])
    assert [leg["payload"]["close"]["volume"] for leg in closes] == [0.2, 0.5]


def test_a_leg_that_cannot_trade_is_failed_at_once_and_the_signal_waits_for_the_others(desk: Desk) -> None:
    _second_connection(desk, active=False)
    result = desk.ingest('{"action": "buy", "symbol": "EURUSD", "lots": 0.1}')
    legs = _legs(desk, result["signal_id"])
    assert [(leg["status"], leg["error_message"]) for leg in legs] == [
        ("pending", None), ("failed", "broker connection Second is inactive")]
    assert desk.signal(result["signal_id"])["status"] == "pending"  # the first leg still runs


def test_an_alert_no_connection_can_take_is_discarded_with_the_reason(desk: Desk) -> None:
    desk.db.admin.execute("update broker_connections set is_active = false where id = %s", (desk.broker_id,))
    _second_connection(desk, agent=False)
    result = desk.ingest('{"action": "buy", "symbol": "EURUSD"}')
    assert (result["status"], result["code"], result["reason"]) == (
        "discarded", "disabled", "broker connection Demo broker is inactive")
    assert desk.count("jobs") == 0


def test_cancel_by_the_alert_that_placed_the_order(desk: Desk) -> None:
    placed = desk.ingest('{"id": "dip-1", "action": "buylimit", "symbol": "EURUSD", "entry_pips": 20}')
    cancel = _job(desk, '{"action": "cancel", "symbol": "EURUSD", "cancel_id": "dip-1"}')
    assert cancel["cancel"] == {"side": "all", "job_id": placed["job_id"]}
    unknown = desk.ingest('{"action": "cancel", "symbol": "EURUSD", "cancel_id": "nope"}')
    assert (unknown["code"], unknown["reason"]) == ("invalid", 'no alert with id "nope" placed an order for this '
                                                               "strategy")


def test_a_signal_is_resolved_when_all_its_legs_are_and_names_each_leg(desk: Desk) -> None:
    _second_connection(desk)
    result = desk.ingest('{"action": "buy", "symbol": "EURUSD", "lots": 0.1}')
    first, second = (str(r["id"]) for r in desk.db.admin.execute(
        "select id from jobs where signal_id = %s order by (payload ->> 'leg')::int", (result["signal_id"],)))
    desk.db.admin.execute("update jobs set status = 'completed', completed_at = now(), "
                          "result = '{\"price\": 1.0851, \"order\": 777, \"note\": \"\"}' where id = %s", (first,))
    assert desk.signal(result["signal_id"])["status"] == "pending"  # one leg still open
    desk.db.admin.execute("update jobs set status = 'failed', completed_at = now(), "
                          "error_message = 'No money (retcode 10019)' where id = %s", (second,))
    signal = desk.signal(result["signal_id"])
    assert (signal["status"], float(signal["fill_price"]), signal["broker_order_id"]) == ("failed", 1.0851, "777")
    assert signal["error_message"] == "1 of 2 accounts failed — Demo broker: done; Second: No money (retcode 10019)"
    both = desk.ingest('{"action": "sell", "symbol": "EURUSD", "lots": 0.1}')
    desk.db.admin.execute("update jobs set status = 'completed', completed_at = now(), "
                          "result = '{\"price\": 1.0849, \"order\": 778, \"note\": \"\"}' where signal_id = %s",
                          (both["signal_id"],))
    assert (desk.signal(both["signal_id"])["status"], desk.signal(both["signal_id"])["error_message"]) == (
        "executed", None)
