"""Which announcements of the jobs table wake a sleeping agent (tnm_desktop.agent.wakeups)."""

from __future__ import annotations

import asyncio

from tnm_desktop.agent.wakeups import REMEMBERED_JOBS, UPDATE_SETTLE, JobWakeups
from tnm_desktop.data.port import Change, Table


def change(op: str, job_id: str) -> Change:
    return Change(Table.JOBS, op, job_id, None)


async def test_a_new_job_wakes_the_agent_unless_it_was_handed_over_already() -> None:
    wake = asyncio.Event()
    wakeups = JobWakeups(wake)
    wakeups.remember("handed")
    wakeups.on_change(change("insert", "handed"))
    assert not wake.is_set()
    wakeups.on_change(change("insert", "new"))
    assert wake.is_set()


async def test_a_job_announced_as_waiting_wakes_the_agent_at_once_even_one_it_held() -> None:
    # Announced only when it is in the queue: a job of this agent's put back (its lease expired
    # while the terminal did not answer) is to be claimed again like any other.
    for job in ("new", "held"):
        wake = asyncio.Event()
        wakeups = JobWakeups(wake)
        wakeups.remember("held")
        wakeups.on_change(change("waiting", job))
        assert wake.is_set()


async def test_an_update_wakes_after_a_moment_unless_the_agent_turns_out_to_hold_the_job() -> None:
    wake = asyncio.Event()
    wakeups = JobWakeups(wake)
    # Its own claim, announced before the claim's answer came back: remembered within the moment.
    wakeups.on_change(change("update", "mine"))
    wakeups.remember("mine")
    await asyncio.sleep(UPDATE_SETTLE * 2)
    assert not wake.is_set()
    # A job put back in the queue by someone else (a lease that expired) wakes it.
    wakeups.on_change(change("update", "requeued"))
    assert not wake.is_set()  # not at once
    await asyncio.sleep(UPDATE_SETTLE * 2)
    assert wake.is_set()


async def test_a_deleted_job_does_not_wake_the_agent() -> None:
    wake = asyncio.Event()
    JobWakeups(wake).on_change(change("delete", "gone"))
    await asyncio.sleep(UPDATE_SETTLE * 2)
    assert not wake.is_set()


async def test_only_the_latest_jobs_are_remembered() -> None:
    wake = asyncio.Event()
    wakeups = JobWakeups(wake)
    for n in range(REMEMBERED_JOBS + 1):
        wakeups.remember(f"job-{n}")
    wakeups.on_change(change("insert", f"job-{REMEMBERED_JOBS}"))
    assert not wake.is_set()
    wakeups.on_change(change("insert", "job-0"))  # the oldest, forgotten
    assert wake.is_set()
