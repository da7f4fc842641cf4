"""The agent killed at every step of a trade, then restarted: never a second order, never a stuck job.

Each run stops the agent dead at a random step — before the intent is stored, after it is stored
but before sending, after the order is filled but before the result is stored, or after the
result is stored — sometimes lets its lease expire (as if it stayed dead a long time, back-dated
rather than slept), sometimes with a single attempt allowed, and then starts a new agent on a new
connection to the same terminal. The crash is a BaseException raised in the agent's own code path,
so nothing is cleaned up and nothing reports; the database and the simulator keep what they had.
Real SIGKILLs of an agent process are in tests/demo (fewer: a process start costs seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tnm_desktop.agent.worker import AgentSettings
from tnm_desktop.domain import AgentCredentials, ClaimedJob, Job

from tests.agent.rig import FAST, make_rig
from tests.pg import Db

Complete = Callable[[AgentCredentials, ClaimedJob, dict[str, Any]], Awaitable[Job]]

STEPS = ["before_intent", "before_send", "after_send", "after_result", None]
RUNS = int(__import__("os").environ.get("TNM_CRASH_RUNS", "200"))


class Crash(BaseException):
    """The agent process dies here."""


@pytest.mark.slow
async def test_two_hundred_random_crashes_leave_no_duplicate_and_no_stuck_job(db: Db) -> None:
    rng = random.Random(20261122)
    rig = await make_rig(db)
    rig.sim.control.deposit(10_000_000)  # 200 positions stay open; margin must not be what fails
    settings = AgentSettings(lease_seconds=FAST.lease_seconds, heartbeat_every=30.0, fallback_poll_every=1.0,
                             sync_every=3600, backoff_base=0.01, backoff_max=0.05)
    seen: Counter[str] = Counter()
    try:
        for run in range(RUNS):
            step = STEPS[run % len(STEPS)]  # every step equally often; the rest is random
            expire = rng.random() < 0.4
            attempts = rng.choice([1, 3])
            action = rng.choice(["buy", "sell"])
            job_id, signal_id = rig.trade(action, rng.choice(["EURUSD", "GBPUSD", "USDJPY"]),
                                          sizing={"mode": "lots", "lots": rng.choice([0.01, 0.1, 0.25])},
                                          max_attempts=attempts)

            def checkpoint(name: str, step: str | None = step) -> None:
                if name == step:
                    raise Crash(name)

            first = rig.runner(checkpoint=checkpoint)
            if step == "after_result":
                # Dies just after the result is stored: wrap the data port's completions (the agent
                # completes and claims the next job in one call while it keeps working).
                for name in ("complete_job", "complete_and_claim"):
                    original = getattr(rig.adapter, name)

                    async def complete_then_die(*args: object, original: object = original,
                                                **kwargs: object) -> object:
                        await original(*args, **kwargs)  # type: ignore[operator]
                        raise Crash("after_result")

                    setattr(rig.adapter, name, complete_then_die)
            agent = await rig.start(first, settings)
            assert rig.task is not None
            with contextlib.suppress(Crash, asyncio.TimeoutError):
                if step is None:
                    await rig.final(job_id, within=10)
                else:
                    await asyncio.wait_for(asyncio.shield(rig.task), 10)
            if step == "after_result":
                del rig.adapter.complete_job, rig.adapter.complete_and_claim  # back to the class's methods
            if step is not None:
                assert rig.task.done(), f"run {run}: the agent did not die at {step}"
                seen[step] += 1
            else:
                await rig.stop()
                seen["no crash"] += 1
            del agent
            rig.agent, rig.task = None, None
            if expire:
                db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' "
                                 "where id = %s and status = 'running'", (job_id,))
                # Another claim by anyone expires it; the restarted agent's claim does it here.
            await rig.start(rig.runner(), settings)
            job = await rig.final(job_id, within=15)
            await rig.stop()

            deals = rig.opening_deals(job_id)
            assert len(deals) <= 1, f"run {run} ({step}, expire={expire}): {len(deals)} orders for one job"
            signal = rig.signal(signal_id)
            if job["status"] == "completed":
                assert len(deals) == 1, f"run {run}: completed without an order"
                assert signal["status"] == "executed"
                assert float(signal["fill_price"]) == pytest.approx(deals[0].price)
            else:
                # Only a job that died before sending may end failed (its last attempt expired).
                assert job["status"] == "failed" and deals == [], f"run {run}: {job['status']} {job['error_message']}"
                assert step in ("before_intent", "before_send") and expire and attempts == 1, (run, step)
                assert signal["status"] == "failed"
    finally:
        await rig.stop()
        await rig.adapter.close()
    assert sum(seen.values()) == RUNS
    assert all(seen[s] >= RUNS // 10 for s in ("before_intent", "before_send", "after_send", "after_result")), seen
    pending = db.admin.execute("select count(*) as n from jobs where status not in ('completed', 'failed')").fetchone()
    assert pending == {"n": 0}
