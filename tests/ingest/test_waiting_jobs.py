"""The agent's channel: a job is announced there when it starts to wait, and only then
(migration 20251224000000). Everything else stays on the trader's channel, for the windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from tnm_desktop.data.local.live import channel_of, waiting_jobs_channel_of

from tests.ingest.conftest import Desk

BUY = '{"action": "buy", "symbol": "EURUSD", "sl_pips": 20}'
_HAND_OVER = ("select i.job_id::text as job, (i.claimed).id::text as claimed "
              "from public.ingest_tv_signal_and_claim(%s, %s, now(), null, %s, %s, 60) i")


def heard(desk: Desk, action: Callable[[], Any]) -> tuple[Any, list[tuple[str, str]]]:
    """Run ``action``; return what it returned and the (op, id) announced on the agent's channel."""
    result, notes = desk.heard_on(waiting_jobs_channel_of(desk.user.id), action)
    assert all(table == "jobs" for table, _, _ in notes), notes
    return result, [(op, job) for _, op, job in notes]


def hand_over(desk: Desk, body: str = BUY, *, key: str | None = None) -> dict[str, Any]:
    """The app's receiver's call: ingest, and claim for its idle agent."""
    with psycopg.connect(desk.ingest_url, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(_HAND_OVER, (desk.secret, body, desk.agent.id,
                                        desk.agent.key if key is None else key)).fetchone()
    assert row is not None
    return dict(row)


def claim(desk: Desk) -> dict[str, Any]:
    row = desk.db.admin.execute(
        "select (c.job).id::text as id, (c.job).lease_token::text as token "
        "from claim_next_job_with_limits(%s, %s, 60) c", (desk.agent.id, desk.agent.key)).fetchone()
    assert row is not None and row["id"] is not None
    return dict(row)


def test_an_alert_queued_for_the_agent_is_announced_as_waiting(desk: Desk) -> None:
    result, notes = heard(desk, lambda: desk.ingest(BUY))
    assert notes == [("waiting", result["job_id"])]


def test_the_job_handed_to_the_idle_agent_is_not_announced_to_it(desk: Desk) -> None:
    row, notes = heard(desk, lambda: hand_over(desk))
    assert row["claimed"] == row["job"] is not None
    assert notes == []
    # The windows still hear of it, created and claimed.
    row, general = desk.heard_on(channel_of(desk.user.id),
                                 lambda: hand_over(desk, '{"action": "sell", "symbol": "EURUSD"}'))
    assert row["claimed"] == row["job"] is not None
    assert ("jobs", "insert", row["job"]) in general and ("jobs", "update", row["job"]) in general


def test_what_the_hand_over_leaves_waiting_is_announced(desk: Desk) -> None:
    older = desk.ingest('{"action": "buy", "symbol": "EURUSD", "id": "first"}')
    row, notes = heard(desk, lambda: hand_over(desk, '{"action": "sell", "symbol": "EURUSD", "id": "second"}'))
    assert row["claimed"] == older["job_id"] != row["job"]
    assert notes == [("waiting", row["job"])]


def test_a_leg_for_another_agent_is_announced_and_the_claimed_leg_is_not(desk: Desk) -> None:
    other = desk.db.create_agent(desk.user, "laptop")
    second = desk.db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix) "
        "values (%s, %s, 'Prop', '.pro') returning id::text as id", (desk.user.id, other.id)).fetchone()
    assert second is not None
    desk.db.admin.execute("insert into strategy_connections (strategy_id, broker_connection_id, user_id, position) "
                          "values (%s, %s, %s, 2)", (desk.strategy_id, second["id"], desk.user.id))
    row, notes = heard(desk, lambda: hand_over(desk))
    legs = desk.db.admin.execute(
        "select id::text, status, target_agent_id::text as agent from jobs order by (payload ->> 'leg')::int"
    ).fetchall()
    assert [(leg["status"], leg["agent"]) for leg in legs] == [("running", desk.agent.id), ("pending", other.id)]
    assert row["claimed"] == legs[0]["id"]
    assert notes == [("waiting", legs[1]["id"])]


def test_with_a_key_not_accepted_the_new_job_is_announced(desk: Desk) -> None:
    row, notes = heard(desk, lambda: hand_over(desk, key="pk_wrong"))
    assert row["claimed"] is None
    assert notes == [("waiting", row["job"])]


def test_an_alert_that_creates_no_job_announces_nothing_and_the_next_alert_is_announced(desk: Desk) -> None:
    _, notes = heard(desk, lambda: hand_over(desk, "not json"))
    assert notes == []

    def two_calls_in_one_transaction() -> str:
        # The hand-over notes the jobs it creates only during its call: a later alert in the same
        # transaction is announced at the commit.
        with psycopg.connect(desk.ingest_url, row_factory=dict_row) as conn:
            conn.execute(_HAND_OVER, (desk.secret, '{"action": "buy"}', desk.agent.id, desk.agent.key))
            row = conn.execute("select job_id::text as job from public.ingest_tv_signal(%s, %s, now(), null)",
                               (desk.secret, BUY)).fetchone()
            conn.commit()
        assert row is not None and row["job"] is not None
        return str(row["job"])

    job, notes = heard(desk, two_calls_in_one_transaction)
    assert notes == [("waiting", job)]


def test_the_agents_own_claim_intent_and_completion_are_not_announced(desk: Desk) -> None:
    desk.ingest(BUY)

    def trade() -> None:
        held = claim(desk)
        args = (desk.agent.id, desk.agent.key, held["id"], held["token"])
        desk.db.admin.execute("select record_job_intent(%s, %s, %s, %s, '{\"volume\": 0.1}')", args)
        desk.db.admin.execute("select * from complete_job(%s, %s, %s, %s, '{\"order\": 1}')", args)

    _, notes = heard(desk, trade)
    assert notes == []


def test_a_job_back_in_the_queue_is_announced(desk: Desk) -> None:
    job = desk.ingest(BUY)["job_id"]
    # A failure to be tried again.
    held = claim(desk)
    _, notes = heard(desk, lambda: desk.db.admin.execute(
        "select * from fail_job(%s, %s, %s, %s, 'The terminal is busy', null, null, true, 0)",
        (desk.agent.id, desk.agent.key, held["id"], held["token"])))
    assert notes == [("waiting", job)]
    # A lease that expired, swept by the next claim, which takes the job again.
    claim(desk)
    desk.db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' where id = %s", (job,))
    _, notes = heard(desk, lambda: claim(desk))
    assert notes == [("waiting", job)]
