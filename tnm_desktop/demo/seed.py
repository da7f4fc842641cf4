"""The demo workspace's data: a trader, a paired agent, a broker on the simulator, three strategies,
an EA project with three versions, a day of sync history for the health view, and a made-up
week of closed trades and balance readings for the History tab.

Idempotent: a workspace seeded once is left as it is. Blocking; run it off the GUI thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
import psycopg

from tnm_desktop import keystore
from tnm_desktop.agent.pairing import hash_key, new_key, secret_name
from tnm_desktop.agent.target import SIMULATOR_PATH
from tnm_desktop.agent.trading import magic_for
from tnm_desktop.demo.history import seed_history
from tnm_desktop.ea.templates import get_template, render_template
from tnm_desktop.workspace import Connections, Workspace

DEMO_EMAIL = "demo@tnm.local"
# Local only: the workspace's database is reachable by its owner alone. Shown in the sign-in window.
DEMO_PASSWORD = "demo-trader"  # noqa: S105
SIM_LOGIN, SIM_SERVER = 51234567, "TNM-Simulator"  # the simulator's account


@dataclass(frozen=True, slots=True)
class DemoIds:
    """What the demo created."""

    user_id: str
    email: str
    agent_id: str
    broker_id: str
    strategies: dict[str, str]  # name -> webhook secret


def seed(workspace: Workspace, conns: Connections) -> DemoIds:
    """Create the demo data the first time; return its ids either way."""
    with psycopg.connect(conns.admin, autocommit=True) as conn:
        settings = workspace.settings()
        if settings.demo_user_id is not None:
            existing = _load(conn, settings.demo_user_id)
            if existing is not None:
                return existing
        with conn.transaction():
            ids = _create(conn)
    # The key goes to the keyring only after the database knows its hash.
    key = ids[1]
    keystore.set_secret(secret_name(ids[0].agent_id), key)
    workspace.update_settings(demo_user_id=ids[0].user_id, agent_id=ids[0].agent_id)
    return ids[0]


def _load(conn: psycopg.Connection[tuple[object, ...]], user_id: str) -> DemoIds | None:
    user = conn.execute("select email from auth.users where id = %s", (user_id,)).fetchone()
    agent = conn.execute("select id::text from mt5_agents where user_id = %s order by created_at limit 1",
                         (user_id,)).fetchone()
    broker = conn.execute("select id::text from broker_connections where user_id = %s order by created_at limit 1",
                          (user_id,)).fetchone()
    if user is None or agent is None or broker is None:
        return None
    strategies = {str(name): str(secret) for name, secret in conn.execute(
        "select name, webhook_secret from tv_strategies where user_id = %s order by name", (user_id,))}
    return DemoIds(user_id, str(user[0]), str(agent[0]), str(broker[0]), strategies)


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str, *params: object) -> str:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return str(row[0])


def _create(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[DemoIds, str]:
    password = bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode()
    user = _one(conn, "insert into auth.users (email, encrypted_password, email_confirmed_at, raw_user_meta_data) "
                      "values (%s, %s, now(), '{\"display_name\": \"Demo Trader\"}') "
                      "on conflict (email) do update set encrypted_password = excluded.encrypted_password "
                      "returning id::text", DEMO_EMAIL, password)
    conn.execute("update user_settings set risk_percent = 1.0, default_sl_pips = 20, max_lot_size = 2.0 "
                 "where user_id = %s", (user,))
    key = new_key()
    hashes = hash_key(key, 10)
    agent = _one(conn, "insert into mt5_agents (user_id, name, machine_name, terminal_path, mt5_login, mt5_server, "
                       "pairing_key_hash, pairing_key_sha256, pairing_key_prefix) values (%s, 'This computer (demo)', "
                       "'demo', %s, %s, %s, %s, %s, %s) returning id::text", user, SIMULATOR_PATH, SIM_LOGIN,
                 SIM_SERVER, hashes.bcrypt, hashes.sha256, hashes.prefix)
    broker = _one(conn, "insert into broker_connections (user_id, agent_id, name, broker_name, server, login, "
                        "account_type, symbol_suffix, symbol_map) values (%s, %s, 'Simulator (paper trading)', "
                        "'TNM Simulated Markets', %s, %s, 'demo', '.m', '{\"GOLD\": \"XAUUSD.m\"}') returning id::text",
                  user, agent, SIM_SERVER, SIM_LOGIN)
    strategies, magic = {}, {}
    for name, risk, pairs in (("EURUSD trend", None, ["EURUSD", "GBPUSD"]), ("Gold breakout", 0.5, ["XAUUSD"]),
                              ("US30 momentum", None, ["US30"])):
        secret = _one(conn, "insert into tv_strategies (user_id, broker_connection_id, name, risk_override_pct, "
                            "allowed_pairs) values (%s, %s, %s, %s, %s) returning webhook_secret",
                      user, broker, name, risk, pairs)
        strategies[name] = secret
        magic[name] = magic_for(_one(conn, "select id::text from tv_strategies where webhook_secret = %s", secret))
    _ea_project(conn, user)
    account = _sync_history(conn, user, broker)
    seed_history(conn, user, account, magic)
    return DemoIds(user, DEMO_EMAIL, agent, broker, strategies), key


def _ea_project(conn: psycopg.Connection[tuple[object, ...]], user: str) -> None:
    template = get_template("ma_cross")
    values = template.defaults()
    project = _one(conn, "insert into ea_projects (user_id, name, description, symbol, timeframe) values "
                         "(%s, 'MA cross', 'Moving-average cross from the template, tuned by hand', 'EURUSD', 'H1') "
                         "returning id::text", user)
    first = render_template(template, values)
    tuned = {**values, **{k: v for k, v in (("fast_period", 12), ("slow_period", 34)) if k in values}}
    second = render_template(template, tuned)
    third = second.replace("//+------------------------------------------------------------------+",
                           "//+------------------------------------------------------------------+\n"
                           "// v3: tuned periods; trade only the London and New York sessions", 1)
    versions = (
        (first, "generated", "from the moving-average cross template", json.dumps(values)),
        (second, "manual", "faster averages", None),
        (third, "manual", "session note", None),
    )
    for source, origin, note, params in versions:
        version = _one(conn, "insert into ea_versions (project_id, user_id, source_code, origin, note, parameters) "
                             "values (%s, %s, %s, %s, %s, %s) returning id::text",
                       project, user, source, origin, note, params)
    conn.execute("update ea_projects set current_version_id = %s where id = %s", (version, project))


def _sync_history(conn: psycopg.Connection[tuple[object, ...]], user: str, broker: str) -> str:
    # A day of scheduled syncs every 20 minutes, with the failures a real terminal has now and then,
    # so the health view and its chart have something to show before the first live sync.
    account = _one(conn, "insert into trading_accounts (user_id, broker_connection_id, login, server, broker_name, "
                         "name, currency, leverage, balance, equity, connection_status) values (%s, %s, %s, %s, "
                         "'TNM Simulated Markets', 'Paper Trader', 'USD', 100, 10000, 10000, 'connected') "
                         "returning id::text", user, broker, SIM_LOGIN, SIM_SERVER)
    now = datetime.now(UTC)
    failures = {9: "IPC timeout (-10005): the terminal did not answer", 10: "IPC timeout (-10005): the terminal "
                "did not answer", 31: "Trade server connection lost (10031)", 52: "Terminal not connected"}
    rows = []
    for i in range(72):
        started = now - timedelta(minutes=20 * (72 - i))
        error = failures.get(i)
        status = "partial" if i == 52 else ("failed" if error else "success")
        duration = 4800 + i % 5 * 300 if error else 180 + (i * 37) % 260
        rows.append((account, user, started, started + timedelta(milliseconds=duration), status, 0 if error else i % 3,
                     error, duration))
    with conn.cursor() as cur:
        cur.executemany("insert into sync_logs (account_id, user_id, sync_type, started_at, completed_at, "
                        "status, trades_synced, error_message, duration_ms) "
                        "values (%s, %s, 'scheduled', %s, %s, %s, %s, %s, %s)", rows)
    conn.execute("update trading_accounts set last_sync_at = %s, last_successful_sync_at = %s where id = %s",
                 (now - timedelta(minutes=20), now - timedelta(minutes=20), account))
    return account
