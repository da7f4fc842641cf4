"""Which changes to the jobs table wake a sleeping agent.

The agent subscribes to its trader's waiting jobs (``AgentPort.subscribe_waiting_jobs``). Where the
backend announces exactly those ("waiting"), each wakes the agent: a job in the queue, new or put
back (the job the receiver hands over is not announced). Elsewhere every change of a job is
announced, without its row: a new job wakes the agent, and so does an update that may have put a
job back in the queue (a lease that expired), unless it is of a job this agent held lately: those
updates are its own claims, intents and reports, or a job the receiver handed it.
"""

from __future__ import annotations

import asyncio

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Job, JobStatus

REMEMBERED_JOBS = 256  # jobs recently held, whose updates are the agent's own doing
# A claim's own announcement can arrive before the claim's answer: an update of a job not known
# to be held is looked at again this much later. Only a job another party put back in the queue
# (a lease expired) wakes the agent this way, and that job is a lease late already.
UPDATE_SETTLE = 0.25


class JobWakeups:
    """Sets ``wake`` for the changes that may mean a job is waiting (on the agent's loop)."""

    def __init__(self, wake: asyncio.Event) -> None:
        self._wake = wake
        self._held: dict[str, None] = {}  # ids of jobs held lately, oldest first

    def remember(self, job_id: str) -> None:
        """This agent holds ``job_id``: its announcements are the agent's own doing."""
        self._held.pop(job_id, None)
        self._held[job_id] = None
        while len(self._held) > REMEMBERED_JOBS:
            del self._held[next(iter(self._held))]

    def on_change(self, change: Change) -> None:
        """The live updates' callback for the jobs table."""
        row = change.row
        if change.op == "waiting":
            self._wake.set()
        elif change.op == "insert":
            if change.id not in self._held:  # not a job the receiver handed over already
                self._wake.set()
        elif row is None:
            if change.op != "delete" and change.id not in self._held:
                asyncio.get_running_loop().call_later(UPDATE_SETTLE, self._wake_unless_held, change.id)
        elif isinstance(row, Job) and row.status is JobStatus.PENDING:
            self._wake.set()

    def _wake_unless_held(self, job_id: str) -> None:
        if job_id not in self._held:
            self._wake.set()
