"""public.ingest_tv_signal: every rule with its reason, the job it creates, what it never logs."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from tnm_desktop.domain.alerts import alert_message, sample_alert

from tests.ingest.conftest import Desk, other_users_signal

# The alert message the README offers, as TradingView fills it in.
README_ALERT = {"id": "1-2025-11-20T14:00:00Z", "action": "buy", "symbol": "FX:EURUSD", "price": 1.0850,
                "time": "2025-11-20T14:00:00Z", "sl_pips": 20, "tp": 1.0950, "comment": "trend"}


def test_valid_alert_becomes_one_pending_signal_and_its_trade_job_in_one_transaction(desk: Desk) -> None:
    result = desk.ingest(json.dumps(README_ALERT))

    assert (result["status"], result["reason"], result["code"]) == ("pending", None, "accepted")
    signal = desk.signal(result["signal_id"])
    assert signal["status"] == "pending" and signal["error_message"] is None
    assert (signal["symbol"], signal["action"], float(signal["price"])) == ("EURUSD", "buy", 1.085)
    assert signal["raw_payload"] == README_ALERT
    assert str(signal["job_id"]) == result["job_id"]
    job = desk.job(result["job_id"])
    assert (job["job_type"], job["status"], str(job["user_id"])) == ("trade", "pending", desk.user.id)
    assert str(job["target_agent_id"]) == desk.agent.id
    assert desk.count("jobs") == 1 and desk.count("tv_signals") == 1
    same_tx = desk.db.admin.execute(
        "select s.xmin::text = j.xmin::text as same from tv_signals s join jobs j on j.id = s.job_id").fetchone()
    assert same_tx == {"same": True}

    trade = desk.instruction(result)
    assert (trade.action, trade.symbol, trade.broker_symbol) == ("buy", "EURUSD", "EURUSD.m")
    assert trade.sizing is not None and (trade.sizing.mode, trade.sizing.risk_pct) == ("risk", 0.75)
    assert trade.sl is not None and (trade.sl.pips, trade.sl.price) == (20.0, None)
    assert trade.tp is not None and (trade.tp.pips, trade.tp.price) == (None, 1.095)
    assert trade.close is None and trade.alert_price == 1.085 and trade.comment == "trend"
    assert (trade.signal_id, trade.strategy_id, trade.broker_connection_id) == (
        result["signal_id"], desk.strategy_id, desk.broker_id)
    assert trade.allowed_pairs is None
    assert (trade.limits.max_lot_size, trade.limits.default_sl_pips, trade.limits.trading_enabled) == (2.0, 25.0, True)


def test_an_accepted_alert_is_announced_once_already_linked_to_its_job(desk: Desk) -> None:
    # The signal log and the agent hear of a new signal once, with its job: no second change to
    # link them (each change wakes every listener of the trader).
    channel = "tnm_" + desk.user.id.replace("-", "")
    result, notes = desk.heard_on(channel, lambda: desk.ingest(json.dumps(README_ALERT)))
    assert notes == [("tv_signals", "insert", result["signal_id"]), ("jobs", "insert", result["job_id"])]
    assert str(desk.signal(result["signal_id"])["job_id"]) == result["job_id"]


def test_a_signal_still_cannot_name_a_job_that_does_not_exist(desk: Desk) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        desk.db.admin.execute("insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) "
                              "values (%s, %s, 'EURUSD', 'buy', '{}', gen_random_uuid())",
                              (desk.strategy_id, desk.user.id))


def test_stage_times_run_received_then_logged_then_job_created(desk: Desk) -> None:
    received = desk.db.admin.execute("select now() - interval '50 milliseconds' as t").fetchone()
    assert received is not None
    result = desk.ingest(json.dumps(README_ALERT), received_at=received["t"])
    signal = desk.signal(result["signal_id"])
    job = desk.job(result["job_id"])
    assert signal["received_at"] == received["t"]
    assert signal["received_at"] < signal["logged_at"] <= job["created_at"]


@pytest.mark.parametrize(("alert", "strategy_risk", "expected"), [
    ({"lots": 0.3}, 2.5, ("lots", 0.3)),
    ({"risk": "1.25"}, 2.5, ("risk", 1.25)),
    ({}, 2.5, ("risk", 2.5)),
    ({}, None, ("risk", 0.75)),
])
def test_sizing_is_the_alerts_lots_or_risk_then_the_strategys_then_the_settings(
        desk: Desk, alert: dict[str, object], strategy_risk: float | None, expected: tuple[str, float]) -> None:
    desk.db.admin.execute("update tv_strategies set risk_override_pct = %s where id = %s",
                          (strategy_risk, desk.strategy_id))
    trade = desk.instruction(desk.ingest(json.dumps({"action": "sell", "symbol": "GBPUSD", **alert})))
    assert trade.sizing is not None
    assert (trade.sizing.mode, trade.sizing.lots if expected[0] == "lots" else trade.sizing.risk_pct) == expected


@pytest.mark.parametrize(("symbol", "broker_symbol"), [
    ("OANDA:XAUUSD", "GOLD"), ("xauusd", "GOLD"), ("EURUSD", "EURUSD.m"), ("CAPITALCOM:US30", "US30.m")])
def test_broker_symbol_comes_from_the_symbol_map_else_the_suffix(desk: Desk, symbol: str, broker_symbol: str) -> None:
    trade = desk.instruction(desk.ingest(json.dumps({"action": "buy", "symbol": symbol})))
    assert trade.broker_symbol == broker_symbol


@pytest.mark.parametrize(("alert", "side", "fraction", "volume"), [
    ({"action": "close"}, "all", None, None),
    ({"action": "close", "close": "long"}, "long", None, None),
    ({"action": "flat", "close": "short", "percent": 50}, "short", 0.5, None),
    ({"action": "closelong", "lots": "0.2"}, "long", None, 0.2),
    ({"action": "close", "close": "all", "percent": 100}, "all", 1.0, None),
])
def test_close_instructions(desk: Desk, alert: dict[str, object], side: str, fraction: float | None,
                            volume: float | None) -> None:
    trade = desk.instruction(desk.ingest(json.dumps({"symbol": "EURUSD", "risk": 5, "sl_pips": 3, **alert})))
    assert trade.action == "close" and trade.sizing is None and trade.sl is None
    assert trade.close is not None and (trade.close.side, trade.close.fraction, trade.close.volume) == (
        side, fraction, volume)


INVALID = [
    ('{"symbol": "EURUSD"}', "invalid", "action is missing"),
    ('{"action": 1, "symbol": "EURUSD"}', "invalid", 'action must be text: "buy", "sell" or "close"'),
    ('{"action": "hold", "symbol": "EURUSD"}', "invalid",
     'action must be "buy", "sell", "close", a pending order, "cancel" or "newsltp" (got "hold")'),
    ('{"action": "buy"}', "invalid", "symbol is missing"),
    ('{"action": "buy", "symbol": "EUR USD"}', "invalid", 'symbol "EUR USD" is not a valid symbol'),
    ('{"action": "buy", "symbol": ["EURUSD"]}', "invalid", 'symbol ["EURUSD"] is not a valid symbol'),
    ('{"action": "buy", "symbol": "EURUSD", "risk": "abc"}', "invalid", 'risk must be a number (got "abc")'),
    ('{"action": "buy", "symbol": "EURUSD", "risk": -1}', "invalid", "risk must be more than 0 (got -1)"),
    ('{"action": "buy", "symbol": "EURUSD", "risk": 150}', "invalid", "risk must be at most 100 (got 150)"),
    ('{"action": "buy", "symbol": "EURUSD", "lots": 0}', "invalid", "lots must be more than 0 (got 0)"),
    ('{"action": "buy", "symbol": "EURUSD", "price": 1e400}', "invalid",
     "price must be at most 9999999 (got " + "1" + "0" * 38 + "…)"),
    ('{"action": "buy", "symbol": "EURUSD", "sl": 1.07, "sl_pips": 20}', "invalid",
     "give sl (a price) or sl_pips, not both"),
    ('{"action": "buy", "symbol": "EURUSD", "lots": 1, "risk": 1}', "invalid", "give lots or risk, not both"),
    ('{"action": "buy", "symbol": "EURUSD", "percent": 50}', "invalid", 'percent applies only to action "close"'),
    ('{"action": "close", "symbol": "EURUSD", "close": 1.085}', "invalid",
     'close must be "all", "long" or "short" (got 1.085; the alert price goes in "price")'),
    ('{"action": "closelong", "symbol": "EURUSD", "close": "short"}', "invalid",
     'action closelong contradicts close "short"'),
    ('{"action": "buy", "symbol": "EURUSD", "comment": {"a": 1}}', "invalid", "comment must be text"),
    ('{"action": "buy", "symbol": "EURUSD", "id": [1]}', "invalid", "id must be text or a number"),
    ("[1, 2]", "malformed", 'the alert must be a JSON object, like {"action": "buy", "symbol": "EURUSD"}'),
    ('{"action": "buy", "symbol": ', "malformed", "the alert is not valid JSON: invalid input syntax for type json"),
    ("   ", "malformed", "the alert is empty"),
    ("buy EURUSD now", "malformed",
     "the alert is neither JSON nor PineConnector syntax (LicenseID,buy,EURUSD,risk=1)"),
    ("60123456789,buylimit,EURUSD,risk=1", "invalid", "buylimit needs price=<where the order waits>"),
    ("60123456789,buy,EURUSD,risk=1,trailtrig=10", "invalid", "a trailing stop needs trailtrig and traildist"),
    ("60123456789,buy,EURUSD,risk=1,atrperiod=14", "invalid", "unsupported PineConnector parameter atrperiod"),
    ("60123456789,buy,EURUSD,risk", "invalid", 'PineConnector parameter "risk" has no value (write key=value)'),
    ("60123456789,closelongpct,EURUSD", "invalid", "closelongpct needs risk=<percent to close>"),
    ("buy,EURUSD,risk=1", "invalid", "PineConnector syntax starts with the license ID: LicenseID,buy,EURUSD,risk=1"),
]


@pytest.mark.parametrize(("body", "code", "reason"), INVALID)
def test_an_invalid_alert_is_logged_discarded_with_its_reason_and_no_job(
        desk: Desk, body: str, code: str, reason: str) -> None:
    result = desk.ingest(body)
    assert (result["status"], result["code"], result["reason"], result["job_id"]) == ("discarded", code, reason, None)
    signal = desk.signal(result["signal_id"])
    assert (signal["status"], signal["error_message"], signal["job_id"]) == ("discarded", reason, None)
    assert signal["resolved_at"] is not None
    assert desk.count("jobs") == 0


def test_what_a_discarded_signal_shows_of_the_alert(desk: Desk) -> None:
    json_result = desk.ingest('{"action": "BUY", "symbol": "oanda:eurusd", "risk": "lots"}')
    assert (desk.signal(json_result["signal_id"])["symbol"], desk.signal(json_result["signal_id"])["action"]) == (
        "EURUSD", "buy")
    text_result = desk.ingest("not json at all")
    assert desk.signal(text_result["signal_id"])["raw_payload"] == "not json at all"


def test_disabled_strategy_logs_discarded_and_creates_no_job(desk: Desk) -> None:
    desk.db.admin.execute("update tv_strategies set is_enabled = false where id = %s", (desk.strategy_id,))
    result = desk.ingest(json.dumps(README_ALERT))
    assert (result["status"], result["code"], result["reason"]) == ("discarded", "disabled", "strategy is disabled")
    assert desk.signal(result["signal_id"])["symbol"] == "EURUSD"
    assert desk.count("jobs") == 0


def test_pairs_outside_the_strategys_list_are_refused(desk: Desk) -> None:
    _, secret = desk.add_strategy("Majors", allowed_pairs=["FX:EURUSD", "gbpusd"])
    for symbol in ("EURUSD", "OANDA:GBPUSD"):
        assert desk.ingest(json.dumps({"action": "buy", "symbol": symbol}), secret=secret)["code"] == "accepted"
    refused = desk.ingest(json.dumps({"action": "buy", "symbol": "USDJPY"}), secret=secret)
    assert (refused["code"], refused["reason"]) == ("invalid", "pair USDJPY is not allowed for this strategy")
    assert desk.count("jobs") == 2
    trade = desk.instruction(desk.ingest(json.dumps({"action": "sell", "symbol": "EURUSD", "lots": 1}), secret=secret))
    assert trade.allowed_pairs == ("EURUSD", "GBPUSD") and trade.pair_allowed()


def test_unknown_symbol_is_refused_only_once_the_broker_reported_its_catalog(desk: Desk) -> None:
    assert desk.ingest('{"action": "buy", "symbol": "NOSUCH"}')["code"] == "accepted"
    desk.db.call_as(desk.user, "select record_broker_symbols(%s, %s, %s, %s)", (
        desk.agent.id, desk.agent.key, desk.broker_id,
        json.dumps(["EURUSD.m", {"symbol": "GOLD", "digits": 2, "contract_size": 100}])))
    refused = desk.ingest('{"action": "buy", "symbol": "NOSUCH", "lots": 1}')
    assert (refused["code"], refused["reason"]) == ("invalid", "unknown symbol NOSUCH.m for this broker")
    assert desk.ingest('{"action": "buy", "symbol": "XAUUSD"}')["code"] == "accepted"
    assert desk.ingest('{"action": "buy", "symbol": "EURUSD"}')["code"] == "accepted"
    assert desk.count("jobs") == 3


@pytest.mark.parametrize(("change", "reason"), [
    ("update user_settings set trading_enabled = false",
     "Trading switch: trading is turned off in Settings. New entries are refused until trading is turned on "
     "again; closes still run."),
    ("update broker_connections set is_active = false", "broker connection Demo broker is inactive"),
    ("update broker_connections set agent_id = null", "no MT5 agent serves broker connection Demo broker"),
])
def test_a_strategy_that_cannot_trade_now_logs_discarded(desk: Desk, change: str, reason: str) -> None:
    desk.db.admin.execute(change)
    result = desk.ingest(json.dumps(README_ALERT))
    assert (result["code"], result["reason"]) == ("disabled", reason)
    assert desk.count("jobs") == 0


def test_an_oversized_body_is_kept_truncated_and_discarded(desk: Desk) -> None:
    body = json.dumps({"action": "buy", "symbol": "EURUSD", "comment": "x" * 10_000})
    result = desk.ingest(body)
    assert (result["code"], result["reason"]) == (
        "too_large", f"the alert is too large ({len(body)} bytes; the limit is 10000)")
    raw = desk.signal(result["signal_id"])["raw_payload"]
    assert isinstance(raw, str) and raw.startswith(body[:2000])
    assert raw.endswith(f"[truncated: {len(body)} bytes received]") and len(raw) < 2100
    assert desk.count("jobs") == 0


def test_a_body_of_exactly_the_limit_is_accepted(desk: Desk) -> None:
    head = '{"action": "buy", "symbol": "EURUSD", "comment": "'
    body = head + "x" * (10_000 - len(head) - 2) + '"}'
    assert len(body.encode()) == 10_000
    assert desk.ingest(body)["code"] == "accepted"


@pytest.mark.parametrize("secret", ["no-such-secret", "", None, "x" * 5000, "' or 1=1 --"])
def test_a_wrong_or_unknown_secret_answers_not_found_and_logs_nothing(desk: Desk, secret: str | None) -> None:
    other_users_signal(desk.db)
    before = desk.count("tv_signals")
    assert desk.ingest(json.dumps(README_ALERT), secret=secret) == {
        "signal_id": None, "status": "not_found", "reason": "not found", "job_id": None, "code": "not_found"}
    assert desk.ingest("junk", secret=secret, reject="rate limited")["code"] == "not_found"
    assert desk.count("tv_signals") == before == 1 and desk.count("jobs") == 1


def test_a_rotated_secret_is_as_unknown_as_a_wrong_one(desk: Desk) -> None:
    old = desk.secret
    desk.db.call_as(desk.user, "select rotate_strategy_secret(%s)", (desk.strategy_id,))
    assert desk.ingest(json.dumps(README_ALERT), secret=old) == desk.ingest(json.dumps(README_ALERT), secret="wrong")
    assert desk.count("tv_signals") == 0


def test_the_receivers_refusal_is_logged_discarded_with_its_reason(desk: Desk) -> None:
    result = desk.ingest(json.dumps(README_ALERT), reject="rate limited")
    assert (result["status"], result["code"], result["reason"]) == ("discarded", "rejected", "rate limited")
    signal = desk.signal(result["signal_id"])
    assert (signal["error_message"], signal["symbol"], signal["raw_payload"]) == ("rate limited", "EURUSD", README_ALERT)
    assert desk.count("jobs") == 0
    # A refused delivery is no reason to call the next one a duplicate.
    assert desk.ingest(json.dumps(README_ALERT))["code"] == "accepted"


def test_the_readme_alert_message_as_tradingview_fills_it_in_is_accepted(desk: Desk) -> None:
    message = alert_message(None, sl_pips=20, tp_pips=40)  # type: ignore[arg-type]  # the strategy is unused
    assert message in (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

    def filled(order_id: str, action: str, position: str, size: str, prev: str) -> str:
        text = message
        for placeholder, value in [("{{strategy.order.id}}", order_id), ("{{timenow}}", "2025-11-20T14:00:00Z"),
                                   ("{{strategy.order.action}}", action), ("{{strategy.market_position}}", position),
                                   ("{{strategy.market_position_size}}", size),
                                   ("{{strategy.prev_market_position_size}}", prev),
                                   ("{{ticker}}", "OANDA:EURUSD"), ("{{close}}", "1.08512")]:
            text = text.replace(placeholder, value)
        return text

    trade = desk.instruction(desk.ingest(filled("Long", "buy", "long", "1", "0")))
    assert (trade.action, trade.symbol, trade.alert_price) == ("buy", "EURUSD", 1.08512)
    assert trade.sl is not None and trade.tp is not None and (trade.sl.pips, trade.tp.pips) == (20.0, 40.0)
    # The strategy's exit of that long arrives as a sell that leaves it flat: a close, never a short.
    exit_ = desk.instruction(desk.ingest(filled("Exit", "sell", "flat", "0", "1")))
    assert (exit_.action, exit_.sizing, exit_.close is not None and exit_.close.side) == ("close", None, "all")
    # The app's "send test signal" body is an alert like any other.
    assert desk.instruction(desk.ingest(sample_alert("sell", "GBPUSD", 1.27))).action == "sell"


def test_ingestion_plans_its_statements_once(desk: Desk) -> None:
    # Planning each statement again on every alert was a third of the function's time
    # (migration 20251218000000). A later `create or replace` of the function drops the setting
    # unless it says it again: this test is what notices.
    row = desk.db.admin.execute(
        "select proconfig from pg_proc "
        "where oid = 'tnm_privileged.ingest_tv_signal(text, text, timestamptz, text)'::regprocedure").fetchone()
    assert row is not None and "plan_cache_mode=force_generic_plan" in row["proconfig"]
    # And it still does its work with those plans: a new alert, then the same alert again.
    first = desk.ingest(json.dumps(README_ALERT))
    again = desk.ingest(json.dumps(README_ALERT))
    assert (first["code"], again["code"], again["reason"]) == ("accepted", "duplicate", "duplicate")
