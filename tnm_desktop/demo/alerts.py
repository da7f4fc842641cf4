"""The demo's first alerts: real ones, posted through the receiver, so the log shows each outcome."""

from __future__ import annotations

import json
import urllib.request
from urllib.error import HTTPError

# The first alerts of a new demo: real ones, through the receiver, so the log shows each outcome.
FIRST_ALERTS: tuple[tuple[str, str], ...] = (
    ("EURUSD trend", json.dumps({"id": "demo-1", "action": "buy", "symbol": "FX:EURUSD", "price": 1.0833,
                                 "sl_pips": 20, "tp_pips": 40})),
    ("EURUSD trend", json.dumps({"id": "demo-1", "action": "buy", "symbol": "FX:EURUSD", "price": 1.0833,
                                 "sl_pips": 20, "tp_pips": 40})),  # TradingView sent it twice: a duplicate
    ("EURUSD trend", json.dumps({"id": "demo-2", "action": "sell", "symbol": "GBPUSD", "price": 1.2667,
                                 "sl_pips": 25})),
    ("EURUSD trend", json.dumps({"id": "demo-3", "action": "buy", "symbol": "XAUUSD"})),  # not an allowed pair
    ("EURUSD trend", '{"action": "buy", "symbol": EURUSD'),  # malformed JSON
    ("Gold breakout", "60123456789,buy,XAUUSD,risk=0.5,sl=300,tp=600"),  # PineConnector syntax
    ("EURUSD trend", json.dumps({"id": "demo-4", "action": "close", "symbol": "EURUSD", "percent": 50})),
    ("US30 momentum", json.dumps({"id": "demo-5", "action": "buy", "symbol": "US30", "lots": 0.5})),  # an index
)


def post(url: str, body: str, timeout: float = 5.0) -> tuple[int, str]:
    """POST an alert body to a webhook URL; return the status and the answer."""
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310 — our receiver
                                     headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status), answer.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()
