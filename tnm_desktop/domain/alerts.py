"""The alert message a trader pastes into TradingView, and a sample of what TradingView sends.

The message uses TradingView's placeholders; TradingView replaces them when the alert fires.
Numbers (``{{close}}``, the position sizes) are not quoted. Besides the order's direction it
carries the strategy's market position after the order, so an exit is never read as an entry the
other way: with ``{{strategy.order.action}}`` alone, the exit of a long arrives as ``sell``. What a
signal against an open position does is the strategy's opposite-signal setting (:class:`Opposite`).
The format is documented in README.md ("TradingView alerts") and parsed by ``ingest_tv_signal``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tnm_desktop.domain.trade import Opposite
from tnm_desktop.domain.trading import Strategy

STRATEGY_MESSAGE = (
    '{"id": "{{strategy.order.id}}-{{timenow}}", "action": "{{strategy.order.action}}", '
    '"position": "{{strategy.market_position}}", "position_size": {{strategy.market_position_size}}, '
    '"prev_position_size": {{strategy.prev_market_position_size}}, '
    '"symbol": "{{ticker}}", "price": {{close}}, "time": "{{timenow}}"}'
)

# What the setting does, as the Strategies page says it next to the message.
OPPOSITE_CHOICES: dict[Opposite, tuple[str, str]] = {
    Opposite.CLOSE: (
        "Close only (safe)",
        "A signal against this strategy's open position closes it and opens nothing: a sell while the strategy "
        "is long closes the long. An exit (TradingView's position back to flat) closes; a partial exit closes "
        "that part. Nothing this message sends can open a position the other way."),
    Opposite.REVERSE: (
        "Close and reverse",
        "A signal against this strategy's open position closes it, then opens the new one, as a reversal on "
        "TradingView does. An exit (position back to flat) only closes; a partial exit closes that part."),
    Opposite.HEDGE: (
        "Hedge",
        "A signal against this strategy's open position opens the other side beside it (the account must allow "
        "hedging). An exit (position back to flat) closes both sides; a partial exit closes that part."),
}


def alert_message(strategy: Strategy, *, sl_pips: float | None = None, tp_pips: float | None = None) -> str:
    """The message for a TradingView strategy alert, optionally with SL/TP distances in pips."""
    extra = ""
    if sl_pips is not None:
        extra += f', "sl_pips": {sl_pips:g}'
    if tp_pips is not None:
        extra += f', "tp_pips": {tp_pips:g}'
    del strategy  # the URL identifies the strategy, and its setting is applied where the alert arrives
    return STRATEGY_MESSAGE[:-1] + extra + "}"


def opposite_explained(setting: str) -> str:
    """What the strategy's opposite-signal setting does, for the text next to the message."""
    try:
        return OPPOSITE_CHOICES[Opposite(setting)][1]
    except ValueError:
        return OPPOSITE_CHOICES[Opposite.CLOSE][1]


def sample_alert(action: str = "buy", symbol: str = "EURUSD", price: float = 1.0850,
                 *, now: datetime | None = None) -> str:
    """A body as TradingView would send it for :data:`STRATEGY_MESSAGE` (for "send test signal")."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    side = "long" if action == "buy" else "short"
    return json.dumps({"id": f"test-{moment}", "action": action, "position": side, "position_size": 1,
                       "prev_position_size": 0, "symbol": symbol, "price": price, "time": moment})


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
