"""What a signal's order was and how it went, in the words of the signal detail's Execution box."""

from __future__ import annotations

from typing import Any

from tnm_desktop.domain import Job
from tnm_desktop.gui.widgets import fmt


def execution_rows(job: Job | None, position: str = "") -> list[tuple[str, str]]:
    """What was sent and how it filled: broker symbol, lots, SL/TP sent, fill, slippage, position.

    Args:
        job: The signal's trade job (anything else has no execution to show).
        position: What became of the position it opened, in words ("open 0.1 lots, +12.00 USD").
    """
    if job is None or job.job_type.value != "trade":
        return []
    intent = job.intent or {}
    result: dict[str, Any] = job.result if isinstance(job.result, dict) else {}
    symbol = result.get("broker_symbol") or intent.get("symbol") or job.payload.get("broker_symbol")
    lots = result.get("volume")
    sent = result.get("sent_volume") or intent.get("volume")
    sl = result.get("sent_sl", intent.get("sl"))
    tp = result.get("sent_tp", intent.get("tp"))
    rows = [("Broker symbol", str(symbol))] if symbol else []
    if result.get("pending"):  # a pending order waits for its price: nothing is filled yet
        lots_text = f"{float(lots):g} in a pending order" if lots is not None else "a pending order"
        rows.append(("Lots", lots_text))
        entry = fmt.price(result.get("entry"))
        rows.append(("Pending order", f"#{result.get('order')}" + (f" at {entry}" if entry else "")))
    elif sent is not None or lots is not None:
        lots_text = f"{float(lots):g} filled" if lots is not None else "not filled"
        rows.append(("Lots", f"{float(sent):g} sent, {lots_text}" if sent is not None else lots_text))
    if intent or "sent_sl" in result:
        rows.append(("Stop loss / take profit sent", f"{fmt.price(sl) or 'none'} / {fmt.price(tp) or 'none'}"))
    if result.get("price") is not None and not result.get("pending"):
        rows.append(("Fill", fmt.price(float(result["price"]))))
    slip = result.get("slippage_pips")
    if slip is not None:
        worse = "worse" if float(slip) > 0 else "better" if float(slip) < 0 else "exactly"
        where = f" (alert {fmt.price(float(result['alert_price']))})" if result.get("alert_price") else ""
        rows.append(("Slippage", "none: filled at the alert's price" if worse == "exactly"
                     else f"{abs(float(slip)):.1f} pips {worse}{where}"))
    if result.get("position"):
        rows.append(("Position", f"#{result['position']}" + (f" — {position}" if position else "")))
    return rows
