"""Property: whatever body arrives, the receiver never answers 5xx, never falls over, and logs every
request whose secret is known exactly once; every job it creates is one the agent can parse.

10,000 generated bodies go over real HTTP to ``tnm-desktop webhook serve`` and into the real
database. The receiver runs as its own process: its connection pool draws on the ``random``
module, which hypothesis owns in this process while it generates examples.
"""

from __future__ import annotations

import http.client
import json
import os
import string
import subprocess
import sys
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tnm_desktop.domain.trade import TradeInstruction

from tests.ingest.conftest import Desk

EXAMPLES = 10_000
ALLOWED = {200, 400, 403, 404, 413, 422, 429}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_junk = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)
numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**30, 10**30)
           | st.decimals(allow_nan=False).map(str) | st.floats(0, 1000).map(str)
           | st.sampled_from(["1", "0.5", " 2 ", "1e3", "-1", "abc", "", "1,5", "0x10", "NaN", "1e99999"]))
actions = st.sampled_from(["buy", "sell", "close", "long", "short", "flat", "closelong", "BUY", " Sell ",
                           "{{strategy.order.action}}"]) | st.text(max_size=10) | json_scalars
symbols = st.sampled_from(["EURUSD", "FX:EURUSD", "OANDA:xauusd", "GBPJPY", "US30.cash", "BTCUSD", "{{ticker}}",
                           "", "EUR USD", "ES1!"]) | st.text(max_size=40) | json_junk
alert_like = st.fixed_dictionaries({}, optional={
    "id": st.text(max_size=30) | st.integers() | json_junk, "action": actions, "symbol": symbols,
    "price": numbers, "risk": numbers, "lots": numbers, "sl": numbers, "tp": numbers, "sl_pips": numbers,
    "tp_pips": numbers, "percent": numbers, "comment": st.text(max_size=100) | json_junk,
    "close": st.sampled_from(["all", "long", "short", "both"]) | json_scalars, "time": st.text(max_size=25),
    "extra": json_junk,
})
# Alerts a trader would really send, so that the job path is exercised as often as the refusals.
valid_alerts = st.fixed_dictionaries(
    {"action": st.sampled_from(["buy", "sell", "close", "long", "short"]),
     "symbol": st.sampled_from(["EURUSD", "FX:EURUSD", "OANDA:GBPJPY", "xauusd", "US30"])},
    optional={"id": st.text(max_size=20), "price": st.floats(0.0001, 99999), "risk": st.floats(0.01, 100),
              "sl_pips": st.floats(0.1, 5000) | st.floats(0.1, 5000).map(str), "tp": st.floats(0.0001, 99999),
              "comment": st.text(max_size=30), "time": st.text(max_size=25)})
comma_syntax = st.builds(
    lambda license_, command, symbol, params: ",".join([license_, command, symbol, *params]),
    st.sampled_from(["60123456789", "", "x"]) | st.text(string.digits, max_size=12),
    st.sampled_from(["buy", "sell", "long", "closelong", "closeshort", "closeall", "closelongpct", "closeshortvol",
                     "buylimit", "eaoff", "bullish"]) | st.text(max_size=10),
    st.sampled_from(["EURUSD", "XAUUSD", "GBPJPY", ""]) | st.text(max_size=10),
    st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
        ["risk", "sl", "tp", "vol_lots", "sl_price", "tp_pips", "comment", "secret", "trailtrig", "RISK"]),
        numbers.map(str) | st.text(max_size=8)) | st.text(max_size=12), max_size=6))
huge = st.builds(lambda piece, n: (piece * n)[:n], st.sampled_from(["a", "{", "é", "\x00", ",", "😀", "[1,"]),
                 st.integers(9_990, 70_000))

junk_bodies = st.one_of(
    alert_like.map(lambda d: json.dumps(d).encode()),
    alert_like.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    json_junk.map(lambda v: json.dumps(v).encode()),
    comma_syntax.map(str.encode),
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    huge.map(lambda t: t.encode("utf-8", "surrogatepass")),
)
# One body in three is an alert a trader would send; the rest is anything at all.
bodies = st.integers(0, 2).flatmap(
    lambda n: valid_alerts.map(lambda d: json.dumps(d).encode()) if n == 0 else junk_bodies)


class Sender:
    """One keep-alive HTTP connection to the receiver, reopened when the server closes it."""

    def __init__(self, base_url: str) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        self.conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        return resp.status, json.loads(data)

    def close(self) -> None:
        self.conn.close()


@pytest.mark.slow
def test_no_body_gets_a_5xx_and_every_known_secret_is_logged_exactly_once(desk: Desk) -> None:
    _, disabled = desk.add_strategy("Paused", is_enabled=False)
    _, majors = desk.add_strategy("Majors", allowed_pairs=["EURUSD", "GBPJPY"], risk_override_pct=2)
    known = {"enabled": desk.secret, "disabled": disabled, "majors": majors}
    unknown = st.sampled_from(["", "nope", desk.secret[:-1], desk.secret + "x"]) | st.text(max_size=60)
    known_secret = st.sampled_from(sorted(known))
    # Four known secrets for each unknown one: the logging path is the one to exercise.
    who = st.integers(0, 4).flatmap(lambda n: unknown.map(lambda s: "?" + s) if n == 0 else known_secret)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "tnm_desktop", "webhook", "serve", "--port", "0", "--rate", "500", "--burst", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, TNM_WEBHOOK_DATABASE_URL=desk.ingest_url))
    assert receiver.stdout is not None
    listening = receiver.stdout.readline().strip()
    assert listening.startswith("listening="), listening
    sender = Sender(listening.split("=", 1)[1])
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    signal_ids: set[str] = set()
    accepted = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(who=who, body=bodies)
    def post_one(who: str, body: bytes) -> None:
        nonlocal accepted
        secret = known.get(who, who[1:])
        status, answer = sender.post(f"/tv/{quote(secret, safe='')}", body)
        assert status in ALLOWED, (status, answer, body[:200])
        statuses[status] += 1
        assert set(answer) == {"signal_id", "status", "reason"}
        if who in known:
            sent[who] += 1
            assert answer["signal_id"] not in signal_ids and answer["signal_id"] is not None
            signal_ids.add(answer["signal_id"])
            accepted += answer["status"] == "pending"
        else:
            sent["unknown"] += 1
            assert (status, answer) == (404, {"signal_id": None, "status": "not_found", "reason": "not found"})

    try:
        post_one()
        assert receiver.poll() is None, "the receiver died"
        assert sender.post("/tv/", b"")[0] == 404  # and still answers
    finally:
        sender.close()
        receiver.terminate()
        receiver.wait(15)
        receiver.stdout.close()
    assert receiver.returncode == 0

    total = sum(sent.values())
    assert total >= EXAMPLES, sent
    # The generator reaches every kind of answer, accepted alerts included.
    assert {200, 400, 403, 404, 413, 422} <= set(statuses), statuses
    rows = desk.db.admin.execute(
        "select st.webhook_secret as secret, count(*) as n from tv_signals s join tv_strategies st "
        "on st.id = s.strategy_id group by 1").fetchall()
    logged = {next(k for k, v in known.items() if v == r["secret"]): r["n"] for r in rows}
    assert logged == {k: n for k, n in sent.items() if k != "unknown"}, (logged, sent)
    assert desk.count("tv_signals", "id = any(%s::uuid[])", (sorted(signal_ids),)) == len(signal_ids)
    jobs = desk.db.admin.execute("select payload from jobs").fetchall()
    assert len(jobs) == accepted > 0
    for job in jobs:
        TradeInstruction.from_payload(job["payload"])
