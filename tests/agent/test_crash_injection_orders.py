"""The agent killed at every step of placing pending orders, cancelling them and setting new stops,
then restarted: never a second order, never a lost change, never a job left unfinished.

Like test_crash_injection.py: the crash is a BaseException raised in the agent's own code path at a
random step (before the intent, before sending, after sending, after the result is stored), the
lease sometimes expires meanwhile, and a new agent on a new connection to the same terminal takes
over. Each round places a pending order (sometimes a stop-limit), sets new stops on an open
position and cancels the round's order, so each kind of job meets each kind of crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tnm_desktop.agent.trading import token_for
from tnm_desktop.agent.worker import AgentSettings
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import FAST, TradeRig, make_rig
from tests.must import must
from tests.pg import Db

STEPS = ["before_intent", "before_send", "after_send", "after_result", None]
ROUNDS = int(os.environ.get("TNM_CRASH_ORDER_ROUNDS", "25"))  # three jobs each


class Crash(BaseException):
    """The agent process dies here."""


async def run_with_crash(rig: TradeRig, job_id: str, step: str | None, expire: bool, settings: AgentSettings) -> None:
    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash(name)

    first = rig.runner(checkpoint=checkpoint)
    if step == "after_result":
        # Dies just after the result is stored: wrap both ways a result is stored (the agent completes
        # and claims the next job in one call while it keeps working).
        for name in ("complete_job", "complete_and_claim"):
            original = getattr(rig.adapter, name)

            async def complete_then_die(*args: Any, original: Callable[..., Awaitable[Any]] = original,
                                        **kwargs: Any) -> Any:
                await original(*args, **kwargs)
                raise Crash("after_result")

            setattr(rig.adapter, name, complete_then_die)
    await rig.start(first, settings)
    assert rig.task is not None
    with contextlib.suppress(Crash, asyncio.TimeoutError):
        if step is None:
            await rig.final(job_id, within=10)
        else:
            await asyncio.wait_for(asyncio.shield(rig.task), 10)
    if step == "after_result":
        del rig.adapter.complete_job, rig.adapter.complete_and_claim  # back to the class's methods
    if step is None:
        await rig.stop()
    else:
        assert rig.task.done(), f"the agent did not die at {step}"
    rig.agent, rig.task = None, None
    if expire:
        rig.db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' "
                             "where id = %s and status = 'running'", (job_id,))
    await rig.start(rig.runner(), settings)
    await rig.final(job_id, within=15)
    await rig.stop()


def placed_orders(rig: TradeRig, job_id: str) -> list[Any]:
    token = token_for(job_id)
    return [o for o in must(rig.sim.history_orders_get(0, 2**31)) + must(rig.sim.orders_get()) if o.comment.startswith(token)]


@pytest.mark.slow
async def test_random_crashes_around_pending_orders_cancels_and_new_stops(db: Db) -> None:
    rng = random.Random(20251215)
    rig = await make_rig(db)
    rig.sim.control.deposit(1_000_000)
    rig.sim.control.hold_price("EURUSD.m", 1.08500)
    settings = AgentSettings(lease_seconds=FAST.lease_seconds, heartbeat_every=30.0, fallback_poll_every=1.0,
                             sync_every=3600, backoff_base=0.01, backoff_max=0.05)
    seen: Counter[str] = Counter()
    try:
        await rig.start(rig.runner(), settings)
        _, (opened,) = rig.alert("6012,buy,EURUSD,vol_lots=0.1,sl=50")
        position = int((await rig.final(opened))["result"]["position"])
        await rig.stop()
        for round_ in range(ROUNDS):
            # 1. A pending order: never two of them for one job.
            kind = rng.choice(["buylimit", "sellstop", "buystoplimit"])
            body = {"id": f"p-{round_}", "action": kind, "symbol": "EURUSD", "lots": 0.01,
                    "entry_pips": 40 + round_, **({"stoplimit_pips": 30} if kind == "buystoplimit" else {})}
            step, expire = STEPS[rng.randrange(len(STEPS))], rng.random() < 0.3
            signal, (place,) = rig.alert(body)
            await run_with_crash(rig, place, step, expire, settings)
            seen[f"place {step}"] += 1
            orders = placed_orders(rig, place)
            job = rig.job(place)
            assert len(orders) <= 1, f"round {round_}: {len(orders)} orders for one job ({step})"
            assert job["status"] in ("completed", "failed"), job
            if job["status"] == "completed":
                assert len(orders) == 1 and job["result"]["order"] == orders[0].ticket
                assert rig.signal(signal)["status"] == "executed"
            else:
                assert orders == [] and step in ("before_intent", "before_send"), (round_, step, job["error_message"])

            # 2. New stops on the open position: set once, never lost.
            stop = round(1.08000 - 0.0001 * (round_ + 1), 5)
            step, expire = STEPS[rng.randrange(len(STEPS))], rng.random() < 0.3
            _, (modify,) = rig.alert({"action": "newsltplong", "symbol": "EURUSD", "sl": stop})
            await run_with_crash(rig, modify, step, expire, settings)
            seen[f"modify {step}"] += 1
            job = rig.job(modify)
            assert job["status"] in ("completed", "failed"), job
            (held,) = must(rig.sim.positions_get(ticket=position))
            if job["status"] == "completed":
                assert held.sl == stop, f"round {round_}: the stop is {held.sl}, not {stop} ({step})"
            else:  # only a job that died before its intent was stored, on its last attempt
                assert step in ("before_intent", "before_send"), (round_, step, job["error_message"])

            # 3. Cancel this round's order, by the alert that placed it.
            if rig.job(place)["status"] != "completed":
                continue
            step, expire = STEPS[rng.randrange(len(STEPS))], rng.random() < 0.3
            _, (cancel,) = rig.alert({"action": "cancel", "symbol": "EURUSD", "cancel_id": f"p-{round_}"})
            await run_with_crash(rig, cancel, step, expire, settings)
            seen[f"cancel {step}"] += 1
            job = rig.job(cancel)
            assert job["status"] in ("completed", "failed"), job
            (order,) = placed_orders(rig, place)
            if job["status"] == "completed":
                assert order.state == mt5.ORDER_STATE_CANCELED, (round_, step)
            else:
                assert step in ("before_intent", "before_send"), (round_, step, job["error_message"])
    finally:
        await rig.stop()
        await rig.adapter.close()
    unfinished = db.admin.execute("select count(*) as n from jobs where status not in ('completed', 'failed')"
                                  ).fetchone()
    assert unfinished == {"n": 0}
    assert sum(seen.values()) >= 2 * ROUNDS
