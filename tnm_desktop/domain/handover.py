"""A job the app's own receiver claimed for its idle agent, handed over in memory.

On a local workspace the receiver and the agent share a process. While the agent sleeps waiting
for work it opens the hand-over; an alert's ingestion call may then claim the new job for it in
the same transaction (``ingest_tv_signal_and_claim``) and hand the claimed job over, instead of
the agent waking on the notification and claiming it in a round trip of its own.

Order is kept because only one party claims for an agent at a time: the receiver only while the
agent sleeps, one call at a time; once the agent wakes it closes the hand-over and, if a call is
claiming for it, waits for that call's answer before claiming anything itself. Several agents of
one process each have their own place here; a call claims for one of those asleep, which takes
only what it may (a trade pinned to another agent stays for that one). Everything here is
thread-safe; the callbacks the agent gives must be too (they run on the receiver's thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from tnm_desktop.domain.jobs import ClaimedJob
from tnm_desktop.domain.people import AgentCredentials

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handed:
    """What a receiver's call left for the agent.

    ``known`` is False when the call broke off after it may have claimed a job (the connection
    dropped, a timeout): the agent then takes back whatever it holds.
    """

    claimed: ClaimedJob | None
    known: bool = True


@dataclass(frozen=True, slots=True)
class _Sleeper:
    creds: AgentCredentials
    lease_seconds: int
    wake: Callable[[], object]
    warm: Callable[[], object]


@dataclass(slots=True)
class Ticket:
    """The receiver's right to claim for the sleeping agent, in one call; :meth:`deliver` it once."""

    creds: AgentCredentials
    lease_seconds: int
    _future: Future[Handed] = field(repr=False)
    _wake: Callable[[], object] = field(repr=False)

    def deliver(self, claimed: ClaimedJob | None, *, known: bool = True) -> None:
        """Give the agent the call's outcome and wake it (later calls are ignored)."""
        if self._future.done():
            return
        self._future.set_result(Handed(claimed, known))
        try:
            self._wake()
        except RuntimeError:  # the agent's loop is gone: its next start takes back what it holds
            log.info("the agent stopped before a job claimed for it was handed over")


class Handover:
    """Where the agent says it sleeps and the receiver claims for it (see the module's text)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sleepers: dict[str, _Sleeper] = {}  # by agent id
        self._deliveries: dict[str, Future[Handed]] = {}  # calls claiming, by the agent they claim for

    def __repr__(self) -> str:
        return f"Handover(asleep={len(self._sleepers)}, claiming={len(self._deliveries)})"

    @property
    def waiting(self) -> bool:
        """Whether an agent sleeps with it open (the next alert's call may claim for it)."""
        return bool(self._sleepers)

    # The agent's side ---------------------------------------------------------------------------

    def open(self, creds: AgentCredentials, lease_seconds: int, *, wake: Callable[[], object],
             warm: Callable[[], object]) -> None:
        """The agent sleeps until work: one call may claim for it now.

        ``wake`` ends its sleep; ``warm`` starts reading what a job will need (both thread-safe).
        """
        with self._lock:
            if creds.agent_id not in self._deliveries:
                self._sleepers[creds.agent_id] = _Sleeper(creds, lease_seconds, wake, warm)

    def close(self, agent_id: str) -> Future[Handed] | None:
        """The agent woke: nothing is claimed for it from now on. Returns the answer of a call that
        is claiming for it (to be awaited before it claims itself), or None."""
        with self._lock:
            self._sleepers.pop(agent_id, None)
            return self._deliveries.pop(agent_id, None)

    # The receiver's side ------------------------------------------------------------------------

    def reserve(self) -> Ticket | None:
        """A ticket to claim for a sleeping agent in the next call, or None when no agent sleeps
        (or other calls claim for those that do)."""
        with self._lock:
            if not self._sleepers:
                return None
            agent_id, sleeper = self._sleepers.popitem()
            future: Future[Handed] = Future()
            self._deliveries[agent_id] = future
        try:
            sleeper.warm()
        except RuntimeError:  # its loop is gone; the ticket's outcome waits for its next start
            log.info("the agent stopped while a job was being claimed for it")
        return Ticket(sleeper.creds, sleeper.lease_seconds, future, sleeper.wake)
