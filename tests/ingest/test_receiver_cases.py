"""The receiver's cases, one table, two targets: the local receiver and the Supabase Edge Function.

Every case runs against both (``kind``: ``local`` is ``tnm_desktop/webhook`` on its own thread,
``edge`` is ``supabase/functions/tv`` served by Deno), on the same database, over real HTTP, and
checks what TradingView is told and what the trader's signal log holds. What only one receiver
has (the idle timeout and malformed HTTP, which on Supabase the platform's gateway handles; the
embedding API; the CLI) is tested in the other modules of this package.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.webhook.config import secret_tag

from tests.ingest.conftest import Desk, make_desk
from tests.ingest.fuzzing import leaked_secrets
from tests.ingest.targets import TARGETS, Settings, Target, serve
from tests.pg import Db, create_test_database, drop_test_database

NOT_FOUND = {"signal_id": None, "status": "not_found", "reason": "not found"}
WRONG_METHOD = {"signal_id": None, "status": "not_found", "reason": "send alerts with POST"}
HEALTHY = {"status": "ok", "database": "ok"}
ALERT = '{"action": "buy", "symbol": "EURUSD", "price": 1.085}'
BIG = json.dumps({"action": "buy", "symbol": "EURUSD", "comment": "x" * 12_000})
NOT_JSON = "the alert is neither JSON nor PineConnector syntax (LicenseID,buy,EURUSD,risk=1)"


@dataclass(frozen=True)
class Case:
    """One request and what must come of it.

    ``path`` may hold ``{secret}`` (the strategy's), ``{SECRET}`` (upper-cased) or ``{pct}``
    (every character percent-encoded). ``state`` is the answer's ``status``; with ``answer`` the
    whole body must be that. A signal is logged exactly when the answer names one, with ``reason``
    as its error; ``jobs`` trade jobs follow. ``setup`` runs as the superuser first.
    """

    id: str
    body: str | bytes = ALERT
    status: int = 200
    state: str = "discarded"
    reason: str | None = None
    answer: Mapping[str, object] | None = None
    method: str = "POST"
    path: str = "/tv/{secret}"
    jobs: int = 0
    setup: str = ""
    allow: str | None = None
    stored: object = None  # the raw payload the signal log must hold (JSON as parsed, else the text)


CASES = [
    Case("json-alert", status=200, state="pending", jobs=1),
    Case("pineconnector-alert", "60123456789,buy,EURUSD,risk=1,sl=10,tp=20", state="pending", jobs=1),
    Case("pineconnector-close", "60123456789,closelongpct,EURUSD,risk=50", state="pending", jobs=1),
    Case("text", "hello", 400, reason=NOT_JSON),
    Case("array", "[]", 400, reason='the alert must be a JSON object, like {"action": "buy", "symbol": "EURUSD"}'),
    Case("bad-number", '{"action": "buy", "symbol": "EURUSD", "risk": "x"}', 422, reason='risk must be a number (got "x")'),
    Case("pineconnector-pending-order", "60123456789,buylimit,EURUSD,risk=1", 422,
         reason="buylimit needs price=<where the order waits>"),
    Case("pineconnector-atr-trailing", "60123456789,buy,EURUSD,risk=1,atrtimeframe=60", 422,
         reason="unsupported PineConnector parameter atrtimeframe"),
    Case("pineconnector-trailing-without-distance", "60123456789,buy,EURUSD,risk=1,trailtrig=10", 422,
         reason="a trailing stop needs trailtrig and traildist"),
    Case("over-10000-bytes", BIG, 413, reason=f"the alert is too large ({len(BIG)} bytes; the limit is 10000)"),
    # Bytes are decoded as UTF-8 with replacement characters, a byte-order mark kept, NUL replaced.
    Case("byte-order-mark", b"\xef\xbb\xbf" + ALERT.encode(), 422, stored="\ufeff" + ALERT,
         reason='unsupported PineConnector command "symbol": "EURUSD"'),  # not JSON, so read as comma syntax
    Case("not-utf-8", b'{"action": "buy", "symbol": "EURUSD", "comment": "caf\xe9 \xff"}', state="pending", jobs=1,
         stored={"action": "buy", "symbol": "EURUSD", "comment": "caf\ufffd \ufffd"}),
    Case("nul", b'{"action": "buy", "symbol": "EURUSD", "comment": "a\x00b"}', state="pending", jobs=1,
         stored={"action": "buy", "symbol": "EURUSD", "comment": "a\ufffdb"}),
    Case("disabled-strategy", status=403, reason="strategy is disabled",
         setup="update tv_strategies set is_enabled = false where id = %(strategy)s"),
    Case("trading-off", status=403, reason="Trading switch: trading is turned off in Settings. New entries are "
                                           "refused until trading is turned on again; closes still run.",
         setup="update user_settings set trading_enabled = false where user_id = %(user)s"),
    # The strategy's URL spelled with percent-encoding is still its URL.
    Case("percent-encoded-secret", path="/tv/{pct}", state="pending", jobs=1),
    Case("percent-encoded-route", path="/%74v/{secret}", state="pending", jobs=1),
    # Anything else answers one fixed 404 and logs nothing.
    Case("unknown-secret", path="/tv/nope", status=404, answer=NOT_FOUND),
    Case("nul-secret", path="/tv/%00", status=404, answer=NOT_FOUND),
    Case("long-secret", path="/tv/" + "x" * 300, status=404, answer=NOT_FOUND),
    Case("not-utf-8-secret", path="/tv/%FF%FE", status=404, answer=NOT_FOUND),
    Case("upper-case-secret", path="/tv/{SECRET}", status=404, answer=NOT_FOUND),
    Case("upper-case-route", path="/TV/{secret}", status=404, answer=NOT_FOUND),
    Case("more-after-the-secret", path="/tv/{secret}/more", status=404, answer=NOT_FOUND),
    Case("no-secret", method="GET", path="/tv/", status=404, answer=NOT_FOUND),
    Case("other-path", path="/anything/else", status=404, answer=NOT_FOUND),
    Case("secret-in-the-query", path="/x?secret={secret}", status=404, answer=NOT_FOUND),
    Case("post-healthz-as-a-secret", path="/tv/healthz", status=404, answer=NOT_FOUND),
    Case("get-an-alert-url", method="GET", status=405, answer=WRONG_METHOD, allow="POST"),
    Case("post-to-healthz", path="/healthz", status=405, answer=WRONG_METHOD, allow="GET, HEAD"),
    Case("healthz", method="GET", path="/healthz", answer=HEALTHY),
    Case("healthz-under-tv", method="GET", path="/tv/healthz", answer=HEALTHY),
]


@pytest.fixture(params=TARGETS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(desk: Desk, kind: str) -> Iterator[Target]:
    with serve(kind, desk.db.cluster, desk.db.name) as running:
        yield running


# The table's cases share one database and one receiver of each kind (starting Deno costs about a
# second on a loaded machine); each case has a trader of its own and looks only at that trader's rows.
@pytest.fixture(scope="module")
def shared_db(pg_cluster: LocalCluster) -> Iterator[Db]:
    database = create_test_database(pg_cluster)
    yield database
    drop_test_database(database)


@pytest.fixture(scope="module", params=TARGETS)
def shared_target(shared_db: Db, request: pytest.FixtureRequest) -> Iterator[Target]:
    with serve(str(request.param), shared_db.cluster, shared_db.name) as running:
        yield running


@pytest.fixture
def own_desk(shared_db: Db) -> Iterator[Desk]:
    made = make_desk(shared_db)
    yield made
    made.close()


def _user_signals(desk: Desk) -> list[dict[str, object]]:
    return [dict(r) for r in desk.db.admin.execute(
        "select id::text, status, error_message, raw_payload from tv_signals where user_id = %s", (desk.user.id,))]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(own_desk: Desk, shared_target: Target, case: Case) -> None:
    desk, target = own_desk, shared_target
    if case.setup:
        desk.db.admin.execute(case.setup, {"strategy": desk.strategy_id, "user": desk.user.id})
    pct = "".join(f"%{b:02X}" for b in desk.secret.encode())
    path = case.path.replace("{secret}", desk.secret).replace("{SECRET}", desk.secret.upper()).replace("{pct}", pct)
    body = case.body.encode() if isinstance(case.body, str) else case.body
    got = target.client.request(case.method, path, body if case.method == "POST" else None)

    assert got.status == case.status, (got.status, got.body)
    if case.answer is not None:
        assert got.body == case.answer
    else:
        assert got.body == {"signal_id": got.body["signal_id"], "status": case.state, "reason": case.reason}
    if case.allow is not None:
        assert got.headers["allow"] == case.allow
    signals = _user_signals(desk)
    if case.answer is not None:
        assert signals == []
    else:
        assert [(s["id"], s["status"], s["error_message"]) for s in signals] == [
            (got.body["signal_id"], case.state, case.reason)]
        if case.stored is not None:
            assert signals[0]["raw_payload"] == case.stored
    assert desk.count("jobs", "user_id = %s", (desk.user.id,)) == case.jobs


def test_a_duplicate_is_answered_200_and_makes_no_second_job(desk: Desk, target: Target) -> None:
    first = target.client.post(desk.secret, '{"id": "a-1", "action": "sell", "symbol": "EURUSD"}')
    again = target.client.post(desk.secret, '{"id": "a-1", "action": "sell", "symbol": "EURUSD"}')
    assert (first.status, first.body["status"]) == (200, "pending")
    assert (again.status, again.body["status"], again.body["reason"]) == (200, "discarded", "duplicate")
    assert again.body["signal_id"] != first.body["signal_id"] and desk.count("jobs") == 1


def test_a_rotated_secret_answers_like_an_unknown_one(desk: Desk, target: Target) -> None:
    old = desk.secret
    desk.db.call_as(desk.user, "select rotate_strategy_secret(%s)", (desk.strategy_id,))
    assert (target.client.post(old, ALERT).status, target.client.post(old, ALERT).body) == (404, NOT_FOUND)
    assert desk.count("tv_signals") == 0


def test_a_body_over_the_cap_is_refused_unread_and_still_logged(desk: Desk, kind: str) -> None:
    with serve(kind, desk.db.cluster, desk.db.name, Settings(max_body_bytes=1000)) as target:
        big = '{"action": "buy", "symbol": "EURUSD", "comment": "' + "y" * 200_000 + '"}'
        got = target.client.post(desk.secret, big)
        assert (got.status, got.body["reason"]) == (413, "the alert is too large (more than 1000 bytes)")
        assert desk.signal(got.body["signal_id"])["raw_payload"] == big[:1000]
        assert (target.client.post("unknown", big).status, target.client.post("unknown", big).body) == (404, NOT_FOUND)
        assert target.client.post(desk.secret, ALERT).status == 200
    assert desk.count("tv_signals") == 2


def test_each_strategy_is_rate_limited_and_limited_requests_are_logged(desk: Desk, kind: str) -> None:
    _, other = desk.add_strategy("Other")
    with serve(kind, desk.db.cluster, desk.db.name, Settings(rate_per_second=0.01, burst=3)) as target:
        answers = [target.client.post(desk.secret, json.dumps({"action": "buy", "symbol": "EURUSD", "id": n}))
                   for n in range(5)]
        assert [a.status for a in answers] == [200, 200, 200, 429, 429]
        for answer in answers[3:]:
            assert (answer.body["status"], answer.body["reason"]) == ("discarded", "rate limited")
            assert int(answer.headers["retry-after"]) >= 1
        assert target.client.post(other, ALERT).status == 200
    rows = desk.db.admin.execute("select status, error_message from tv_signals where strategy_id = %s",
                                 (desk.strategy_id,)).fetchall()
    assert sorted((r["status"], r["error_message"]) for r in rows) == [
        ("discarded", "rate limited")] * 2 + [("pending", None)] * 3


def test_a_body_that_does_not_arrive_in_time_gets_408_and_is_logged(desk: Desk, kind: str) -> None:
    with serve(kind, desk.db.cluster, desk.db.name, Settings(read_timeout=0.3)) as target:
        head = asyncio.run(_stall(target, desk.secret))
    assert head.startswith(b"HTTP/1.1 408"), head
    row = desk.db.admin.execute("select status, error_message, raw_payload from tv_signals").fetchone()
    assert row == {"status": "discarded", "error_message": "the alert did not arrive completely within 0.3 s",
                   "raw_payload": '{"action": "b'}


async def _stall(target: Target, secret: str) -> bytes:
    client = target.client
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(f"POST /tv/{secret} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
                     + b'{"action": "b')
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
        await writer.wait_closed()


def test_an_unreachable_database_answers_503_with_retry_after(desk: Desk, kind: str) -> None:
    # Nothing listens there (a closed port of the loopback for the function, a missing socket for us).
    url = ("postgresql://tnm_ingest@/tnm?host=/nonexistent-tnm-socket-dir&port=5" if kind == "local"
           else "postgresql://tnm_ingest:x@127.0.0.1:1/tnm")
    with serve(kind, desk.db.cluster, desk.db.name, url=url) as target:
        started = time.monotonic()
        got = target.client.post(desk.secret, "{}")
        assert time.monotonic() - started < 3
        assert (got.status, got.body["status"], got.headers["retry-after"]) == (503, "unavailable", "5")
        assert target.client.get("/healthz").status == 503


def test_a_database_too_slow_to_answer_in_time_gets_503_within_three_seconds(desk: Desk, target: Target) -> None:
    blocker = desk.db.connect()
    try:
        # Logging the signal needs a key-share lock on its strategy; hold a stronger one.
        blocker.execute("select 1 from tv_strategies where id = %s for update", (desk.strategy_id,))
        started = time.monotonic()
        got = target.client.post(desk.secret, ALERT)
        assert (got.status, "retry-after" in got.headers) == (503, True)
        assert time.monotonic() - started < 3
        blocker.rollback()
        assert target.client.post(desk.secret, ALERT).status == 200
    finally:
        blocker.close()
    assert desk.count("tv_signals") == 1


def test_a_role_that_may_not_ingest_answers_503_not_500(desk: Desk, kind: str) -> None:
    with serve(kind, desk.db.cluster, desk.db.name, role="authenticator") as target:
        got = target.client.post(desk.secret, "{}")
        log = target.log_text()
    assert (got.status, got.body["status"]) == (503, "unavailable")
    assert "ingestion refused the call (" in log
    assert desk.count("tv_signals") == 0


def test_no_secret_reaches_the_log(desk: Desk, target: Target) -> None:
    _, other = desk.add_strategy("Other")
    unknown = "0123456789abcdef0123456789abcdef0123456789abcdef"
    client = target.client
    for secret, body in [(desk.secret, ALERT), (desk.secret, "junk"), (unknown, "{}"), (desk.secret, "z" * 70_000),
                         (desk.secret, json.dumps({"action": other, "symbol": "EURUSD"})),
                         (desk.secret, f"60123456789,buy,EURUSD,{other}=1"), (desk.secret, other)]:
        client.post(secret, body)
    for method, path in [("GET", f"/tv/{desk.secret}"), ("POST", f"/TV/{desk.secret}"),
                         ("POST", f"/tv/{quote(desk.secret.upper())}"), ("POST", f"/x?s={desk.secret}")]:
        client.request(method, path, b"{}")
    log = target.log_text()
    assert leaked_secrets(log, [desk.secret, other, unknown]) == []
    assert f"strategy {secret_tag(desk.secret)}: 200 accepted" in log
    assert f"strategy {secret_tag(desk.secret)}: 413 rejected" in log
    assert f"strategy {secret_tag(unknown)}: 404 not_found" in log
