"""Closes and stop changes from the Positions page, with the agent killed at every step: each done once.

As in test_crash_injection_orders.py (whose crash helper this uses): the agent dies (a BaseException
in its own code path) before the intent is stored, after it is stored, after the terminal acted, or
after the result is stored, sometimes with its lease expired meanwhile; a new agent on a new
connection to the same terminal then finishes the job. A close must never close more than it was asked to, a partial close must
never be sent twice, and a stop change must end with the levels asked for.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tnm_desktop.agent.trading import token_for
from tnm_desktop.agent.worker import AgentSettings
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import FAST, TradeRig, make_rig
from tests.agent.test_crash_injection_orders import run_with_crash
from tests.must import must
from tests.pg import Db

STEPS = ["before_intent", "before_send", "after_send", "after_result", None]
KINDS = ["close", "part", "symbol", "modify"]
RUNS = int(__import__("os").environ.get("TNM_CRASH_RUNS_CLOSES", "40"))


def closing_deals(rig: TradeRig, job_id: str) -> list[mt5.TradeDeal]:
    window = (datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=2))
    deals = rig.sim.history_deals_get(*window)
    if deals is None:  # the agent's shutdown left the terminal disconnected
        assert rig.sim.initialize()
        deals = must(rig.sim.history_deals_get(*window))
    token = token_for(job_id)
    return [d for d in deals if d.comment.startswith(token) and d.entry == mt5.DEAL_ENTRY_OUT]


@pytest.mark.slow
async def test_closes_and_stop_changes_survive_a_crash_at_every_step(db: Db) -> None:
    rng = random.Random(20261211)
    rig = await make_rig(db)
    rig.sim.control.deposit(1_000_000)
    settings = AgentSettings(lease_seconds=FAST.lease_seconds, heartbeat_every=30.0, fallback_poll_every=1.0,
                             sync_every=3600, backoff_base=0.01, backoff_max=0.05)
    seen: Counter[str] = Counter()
    try:
        for run in range(RUNS):
            step = STEPS[run % len(STEPS)]
            kind = KINDS[(run // len(STEPS)) % len(KINDS)]
            expire = rng.random() < 0.4
            await rig.start(rig.runner(), settings)
            opened = await rig.final(rig.trade("buy", "EURUSD", sizing={"mode": "lots", "lots": 0.1})[0])
            await rig.stop()
            ticket = int(opened["result"]["position"])
            price_open = must(rig.sim.positions_get(ticket=ticket))[0].price_open
            sl = round(price_open - rng.choice([0.0020, 0.0030, 0.0040]), 5)
            tp = round(price_open + 0.0050, 5)
            payloads: dict[str, dict[str, Any]] = {  # as the Positions page writes them: plain prices
                "close": {"ticket": ticket}, "part": {"ticket": ticket, "volume": 0.04},
                "symbol": {"symbol": "EURUSD.m", "side": "all"},
                "modify": {"ticket": ticket, "sl": sl, "tp": tp}}
            job_id = rig.enqueue("modify_position" if kind == "modify" else "close_position", payloads[kind])
            await run_with_crash(rig, job_id, step, expire, settings)
            seen[f"{kind}:{step}"] += 1
            job = rig.job(job_id)
            assert job["status"] == "completed", f"run {run} ({kind} at {step}): {job['error_message']}"
            deals = closing_deals(rig, job_id)
            left = must(rig.sim.positions_get(ticket=ticket))
            if kind in ("close", "symbol"):
                assert left == () and len(deals) == 1, f"run {run} ({kind} at {step}): {len(deals)} closing deals"
                assert deals[0].volume == pytest.approx(0.1)
            elif kind == "part":
                assert len(deals) == 1 and deals[0].volume == pytest.approx(0.04), f"run {run} at {step}"
                assert left[0].volume == pytest.approx(0.06)
            else:
                assert deals == []
                assert (left[0].sl, left[0].tp) == (sl, tp), f"run {run} at {step}"
            if left:  # the next run starts flat
                rig.sim.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD.m", "position": ticket,
                                    "volume": left[0].volume, "type": mt5.ORDER_TYPE_SELL,
                                    "price": must(rig.sim.symbol_info_tick("EURUSD.m")).bid,
                                    "type_filling": mt5.ORDER_FILLING_FOK})
    finally:
        await rig.stop()
        await rig.adapter.close()
    assert sum(seen.values()) == RUNS
    pending = db.admin.execute("select count(*) as n from jobs where status not in ('completed', 'failed')").fetchone()
    assert pending == {"n": 0}
