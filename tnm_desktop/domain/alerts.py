"""The alert message a trader pastes into TradingView, and a sample of what TradingView sends.

The message uses TradingView's placeholders; TradingView replaces them when the alert fires.
``{{close}}`` is a number, so it is not quoted. The format is documented in README.md
("TradingView alerts") and parsed by ``public.ingest_tv_signal``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tnm_desktop.domain.trading import Strategy

STRATEGY_MESSAGE = (
    '{"id": "{{strategy.order.id}}-{{timenow}}", "action": "{{strategy.order.action}}", '
    '"symbol": "{{ticker}}", "price": {{close}}, "time": "{{timenow}}"}'
)


def alert_message(strategy: Strategy, *, sl_pips: float | None = None, tp_pips: float | None = None) -> str:
    """The message for a TradingView strategy alert, optionally with SL/TP distances in pips."""
    extra = ""
    if sl_pips is not None:
        extra += f', "sl_pips": {sl_pips:g}'
    if tp_pips is not None:
        extra += f', "tp_pips": {tp_pips:g}'
    del strategy  # every strategy gets the same message: its URL, not the body, identifies it
    return STRATEGY_MESSAGE[:-1] + extra + "}"


def sample_alert(action: str = "buy", symbol: str = "EURUSD", price: float = 1.0850,
                 *, now: datetime | None = None) -> str:
    """A body as TradingView would send it for :data:`STRATEGY_MESSAGE` (for "send test signal")."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"id": f"test-{moment}", "action": action, "symbol": symbol, "price": price,
                       "time": moment})
