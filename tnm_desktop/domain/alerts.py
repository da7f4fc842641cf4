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


_TARGET_WORDS = {"pips": "pips from the entry", "price": "prices", "percent": "percent of the price"}
_ENTRY_WORDS = {"pips": "pips from the market", "price": "a price", "percent": "percent from the market"}
_ACCOUNT_WORDS = {"balance": "the balance", "equity": "the equity", "free_margin": "the free margin",
                  "margin_level": "the margin level (%)"}


def pine_settings(strategy: Strategy) -> str:
    """How this strategy reads PineConnector alerts, in a trader's words (shown beside the message)."""
    text = (f"PineConnector alerts: sl=, tp=, tp1…tp3= are {_TARGET_WORDS[strategy.target_type]} · price= is "
            f"{_ENTRY_WORDS[strategy.entry_type]} · accfilter= compares {_ACCOUNT_WORDS[strategy.account_filter]}")
    if strategy.trading_window is not None:
        text += f" · entries only {strategy.trading_window.describe()}"
    return text + "."


def pine_example(strategy: Strategy) -> str:
    """A PineConnector line this strategy takes, with its own reading of the numbers."""
    sl, tp = {"pips": ("20", "40"), "price": ("{{low}}", "{{high}}"), "percent": ("0.5", "1")}[strategy.target_type]
    return f"60123456789,buy,{{{{ticker}}}},risk=1,sl={sl},tp={tp},betrigger=15,beoffset=1"
