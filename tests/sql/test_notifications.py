"""The notification outbox in SQL: events recorded once, each delivery claimed by one sender only."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest

from tests.pg import Db, User
from tests.world import build_world

Row = dict[str, object]


def claim(db: Db, user: User, channels: list[str], by: str = "app", max_age: int = 86400) -> list[Row]:
    return db.call_as(user, "select * from claim_notifications(%s, %s, %s)", (channels, by, max_age))


def record(db: Db, user: User, key: str, kind: str = "limit_reached", title: str = "Daily loss limit reached") -> bool:
    rows = db.call_as(user, "select record_notification(%s, %s, %s, 'No new trades today.') as new",
                      (key, kind, title))
    return bool(rows[0]["new"])


def test_an_event_is_recorded_once_whoever_reports_it(db: Db) -> None:
    user = db.create_user()
    assert record(db, user, "limit:daily_loss:2026-11-20") is True
    assert record(db, user, "limit:daily_loss:2026-11-20") is False
    rows = db.admin.execute("select kind, title, body from notifications where user_id = %s", (user.id,)).fetchall()
    assert rows == [{"kind": "limit_reached", "title": "Daily loss limit reached", "body": "No new trades today."}]


def test_a_kind_that_is_not_an_event_is_refused(db: Db) -> None:
    user = db.create_user()
    with pytest.raises(psycopg.errors.CheckViolation):
        record(db, user, "x", kind="lunch")


def test_each_delivery_goes_to_exactly_one_of_many_concurrent_senders(db: Db) -> None:
    user = db.create_user()
    for i in range(40):
        record(db, user, f"limit:{i}")
    won: dict[str, list[tuple[str, str]]] = {}
    start = threading.Barrier(6)

    def sender(name: str) -> None:
        start.wait()
        got: list[tuple[str, str]] = []
        for _ in range(5):
            got += [(str(r["notification_id"]), str(r["channel"])) for r in claim(db, user, ["telegram", "email"], name)]
        won[name] = got

    threads = [threading.Thread(target=sender, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [pair for got in won.values() for pair in got]
    assert len(everything) == 80 and len(set(everything)) == 80  # 40 events × 2 channels, none twice
    assert claim(db, user, ["telegram", "email"]) == []


def test_a_sender_claims_only_its_own_channels_and_the_kinds_the_trader_wants(db: Db) -> None:
    user = db.create_user()
    db.admin.execute("insert into notification_settings (user_id, events) values (%s, array['agent_down'])",
                     (user.id,))
    record(db, user, "agent_down:1", "agent_down", "Agent offline")
    record(db, user, "limit:1")
    got = claim(db, user, ["email"])
    assert [(r["channel"], r["kind"], r["title"], r["attempts"]) for r in got] == [
        ("email", "agent_down", "Agent offline", 1)]
    # The Telegram copy is still there for a sender that has the bot token.
    assert [r["channel"] for r in claim(db, user, ["telegram"], "agent")] == ["telegram"]


def test_old_events_are_not_sent_late(db: Db) -> None:
    user = db.create_user()
    record(db, user, "limit:old")
    db.admin.execute("update notifications set created_at = now() - interval '2 days' where user_id = %s", (user.id,))
    assert claim(db, user, ["telegram"]) == []


def test_a_failed_delivery_is_retried_with_backoff_five_times_at_most(db: Db) -> None:
    user = db.create_user()
    record(db, user, "limit:1")
    first = claim(db, user, ["telegram"])
    note = first[0]["notification_id"]
    db.call_as(user, "select finish_notification(%s, 'telegram', 'Telegram answered 502 Bad Gateway')", (note,))
    assert claim(db, user, ["telegram"]) == []  # not before its pause
    attempts = []
    for _ in range(6):
        db.admin.execute("update notification_deliveries set claimed_at = now() - interval '1 hour' "
                         "where notification_id = %s", (note,))
        again = claim(db, user, ["telegram"], "another sender")
        attempts += [r["attempts"] for r in again]
        if again:
            db.call_as(user, "select finish_notification(%s, 'telegram', 'still down')", (note,))
    assert attempts == [2, 3, 4, 5]
    row = db.admin.execute("select status, error, claimed_by from notification_deliveries where notification_id = %s",
                           (note,)).fetchone()
    assert row == {"status": "failed", "error": "still down", "claimed_by": "another sender"}


def test_a_sent_delivery_is_never_claimed_again(db: Db) -> None:
    user = db.create_user()
    record(db, user, "limit:1")
    note = claim(db, user, ["telegram"])[0]["notification_id"]
    db.call_as(user, "select finish_notification(%s, 'telegram', null)", (note,))
    db.admin.execute("update notification_deliveries set claimed_at = now() - interval '1 day'")
    assert claim(db, user, ["telegram"]) == []
    row = db.admin.execute("select status, sent_at is not null as sent from notification_deliveries").fetchone()
    assert row == {"status": "sent", "sent": True}


def test_no_one_claims_or_reports_another_users_events(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    record(db, alice, "limit:1")
    assert claim(db, bob, ["telegram", "email"]) == []
    note = claim(db, alice, ["telegram"])[0]["notification_id"]
    db.call_as(bob, "select finish_notification(%s, 'telegram', null)", (note,))
    row = db.admin.execute("select status from notification_deliveries").fetchone()
    assert row == {"status": "sending"}
    with db.as_anon() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from claim_notifications(array['telegram'], 'x')")


def test_a_failed_signal_is_one_event(db: Db) -> None:
    world = build_world(db, db.create_user())
    signal = world.ids["tv_signals"]
    db.admin.execute("update tv_signals set status = 'failed', error_message = 'Not enough money (retcode 10019)' "
                     "where id = %s", (signal,))
    db.admin.execute("update tv_signals set status = 'pending' where id = %s", (signal,))  # recovered…
    db.admin.execute("update tv_signals set status = 'failed' where id = %s", (signal,))  # …and failed again
    rows = db.admin.execute("select kind, title, body from notifications where kind = 'signal_failed'").fetchall()
    assert rows == [{"kind": "signal_failed", "title": "Signal failed",
                     "body": "BUY EURUSD (Trend): Not enough money (retcode 10019)"}]


def test_a_run_of_alerts_refused_for_their_age_is_one_event_until_it_pauses(db: Db) -> None:
    from tnm_desktop.domain.trade import stale_reason

    world = build_world(db, db.create_user())
    user, strategy = world.user, world.ids["tv_strategies"]

    def refused_for_age(age: int) -> str:
        row = db.admin.execute("insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload) "
                               "values (%s, %s, 'EURUSD', 'buy', '{}') returning id", (strategy, user.id)).fetchone()
        assert row is not None
        db.admin.execute("update tv_signals set status = 'failed', error_message = %s, resolved_at = now() "
                         "where id = %s", (stale_reason(age, 120), row["id"]))
        return str(row["id"])

    def told() -> list[str]:
        rows = db.admin.execute("select title from notifications where user_id = %s and kind = 'signal_failed' "
                                "order by created_at", (user.id,)).fetchall()
        return [str(r["title"]) for r in rows]

    first = [refused_for_age(age) for age in range(121, 141)]
    assert told() == ["Alerts not executed"]
    # Two minutes without another: the run is over, and the next refusal starts a new one.
    db.admin.execute("update tv_signals set resolved_at = now() - interval '121 seconds' where id = any(%s::uuid[])",
                     (first,))
    refused_for_age(300)
    refused_for_age(301)
    assert told() == ["Alerts not executed"] * 2


def test_sync_failing_is_told_once_per_streak_of_three(db: Db) -> None:
    world = build_world(db, db.create_user())
    agent = world.agent
    account = json.dumps({"login": 5001, "server": "Demo-Server"})
    outcomes = ["failed"] * 5 + ["success"] + ["failed"] * 3
    with db.connect() as conn:
        from tests.sql.test_jobs import agent_call

        for status in outcomes:
            agent_call(conn, agent, "select record_sync(%s, %s, 'scheduled', %s, now(), 5, %s, '[]', %s)",
                       (agent.id, agent.key, status, account, None if status == "success" else "IPC timeout"))
    rows = db.admin.execute("select body from notifications where kind = 'sync_failing' order by created_at").fetchall()
    assert [r["body"] for r in rows] == ["The last 3 syncs of account 5001 (Demo-Server) failed: IPC timeout"] * 2


def test_a_trade_refused_by_a_risk_limit_is_one_event_a_day_named_by_its_limit(db: Db) -> None:
    user = db.create_user()

    def refused(code: str, message: str) -> None:
        row = db.admin.execute("insert into jobs (user_id, job_type, status) values (%s, 'trade', 'running') "
                               "returning id", (user.id,)).fetchone()
        assert row is not None
        db.admin.execute("update jobs set status = 'failed', error_code = %s, error_message = %s where id = %s",
                         (code, message, row["id"]))

    # The agent's refusals, as tnm_desktop.domain.risk words them.
    refused("max_positions", "Maximum open positions: 3 positions are open; the limit is 3.")
    refused("max_positions", "Maximum open positions: 4 positions are open; the limit is 3.")  # same limit, same day
    refused("trading_disabled", "Trading switch: trading is turned off in Settings.")  # the trader's own switch
    refused("invalid_stops", "Invalid stops (10016)")  # a broker's refusal: no limit
    refused("daily_loss", "Maximum daily loss: daily loss 2.4 % reached the 2 % limit.")  # told by its lock
    refused("equity_floor", "Equity floor: equity 940.00 is below the floor of 1,000.00.")
    rows = db.admin.execute("select kind, title, body from notifications where user_id = %s order by created_at",
                            (user.id,)).fetchall()
    assert rows == [
        {"kind": "limit_reached", "title": "Maximum open positions reached",
         "body": "3 positions are open; the limit is 3. New entries that break it are refused; closes still run."},
        {"kind": "limit_reached", "title": "Equity floor reached",
         "body": "equity 940.00 is below the floor of 1,000.00. New entries that break it are refused; closes still "
                 "run."}]


def test_the_daily_loss_reached_is_told_once_a_trading_day_and_again_for_a_raised_limit(db: Db) -> None:
    world = build_world(db, db.create_user())
    user, agent = world.user, world.agent
    db.admin.execute("delete from daily_loss_locks where user_id = %s", (user.id,))  # the world's, and its event
    db.admin.execute("delete from notifications where user_id = %s", (user.id,))
    db.admin.execute("update user_settings set close_all_on_daily_loss = true where user_id = %s", (user.id,))
    reason = "daily loss 2.4 % reached the 2 % limit (balance at the start of the trading day 10,000.00 USD)"
    lock = ("select record_daily_loss(%s::uuid, %s, current_date, now() + interval '3 hours', %s::numeric, %s::numeric, "
            "%s) as new")
    told = "select title, body from notifications where user_id = %s and kind = 'limit_reached' order by created_at"
    assert db.call_as(user, lock, (agent.id, agent.key, 2, 2.4, reason)) == [{"new": True}]
    assert db.call_as(user, lock, (agent.id, agent.key, 2, 2.6, reason)) == [{"new": False}]  # the same day, again
    assert db.admin.execute(told, (user.id,)).fetchall() == [{
        "title": "Maximum daily loss reached",
        "body": reason + ". New entries are refused until the broker's next trading day; trading is turned off "
                         "and every position is being closed."}]
    # The trader raised the limit to 3 %, and the loss reached it too: that is news.
    assert db.call_as(user, lock, (agent.id, agent.key, 3, 3.1, "daily loss 3.1 % reached the 3 % limit")) == [
        {"new": True}]
    assert len(db.admin.execute(told, (user.id,)).fetchall()) == 2
