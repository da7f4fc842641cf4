"""PineConnector's comma syntax makes the same orders (the same job payloads) as our JSON.

The left column holds examples from PineConnector's syntax guide (docs.pineconnector.com/syntax)
and its parameter names; the right, the JSON a trader would write for the same order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ingest.conftest import Desk

PAIRS: list[tuple[str, dict[str, Any]]] = [
    # The guide's sample alert messages.
    ("60123456789,buy,AUDUSD,risk=0.1", {"action": "buy", "symbol": "AUDUSD", "risk": 0.1}),
    ("60123456789,sell,GBPJPY,sl=50,risk=1", {"action": "sell", "symbol": "GBPJPY", "sl_pips": 50, "risk": 1}),
    ("60123456789,closelong,GBPUSD", {"action": "close", "symbol": "GBPUSD", "close": "long"}),
    ("60123456789,buy,EURUSD,risk=1,sl=10,tp=20",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "sl_pips": 10, "tp_pips": 20}),
    ("60123456789,buy,AUDUSD,vol_lots=0.1", {"action": "buy", "symbol": "AUDUSD", "lots": 0.1}),
    ("60123456789,sell,EURUSD,vol_lots=1, secret=HappyTrader501", {"action": "sell", "symbol": "EURUSD", "lots": 1}),
    # Spacing around commas is accepted; the command's synonyms too.
    ("60123456789 , closeshort , EURUSD", {"action": "close", "symbol": "EURUSD", "close": "short"}),
    ("LicenseID,long,US30.Cash,risk=1", {"action": "long", "symbol": "US30.CASH", "risk": 1}),
    ("70123456789,bearish,NAS100,risk=0.5", {"action": "sell", "symbol": "NAS100", "risk": 0.5}),
    # Close both sides; partial closes by percent and by volume.
    ("60123456789,closelongshort,EURUSD", {"action": "close", "symbol": "EURUSD", "close": "all"}),
    # Every symbol's positions and pending orders (the symbol is the chart's, and does not matter).
    ("60123456789,closeall,EURUSD", {"action": "closeall"}),
    ("60123456789,closelongpct,EURUSD,risk=50", {"action": "close", "symbol": "EURUSD", "close": "long", "percent": 50}),
    ("60123456789,closeshortvol,EURUSD,risk=0.3", {"action": "close", "symbol": "EURUSD", "close": "short", "lots": 0.3}),
    # The explicit parameter names of newer EA versions.
    ("60123456789,buy,EURUSD,vol_pct_bal_loss=1,sl_pips=20,tp_pips=40",
     {"action": "buy", "symbol": "EURUSD", "risk": 1, "sl_pips": 20, "tp_pips": 40}),
    ("60123456789,sell,EURUSD,risk=2,sl_price=1.0950,tp_price=1.0700",
     {"action": "sell", "symbol": "EURUSD", "risk": 2, "sl": 1.095, "tp": 1.07}),
    ('60123456789,buy,XAUUSD,risk=1,sl=300,comment="strategy 1"',
     {"action": "buy", "symbol": "XAUUSD", "risk": 1, "sl_pips": 300, "comment": "strategy 1"}),
]


def _payload(desk: Desk, body: str) -> dict[str, Any]:
    result = desk.ingest(body)
    assert result["code"] == "accepted", (body, result)
    desk.instruction(result)  # the agent's parser takes it
    payload = dict(desk.job(result["job_id"])["payload"])
    del payload["signal_id"]
    return payload


@pytest.mark.parametrize(("pine", "alert"), PAIRS, ids=[p for p, _ in PAIRS])
def test_pineconnector_syntax_makes_the_same_job_as_the_equivalent_json(
        desk: Desk, pine: str, alert: dict[str, Any]) -> None:
    assert _payload(desk, pine) == _payload(desk, json.dumps(alert))


def test_the_raw_pineconnector_alert_is_kept_as_text(desk: Desk) -> None:
    result = desk.ingest("60123456789,buy,AUDUSD,risk=0.1")
    assert desk.signal(result["signal_id"])["raw_payload"] == "60123456789,buy,AUDUSD,risk=0.1"


@pytest.mark.parametrize(("pine", "reason"), [
    ("60123456789,buy,EURUSD,vol_dollar=50,sl=20", "unsupported PineConnector parameter vol_dollar"),
    ("60123456789,buy,EURUSD,risk=1,atrtimeframe=60,atrperiod=14", "unsupported PineConnector parameter atrtimeframe"),
    ("60123456789,buystop,EURUSD,risk=1", "buystop needs price=<where the order waits>"),
    ("60123456789,buystoplimit,EURUSD,risk=1,price=20", "buystoplimit needs stoplimit=<the price of the limit order "
                                                         "it places>"),
    ("60123456789,newsltplong,EURUSD", "newsltplong needs sl= or tp="),
    ("60123456789,buy,EURUSD,risk=1,beoffset=5", "beoffset needs betrigger"),
    ("60123456789,buy,EURUSD,risk=1,betrigger=5,beoffset=5", "beoffset (5) must be less than betrigger (5)"),
    ("60123456789,buy,EURUSD,risk=1,traildist=10", "a trailing stop needs trailtrig and traildist"),
    ("60123456789,buy,EURUSD,risk=1,tp=40,tp1=20", "give tp or the targets tp1…tp3, not both"),
    ("60123456789,buy,EURUSD,risk=1,tp1=20,tp1pct=60,tp2=40,tp2pct=60",
     "the targets close 120% of the volume; at most 100% can be closed"),
    ("60123456789,buy,EURUSD,risk=1,tp2=40", "tp2 needs tp1 first"),
    ("60123456789,closelong,EURUSD,betrigger=10", "breakeven, trailing and tp1…tp3 apply only to buy and sell alerts"),
    ("60123456789,buy,EURUSD,risk=1,price=10", "entry applies only to pending orders (buylimit, sellstop, …)"),
    ("60123456789,buy,EURUSD,risk=1,risk=2", "PineConnector parameter risk is given twice"),
    ("60123456789,buy,EURUSD,risk=1,sl=10,sl_price=1.05", "give sl (a price) or sl_pips, not both"),
    ("60123456789,buy,EURUSD,risk=1,sl_pips=10,sl=10", "PineConnector parameter sl repeats another one that sets sl_pips"),
    ("60123456789,buy,EURUSD,risk=abc", 'risk must be a number (got "abc")'),
    ("60123456789,closeshortvol,EURUSD", "closeshortvol needs risk=<lots to close>"),
    ("60123456789,buy,,risk=1", "symbol is missing"),
])
def test_unsupported_pineconnector_alerts_are_discarded_with_the_reason(desk: Desk, pine: str, reason: str) -> None:
    result = desk.ingest(pine)
    assert (result["status"], result["reason"]) == ("discarded", reason)
    assert desk.count("jobs") == 0
