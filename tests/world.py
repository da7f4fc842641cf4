"""A user's complete set of rows: one in every table, written as the backend would."""

from __future__ import annotations

from dataclasses import dataclass

from tests.pg import Agent, Db, User


@dataclass(frozen=True)
class World:
    """Ids of one user's rows, table by table."""

    user: User
    agent: Agent
    ids: dict[str, str]


def build_world(db: Db, user: User) -> World:
    """Create one row per table for ``user`` (as the superuser, like the backend)."""
    agent = db.create_agent(user)
    a = db.admin

    def one(query: str, *params: object) -> str:
        row = a.execute(query, params).fetchone()
        assert row is not None
        return str(row["id"])

    ids: dict[str, str] = {"profiles": user.id, "user_settings": user.id, "mt5_agents": agent.id}
    ids["broker_connections"] = one(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix) "
        "values (%s, %s, 'Demo broker', '.m') returning id", user.id, agent.id)
    ids["trading_accounts"] = one(
        "insert into trading_accounts (user_id, broker_connection_id, login, server, balance) "
        "values (%s, %s, 5001, 'Demo-Server', 10000) returning id", user.id, ids["broker_connections"])
    ids["trades"] = one(
        "insert into trades (user_id, account_id, ticket, symbol, side, entry, volume, price, executed_at) "
        "values (%s, %s, 1001, 'EURUSD.m', 'buy', 'in', 0.1, 1.1, now()) returning id",
        user.id, ids["trading_accounts"])
    ids["ea_projects"] = one(
        "insert into ea_projects (user_id, name) values (%s, 'MA cross') returning id", user.id)
    ids["ea_versions"] = one(
        "insert into ea_versions (project_id, user_id, source_code) values (%s, %s, '// v1') returning id",
        ids["ea_projects"], user.id)
    ids["jobs"] = one(
        "insert into jobs (user_id, job_type, payload) values (%s, 'compile', '{}') returning id", user.id)
    ids["tv_strategies"] = one(
        "insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, 'Trend') "
        "returning id", user.id, ids["broker_connections"])
    # The strategy's own connection is one of its connections (a trigger writes that row).
    ids["strategy_connections"] = ids["tv_strategies"]
    ids["tv_signals"] = one(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload) "
        "values (%s, %s, 'EURUSD', 'buy', '{}') returning id", ids["tv_strategies"], user.id)
    ids["sync_logs"] = one(
        "insert into sync_logs (account_id, user_id, sync_type, started_at, status, error_message) "
        "values (%s, %s, 'scheduled', now(), 'failed', 'timeout') returning id",
        ids["trading_accounts"], user.id)
    ids["position_rules"] = one(
        "insert into position_rules (user_id, job_id, agent_id, symbol, side, ticket, manage) "
        "values (%s, %s, %s, 'EURUSD.m', 'buy', 7001, '{}') returning id", user.id, ids["jobs"], agent.id)
    a.execute("insert into position_rule_events (rule_id, seq, user_id, kind, sl) values (%s, 1, %s, 'breakeven', 1.1)",
              (ids["position_rules"], user.id))
    ids["position_rule_events"] = ids["position_rules"]
    a.execute("insert into broker_symbols (broker_connection_id, user_id, symbol, digits) values (%s, %s, 'EURUSD.m', 5)",
              (ids["broker_connections"], user.id))
    ids["broker_symbols"] = ids["broker_connections"]
    a.execute("insert into notification_settings (user_id, telegram_chat_id) values (%s, '42')", (user.id,))
    ids["notification_settings"] = user.id
    ids["notifications"] = one(
        "insert into notifications (user_id, event_key, kind, title) values (%s, 'agent_down:x', 'agent_down', "
        "'Agent offline') returning id", user.id)
    a.execute("insert into notification_deliveries (notification_id, user_id, channel) values (%s, %s, 'telegram')",
              (ids["notifications"], user.id))
    ids["notification_deliveries"] = ids["notifications"]
    ids["position_snapshots"] = one(
        "insert into position_snapshots (account_id, user_id, agent_id, taken_at, positions) "
        "values (%s, %s, %s, now(), '[]') returning id", ids["trading_accounts"], user.id, agent.id)
    a.execute("insert into account_equity (account_id, user_id, at, balance, equity) values (%s, %s, now(), 1, 1)",
              (ids["trading_accounts"], user.id))
    ids["account_equity"] = ids["trading_accounts"]
    a.execute("insert into daily_loss_locks (agent_id, user_id, trading_day, locked_until, limit_pct, loss_pct, reason) "
              "values (%s, %s, current_date, now() + interval '1 day', 2, 2.5, 'daily loss 2.5 %% reached')",
              (agent.id, user.id))
    ids["daily_loss_locks"] = agent.id
    return World(user, agent, ids)
