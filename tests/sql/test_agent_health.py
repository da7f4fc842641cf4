"""The agent's health in SQL: one threshold from the heartbeat, silent agents swept, down and back once."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg import Agent, Db
from tests.sql.test_jobs import agent_call

Row = dict[str, object]


def beat(conn: psycopg.Connection[Row], agent: Agent, status: str = "running", error: str | None = None,
         every: int | None = 10) -> None:
    agent_call(conn, agent, "select agent_heartbeat_every(%s, %s, %s, %s, %s, 'test')",
               (agent.id, agent.key, status, every, error))


def agent_row(db: Db, agent: Agent) -> Row:
    row = db.admin.execute("select * from mt5_agents where id = %s", (agent.id,)).fetchone()
    assert row is not None
    return row


def notes(db: Db, user_id: str, kind: str | None = None) -> list[Row]:
    return db.admin.execute(
        "select kind, title, body, event_key from notifications where user_id = %s "
        "and (%s::text is null or kind = %s) order by created_at, event_key",
        (user_id, kind, kind)).fetchall()


def silence(db: Db, agent: Agent, seconds: int) -> None:
    """As if the agent had said nothing for ``seconds`` (back-dated, not slept)."""
    db.admin.execute("update mt5_agents set last_heartbeat_at = now() - make_interval(secs => %s) where id = %s",
                     (seconds, agent.id))


def test_the_threshold_is_two_of_the_agents_own_heartbeat_periods(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    with db.connect() as conn:
        beat(conn, agent, every=7)
        assert (agent_row(db, agent)["heartbeat_every_s"], agent_row(db, agent)["stale_after_s"]) == (7, 14)
        beat(conn, agent, every=None)  # an agent that does not say: the default period
    assert (agent_row(db, agent)["heartbeat_every_s"], agent_row(db, agent)["stale_after_s"]) == (15, 30)


def test_a_silent_agent_is_swept_offline_by_a_sibling_once_and_comes_back_once(db: Db) -> None:
    user = db.create_user()
    dead, alive = db.create_agent(user, "desk pc"), db.create_agent(user, "vps")
    with db.connect() as conn:
        beat(conn, dead)
        beat(conn, alive)
        silence(db, dead, 19)  # inside two periods of 10 s: still up
        beat(conn, alive)
        assert agent_row(db, dead)["status"] == "running"
        silence(db, dead, 21)
        beat(conn, alive)
        beat(conn, alive)  # a second sweep finds nothing new
        row = agent_row(db, dead)
        assert row["status"] == "offline" and row["down_since"] == row["last_heartbeat_at"]
        down = notes(db, user.id)
        assert [(n["kind"], n["title"]) for n in down] == [("agent_down", "Agent offline")]
        assert "desk pc has sent no heartbeat since" in str(down[0]["body"])
        beat(conn, dead)
        beat(conn, dead)
    row = agent_row(db, dead)
    assert row["status"] == "running" and row["down_since"] is None
    assert [n["kind"] for n in notes(db, user.id)] == ["agent_down", "agent_back"]
    assert "desk pc is running again" in str(notes(db, user.id, "agent_back")[0]["body"])


def test_a_stop_is_one_down_and_the_next_start_one_back(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user, "desk pc")
    with db.connect() as conn:
        beat(conn, agent)
        beat(conn, agent, "stopped", "Auto-trading is disabled in MetaTrader 5.")
        beat(conn, agent, "stopped")  # its last word repeated: nothing new
        assert agent_row(db, agent)["down_since"] is not None
        silence(db, agent, 600)
        beat(conn, agent, "running")
    kinds = [(n["kind"], n["title"]) for n in notes(db, user.id)]
    assert kinds == [("agent_down", "Agent stopped"), ("agent_back", "Agent back")]
    assert notes(db, user.id, "agent_down")[0]["body"] == ("desk pc stopped: Auto-trading is disabled in MetaTrader 5. "
                                                          "Nothing is traded until it is started again.")


def test_a_stopped_agent_is_not_swept_as_silent(db: Db) -> None:
    user = db.create_user()
    stopped, other = db.create_agent(user), db.create_agent(user)
    with db.connect() as conn:
        beat(conn, stopped, "stopped")
        silence(db, stopped, 3600)
        beat(conn, other)
    assert agent_row(db, stopped)["status"] == "stopped"
    assert [n["title"] for n in notes(db, user.id)] == ["Agent stopped"]


def test_the_app_sweeps_only_its_own_users_agents(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    mine, theirs = db.create_agent(alice), db.create_agent(bob)
    with db.connect() as conn:
        beat(conn, mine)
        beat(conn, theirs)
    silence(db, mine, 100)
    silence(db, theirs, 100)
    swept = db.call_as(bob, "select * from sweep_stale_agents() as id")
    assert [str(r["id"]) for r in swept] == [theirs.id]
    assert agent_row(db, mine)["status"] == "running"
    assert notes(db, alice.id) == []
    # A heartbeat of bob's agent never sweeps alice's.
    with db.connect() as conn:
        beat(conn, theirs)
    assert agent_row(db, mine)["status"] == "running"
    swept = db.call_as(alice, "select * from sweep_stale_agents() as id")
    assert [str(r["id"]) for r in swept] == [mine.id]


def test_only_a_backend_sweeps_every_user(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    with db.connect() as conn:
        beat(conn, agent)
    silence(db, agent, 100)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.call_as(user, "select sweep_all_stale_agents()")
    with db.connect() as conn, conn.transaction():
        conn.execute("set local role service_role")
        row = conn.execute("select sweep_all_stale_agents() as n").fetchone()
    assert row is not None and row["n"] == 1


def test_the_old_five_argument_heartbeat_still_beats(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    with db.connect() as conn:
        agent_call(conn, agent, "select agent_heartbeat(%s, %s, 'running', null, 'old')", (agent.id, agent.key))
    row = agent_row(db, agent)
    assert (row["status"], row["stale_after_s"], row["agent_version"]) == ("running", 30, "old")
