"""Positions snapshots and the closed-trade history in SQL, against figures worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from tests.history_seed import D1, D2, magic_of, seed_history, strategy, traded_job
from tests.pg import Db
from tests.sql.test_jobs import agent_call
from tests.world import World, build_world

Row = dict[str, object]
@pytest.fixture
def seeded(db: Db) -> tuple[World, str, str, str]:
    """Five positions: four closed (two strategies and none), one open. Returns (world, A, B, job of #1)."""
    world = build_world(db, db.create_user())
    return (world, *seed_history(db, world))


def test_closed_trades_are_whole_positions_with_their_origin(db: Db, seeded: tuple[World, str, str, str]) -> None:
    world, a, b, job = seeded
    rows = db.call_as(world.user, "select * from closed_trades()")
    assert [r["position_id"] for r in rows] == [103, 105, 102, 101]  # newest close first
    first = rows[-1]
    assert (first["side"], first["volume"], first["open_price"], first["close_price"]) == (
        "buy", Decimal("0.10"), Decimal("1.100000"), Decimal("1.105000"))
    assert first["net"] == Decimal("49.20") and first["commission"] == Decimal("-0.70")
    assert (str(first["strategy_id"]), str(first["job_id"])) == (a, job) and first["signal_id"] is not None
    gold = rows[0]
    assert (gold["side"], gold["volume"], gold["net"], str(gold["strategy_id"])) == (
        "buy", Decimal("0.05"), Decimal("-10.00"), b)
    assert gold["close_price"] == Decimal("1998.000000")  # (0.02 × 2010 + 0.03 × 1990) / 0.05
    assert rows[1]["strategy_id"] is None


def test_the_history_filters(db: Db, seeded: tuple[World, str, str, str]) -> None:
    world, a, _b, _job = seeded

    def positions(query: str, *params: object) -> list[object]:
        return [r["position_id"] for r in db.call_as(world.user, query, params)]

    assert positions("select * from closed_trades(p_strategy_id => %s)", a) == [102, 101]
    assert positions("select * from closed_trades(p_symbol => 'XAUUSD.m')") == [103]
    assert positions("select * from closed_trades(p_since => %s, p_until => %s)", D1, D2) == [102, 101]
    assert positions("select * from closed_trades(p_account_id => gen_random_uuid())") == []
    assert positions("select * from closed_trades(p_limit => 1)") == [103]


def test_stats_match_the_hand_computed_figures(db: Db, seeded: tuple[World, str, str, str]) -> None:
    world, a, b, _job = seeded
    rows = db.call_as(world.user, "select * from trade_stats()")
    every = rows[0]
    assert every["scope"] == "all"
    # Nets: +49.20, −60.70, −10.00, +15.00.
    assert (every["trades"], every["wins"], every["losses"]) == (4, 2, 2)
    assert every["win_rate"] == Decimal("50.00")
    assert (every["gross_profit"], every["gross_loss"], every["net"]) == (
        Decimal("64.20"), Decimal("-70.70"), Decimal("-6.50"))
    assert (every["avg_win"], every["avg_loss"]) == (Decimal("32.10"), Decimal("-35.35"))
    assert every["profit_factor"] == Decimal("0.91")  # 64.20 / 70.70 = 0.908…
    assert (every["avg_slippage_pips"], every["slippage_samples"]) == (Decimal("0.50"), 2)
    by = {str(r["strategy_id"]) if r["strategy_id"] else None: r for r in rows[1:]}
    assert {k: (v["trades"], v["net"], v["win_rate"], v["profit_factor"]) for k, v in by.items()} == {
        None: (1, Decimal("15.00"), Decimal("100.00"), None),
        a: (2, Decimal("-11.50"), Decimal("50.00"), Decimal("0.81")),  # 49.20 / 60.70
        b: (1, Decimal("-10.00"), Decimal("0.00"), Decimal("0.00")),
    }
    assert (by[a]["avg_slippage_pips"], by[b]["avg_slippage_pips"]) == (Decimal("0.50"), None)
    assert (by[b]["avg_win"], by[b]["avg_loss"]) == (None, Decimal("-10.00"))


def test_daily_pnl_in_the_traders_time_zone(db: Db, seeded: tuple[World, str, str, str]) -> None:
    world, _a, _b, _job = seeded
    utc = db.call_as(world.user, "select * from daily_pnl()")
    assert [(str(r["day"]), r["trades"], r["net"]) for r in utc] == [
        ("2026-11-18", 2, Decimal("-11.50")), ("2026-11-19", 2, Decimal("5.00"))]
    berlin = db.call_as(world.user, "select * from daily_pnl(p_time_zone => 'Europe/Berlin')")
    assert [(str(r["day"]), r["net"]) for r in berlin] == [
        ("2026-11-18", Decimal("-11.50")), ("2026-11-19", Decimal("15.00")), ("2026-11-20", Decimal("-10.00"))]
    with pytest.raises(psycopg.Error) as raised:
        db.call_as(world.user, "select * from daily_pnl(p_time_zone => 'Mars/Olympus')")
    assert raised.value.sqlstate == "TNV01"


def test_another_user_sees_no_history(db: Db, seeded: tuple[World, str, str, str]) -> None:
    other = db.create_user()
    assert db.call_as(other, "select * from closed_trades()") == []
    assert [r["trades"] for r in db.call_as(other, "select * from trade_stats()")] == [0]
    assert db.call_as(other, "select * from daily_pnl()") == []


def snapshot(db: Db, world: World, positions: list[dict[str, object]], *, taken_at: datetime | None = None,
             balance: float = 10_000, equity: float = 10_000, key: str | None = None) -> str:
    agent = world.agent
    with db.connect() as conn:
        rows = agent_call(conn, agent, "select record_positions(%s, %s, %s, %s, %s, '[]') as id",
                          (agent.id, key or agent.key, taken_at or datetime.now(UTC),
                           json.dumps({"login": 5001, "server": "Demo-Server", "balance": balance, "equity": equity,
                                       "currency": "EUR"}), json.dumps(positions)))
    return str(rows[0]["id"])


def test_a_snapshot_names_the_job_signal_and_strategy_of_each_position(db: Db) -> None:
    world = build_world(db, db.create_user())
    a = strategy(db, world, "Alpha")
    job, signal = traded_job(db, world, a, "tnm-00000000000000b1")
    snapshot(db, world, [
        {"ticket": 1, "symbol": "EURUSD.m", "comment": "tnm-00000000000000b1", "magic": magic_of(a)},
        {"ticket": 2, "symbol": "EURUSD.m", "comment": "", "magic": magic_of(a)},
        {"ticket": 3, "symbol": "EURUSD.m", "comment": "by hand", "magic": 0}])
    rows = db.call_as(world.user, "select account_id::text, currency, balance, positions from position_snapshots")
    assert len(rows) == 1 and rows[0]["account_id"] == world.ids["trading_accounts"] and rows[0]["currency"] == "EUR"
    positions = rows[0]["positions"]
    assert isinstance(positions, list)
    assert [(p["ticket"], p["job_id"], p["signal_id"], p["strategy_id"]) for p in positions] == [
        (1, job, signal, a), (2, None, None, a), (3, None, None, None)]


def test_an_older_reading_never_replaces_a_newer_one(db: Db) -> None:
    world = build_world(db, db.create_user())
    now = datetime.now(UTC)
    snapshot(db, world, [{"ticket": 2}], taken_at=now)
    snapshot(db, world, [{"ticket": 1}], taken_at=now - timedelta(seconds=5))
    rows = db.call_as(world.user, "select positions from position_snapshots")
    assert [[p["ticket"] for p in r["positions"]] for r in rows] == [[2]]


def test_only_the_agent_writes_snapshots(db: Db) -> None:
    world = build_world(db, db.create_user())
    with pytest.raises(psycopg.Error) as raised:
        snapshot(db, world, [], key="pk_" + "0" * 64)
    assert raised.value.sqlstate == "TNA01"
    other = db.create_user()
    assert db.call_as(other, "select * from position_snapshots") == []


def test_equity_points_at_most_a_minute_apart_unless_the_balance_moves(db: Db) -> None:
    world = build_world(db, db.create_user())
    db.admin.execute("delete from account_equity")
    now = datetime.now(UTC)
    snapshot(db, world, [], taken_at=now - timedelta(seconds=120), balance=100, equity=100)
    snapshot(db, world, [], taken_at=now - timedelta(seconds=100), balance=100, equity=101)  # too soon: skipped
    snapshot(db, world, [], taken_at=now - timedelta(seconds=90), balance=110, equity=110)  # the balance moved
    snapshot(db, world, [], taken_at=now, balance=110, equity=112)
    points = db.call_as(world.user, "select balance, equity from equity_curve(%s)", (world.ids["trading_accounts"],))
    assert [(float(p["balance"]), float(p["equity"])) for p in points] == [(100, 100), (110, 110), (110, 112)]


def test_the_curve_is_thinned_to_the_points_asked_for(db: Db) -> None:
    world = build_world(db, db.create_user())
    db.admin.execute("delete from account_equity")
    db.admin.execute("insert into account_equity (account_id, user_id, at, balance, equity) "
                     "select %s, %s, now() - make_interval(mins => g), 1000 + g, 1000 + g "
                     "from generate_series(0, 999) g", (world.ids["trading_accounts"], world.user.id))
    points = db.call_as(world.user, "select at, balance from equity_curve(%s, p_points => 50)",
                        (world.ids["trading_accounts"],))
    assert 45 <= len(points) <= 51
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)
    assert points[-1]["balance"] == Decimal("1000.00")  # the newest reading is always kept
    assert db.call_as(db.create_user(), "select * from equity_curve(%s)", (world.ids["trading_accounts"],)) == []


def test_modify_position_joins_the_job_types_without_losing_one(db: Db) -> None:
    user = db.create_user()
    allowed = ["compile", "deploy", "run", "stop", "test", "trade", "get_positions", "get_account", "get_candles",
               "close_position", "sync_account", "modify_position"]
    for job_type in allowed:
        db.call_as(user, "insert into jobs (user_id, job_type) values (%s, %s)", (user.id, job_type))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.call_as(user, "insert into jobs (user_id, job_type) values (%s, 'teleport')", (user.id,))
