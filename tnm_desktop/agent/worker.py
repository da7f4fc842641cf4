"""The agent's state machine and claim loop (asyncio, Qt-free, on the agent's own loop).

States: stopped → starting → running ⇄ paused, with degraded while a transient error (database or
terminal unreachable) is being retried with jittered backoff, and stopped with a reason on an
operational error (auto-trading disabled, terminal not logged in, key rejected).

The backoff stays short (a few seconds at most) and the live updates coming back end it at once:
after an outage the agent takes the queued jobs within seconds of the database's return. A stop
is obeyed at once unless a job is under way, which is finished first.

Start-up and crash recovery are one path: take back the jobs a previous run held and reconcile
each with the terminal before claiming anything new. After that the loop sleeps until the live
updates say a job arrived; only while notifications are down does it poll, slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tnm_desktop.agent.events import (
    AgentEvent,
    HeartbeatSent,
    JobFinished,
    JobStarted,
    LogLine,
    StateChanged,
)
from tnm_desktop.agent.wakeups import JobWakeups
from tnm_desktop.data.port import AgentPort, LiveState, Subscription
from tnm_desktop.domain import AgentCredentials, AgentState, ClaimedJob
from tnm_desktop.domain.handover import Handed, Handover
from tnm_desktop.errors import LeaseLost, OperationalError, TnmError, TransientError, UserError

log = logging.getLogger(__name__)
VERSION = "0.1.0"
# How the agent's log says a request ended ({0}: what it was, {1}: how long it took in ms).
_OUTCOME_WORDS = {"completed": "{0} done in {1} ms", "failed": "{0} failed after {1} ms",
                  "retrying": "{0} stopped after {1} ms; it will be tried again",
                  "lost": "{0} handed back after {1} ms; another agent or the next start finishes it"}


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Timings of the agent (seconds)."""

    lease_seconds: int = 60
    heartbeat_every: float = 15.0
    fallback_poll_every: float = 15.0
    sync_every: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 3.0  # a database back after an outage is used within seconds
    stop_timeout: float = 3.0  # the last heartbeat and the terminal's release, when stopping


class JobRunner(Protocol):
    """Executes one claimed job and returns its result; reports intents itself."""

    async def start(self) -> None:
        """Connect what jobs need (the terminal); raise Transient/OperationalError."""
        ...

    async def run(self, claimed: ClaimedJob) -> dict[str, Any]:
        """Do the job. UserError fails it; TransientError retries it; OperationalError stops."""
        ...

    async def sync(self, sync_type: str) -> None:
        """Sync the account (scheduled or manual)."""
        ...

    def warm(self) -> None:
        """A job may be claimed now: start reading what it will need (overlapping the claim)."""
        ...

    async def job_done(self, claimed: ClaimedJob, *, more: bool) -> None:
        """Called after a job's outcome was reported (the positions snapshot follows a trade);
        ``more``: the next job is already claimed (a burst: the snapshot can wait for its end)."""
        ...

    async def manage(self) -> None:
        """Manage what positions need between jobs (breakeven, trailing stops) until cancelled."""
        ...

    async def close(self) -> None:
        """Release the terminal."""
        ...


class Agent:
    """One agent's life: start, recover, claim, execute, heartbeat, sync, stop."""

    def __init__(self, data: AgentPort, creds: AgentCredentials, runner: JobRunner, *,
                 settings: AgentSettings | None = None,
                 emit: Callable[[AgentEvent], None] | None = None, handover: Handover | None = None) -> None:
        self.data = data
        self.creds = creds
        self.runner = runner
        self.settings = settings or AgentSettings()
        self._emit_cb = emit or (lambda _event: None)
        self._state = AgentState.STOPPED
        self._detail = ""
        self._wake = asyncio.Event()
        self._resume = asyncio.Event()
        self._resume.set()
        self._stopping = asyncio.Event()
        self._sync_requested = asyncio.Event()
        self._reconnected = asyncio.Event()  # the live updates came back: the database may be too
        self._executing = 0  # jobs under way: a stop waits for them
        self._live = LiveState.CONNECTING
        self._subscription: Subscription | None = None
        self._last_error: str | None = None
        self._stop_reason: str | None = None  # an operational error that stopped it
        self._failures = 0
        self._wakeups = JobWakeups(self._wake)  # which job announcements wake it
        self._managing: asyncio.Task[None] | None = None
        # The app's own receiver may claim for this agent while it sleeps (domain.handover).
        self._handover = handover
        self._handed: Future[Handed] | None = None
        self._sleeping = False

    # Commands (call on the agent's loop) --------------------------------------------------------

    @property
    def state(self) -> AgentState:
        """The current state."""
        return self._state

    def pause(self) -> None:
        """Claim nothing new until resumed."""
        self._resume.clear()
        self._wake.set()  # a sleeping agent closes its hand-over: nothing is claimed for it while paused
        if self._state is AgentState.RUNNING:
            self._set_state(AgentState.PAUSED, "Paused by the user.")

    def resume(self) -> None:
        """Claim work again."""
        self._resume.set()
        self._wake.set()
        if self._state is AgentState.PAUSED:
            self._set_state(AgentState.RUNNING)

    def stop(self) -> None:
        """Finish the current job, then stop."""
        self._stopping.set()
        self._resume.set()
        self._wake.set()

    def sync_now(self) -> None:
        """Sync the account at once."""
        self._sync_requested.set()

    # The life ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped or an operational error; never raises for expected errors."""
        self._set_state(AgentState.STARTING, "Connecting to the terminal…")
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="agent-heartbeat")
        syncing = asyncio.create_task(self._sync_loop(), name="agent-sync")
        try:
            while not self._stopping.is_set():
                try:
                    await self._unless_stopped(self._start_and_work())
                except TransientError as exc:
                    await self._degraded(exc)
                    continue
                break
        except OperationalError as exc:
            self._stop_reason = exc.message
            self._set_state(AgentState.STOPPED, exc.message)
            self._log("error", exc.message)
        finally:
            tasks = [heartbeat, syncing, *([self._managing] if self._managing is not None else [])]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._managing = None
            await self._unsubscribe()
            # Both may wait on what is gone (a database or terminal down): neither may hold up a stop.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.stop_timeout):
                    await self.runner.close()
            if self._state is not AgentState.STOPPED:
                self._set_state(AgentState.STOPPED, "Stopped.")
                self._log("info", "Stopped.")
            # While the database is away (degraded), the last heartbeat is a formality: a second.
            last_beat = self.settings.stop_timeout if self._failures == 0 else min(1.0, self.settings.stop_timeout)
            with contextlib.suppress(TnmError, TimeoutError):
                async with asyncio.timeout(last_beat):
                    await self.data.heartbeat(self.creds, AgentState.STOPPED.value, self._stop_reason, VERSION,
                                              self.settings.heartbeat_every)

    async def _start_and_work(self) -> None:
        await self._start()
        await self._work()

    async def _unless_stopped(self, work: Awaitable[None]) -> None:
        # Run ``work`` until it ends, or until a stop while no job is under way: waiting for a
        # database or a terminal that is not there must not hold up a stop. A job under way is
        # finished first (the loops look at the stop after each job).
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and self._executing == 0:
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise  # we are cancelled ourselves
        finally:
            stopping.cancel()

    async def _start(self) -> None:
        await self.runner.start()
        self._log("info", "Connected to the terminal.")
        if self._subscription is None:
            # Notifications only wake the loop, which claims through the database anyway: reading
            # each announced row first would put a round trip between a new job and its claim.
            self._subscription = await self.data.subscribe_waiting_jobs(self._wakeups.on_change, self._on_live_state)
            self._live = self._subscription.state
        delivery, self._handed = self._handed, None
        if delivery is not None:
            # A restart while the receiver was claiming for this agent: let its call end (within
            # seconds), so that what it claimed is among the jobs taken back here.
            await asyncio.wrap_future(delivery)
        recovered = await self.data.recover_jobs(self.creds, self.settings.lease_seconds)
        if recovered:
            self._log("warning", f"Finishing {len(recovered)} request(s) this agent had started before it stopped.")
        await self._settle(recovered)
        if self._managing is None:
            # Stops are managed while the agent runs, paused or not: pausing stops new work only.
            self._managing = asyncio.create_task(self.runner.manage(), name="agent-stops")
        self._failures = 0
        self._last_error = None
        self._set_state(AgentState.RUNNING if self._resume.is_set() else AgentState.PAUSED)
        self._log("info", "Checked against the terminal; waiting for alerts and requests."
                  if self._live is LiveState.LIVE else
                  f"Checked against the terminal; instant updates are down, so looking for work every "
                  f"{self.settings.fallback_poll_every:g} s.")
        with contextlib.suppress(TnmError):
            await self._beat()

    async def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            # A job the receiver claimed for this agent while it slept comes first (held if paused).
            claimed = await self._handed_job()
            if claimed is None:
                if not self._resume.is_set():
                    await self._resume.wait()
                    continue
                claimed = await self._claim() if self._claiming() else None
            while claimed is not None:
                if not self._resume.is_set() and not self._stopping.is_set():
                    # Paused while the claim was on its way: the job runs only once resumed.
                    claimed = await self._hold_until_resumed(claimed)
                    if claimed is None:
                        break
                # A completed job brings the next one with it (one trip, one commit); after a
                # failure, or when nothing was asked for, the next one is claimed on its own.
                claimed, asked = await self._execute(claimed, chain=True)
                if claimed is None and not asked and self._claiming():
                    claimed = await self._claim()
            if self._stopping.is_set():
                return
            await self._sleep_until_work()

    async def _claim(self) -> ClaimedJob | None:
        self.runner.warm()
        return await self.data.claim_job(self.creds, self.settings.lease_seconds)

    def _claiming(self) -> bool:
        return not self._stopping.is_set() and self._resume.is_set()

    async def _handed_job(self) -> ClaimedJob | None:
        delivery, self._handed = self._handed, None
        if delivery is None:
            return None
        # Taken at once when it is in (the usual case: its arrival woke the agent), so that the new
        # job's own announcement, read on the next turn of the loop, finds it held already.
        handed = delivery.result() if delivery.done() else await asyncio.wrap_future(delivery)
        if handed.known:
            if handed.claimed is not None:
                self._wakeups.remember(handed.claimed.job.id)  # its own announcement must not wake the agent
            return handed.claimed
        # The receiver's call broke off after it may have claimed a job for this agent: take back
        # what the agent holds (nothing else: it was idle), as a start does.
        await self._settle(await self.data.recover_jobs(self.creds, self.settings.lease_seconds))
        return None

    async def _settle(self, recovered: list[ClaimedJob]) -> None:
        # Jobs taken back are each settled (reconciled with the terminal) before anything new.
        for claimed in recovered:
            if self._stopping.is_set():
                break  # the rest stay held and are recovered at the next start
            await self._execute(claimed, chain=False)

    async def _hold_until_resumed(self, claimed: ClaimedJob) -> ClaimedJob | None:
        """Keep a job claimed after a pause, unrun, until resumed; None if the agent stops first
        (the job stays held, and the next start recovers it before anything new)."""
        self._wakeups.remember(claimed.job.id)
        keeper = asyncio.create_task(self._keep_lease(claimed), name=f"lease-{claimed.job.id}")
        try:
            await self._resume.wait()  # stop() sets it too
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        return None if self._stopping.is_set() else claimed

    async def _sleep_until_work(self) -> None:
        # While notifications flow, wait for one; while they are down, poll slowly.
        timeout = None if self._live is LiveState.LIVE else self.settings.fallback_poll_every
        handover = self._handover if self._claiming() else None
        if handover is not None:
            loop = asyncio.get_running_loop()
            handover.open(self.creds, self.settings.lease_seconds,
                          wake=lambda: loop.call_soon_threadsafe(self._wake_if_sleeping),
                          warm=lambda: loop.call_soon_threadsafe(self.runner.warm))
        self._sleeping = True
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        finally:
            self._sleeping = False
            if handover is not None:
                self._handed = handover.close(self.creds.agent_id)

    def _wake_if_sleeping(self) -> None:
        # A handed job's delivery wakes a sleeping agent; one that woke already is waiting for it.
        if self._sleeping:
            self._wake.set()

    async def _execute(self, claimed: ClaimedJob, *, chain: bool) -> tuple[ClaimedJob | None, bool]:
        """Run one job and report it; with ``chain``, a success claims the next job in the same call.

        Returns the next job claimed (or None), and whether one was asked for.
        """
        job = claimed.job
        self._wakeups.remember(job.id)
        self._executing += 1
        started = time.monotonic()
        self._emit(JobStarted(job.id, job.job_type.value, datetime.now(UTC)))
        keeper = asyncio.create_task(self._keep_lease(claimed), name=f"lease-{job.id}")
        outcome, message = "completed", ""
        following: ClaimedJob | None = None
        asked = False
        try:
            result = await self.runner.run(claimed)
            if chain and self._claiming():
                self.runner.warm()
                following = await self.data.complete_and_claim(self.creds, claimed, result,
                                                               self.settings.lease_seconds)
                asked = True
            else:
                await self.data.complete_job(self.creds, claimed, result)
            message = str(result.get("note") or "")
        except LeaseLost as exc:
            outcome, message = "lost", exc.message
        except UserError as exc:
            outcome, message = "failed", exc.message
            await self._report_failure(claimed, exc, retry=False)
        except TransientError as exc:
            outcome, message = "retrying", exc.message
            await self._report_failure(claimed, exc, retry=True)
            raise
        except OperationalError as exc:
            outcome, message = "failed", exc.message
            await self._report_failure(claimed, exc, retry=False)
            raise
        finally:
            self._executing -= 1
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if outcome in ("completed", "failed"):
                try:
                    await self.runner.job_done(claimed, more=following is not None)
                except Exception:  # what follows a job must not decide its outcome
                    log.exception("after job %s", job.id)
            duration = int((time.monotonic() - started) * 1000)
            self._emit(JobFinished(job.id, job.job_type.value, outcome, duration, message))
            level = "info" if outcome == "completed" else "warning"
            said = _OUTCOME_WORDS.get(outcome, "{0} " + outcome + " after {1} ms").format(job.job_type.label, duration)
            self._log(level, said + (f": {message}" if message else ""))
        return following, asked

    async def _report_failure(self, claimed: ClaimedJob, exc: TnmError, *, retry: bool) -> None:
        try:
            await self.data.fail_job(self.creds, claimed, exc.message, code=exc.code or None, retry=retry,
                                     retry_delay_seconds=int(self._backoff_delay()) if retry else 0)
        except LeaseLost:
            pass
        except TransientError:
            # The database is unreachable too: the lease will expire and the job returns to the
            # queue; reconciliation on the next claim prevents a second order.
            log.warning("could not report the failure of job %s", claimed.job.id)

    async def _keep_lease(self, claimed: ClaimedJob) -> None:
        every = max(self.settings.lease_seconds / 3, 1.0)
        while True:
            await asyncio.sleep(every)
            try:
                await self.data.extend_lease(self.creds, claimed, self.settings.lease_seconds)
            except LeaseLost:
                return
            except TransientError as exc:
                log.info("extending the lease failed: %s", exc)

    # Heartbeat, sync, live state ---------------------------------------------------------------

    async def _beat(self) -> None:
        at = await self.data.heartbeat(self.creds, self._state.value, self._last_error, VERSION,
                                       self.settings.heartbeat_every)
        self._emit(HeartbeatSent(at))

    async def _heartbeat_loop(self) -> None:
        # On a fixed cadence, so slow beats do not drift later; a failed beat is tried again soon.
        # The agent counts as down after two periods without one (domain.health): one lost beat
        # must not be enough.
        loop = asyncio.get_running_loop()
        every = self.settings.heartbeat_every
        due = loop.time() + every
        while True:
            await asyncio.sleep(max(due - loop.time(), 0.0))
            due = max(due + every, loop.time())
            if self._state in (AgentState.STARTING, AgentState.STOPPED):
                continue
            try:
                await self._beat()
            except OperationalError as exc:
                self._stop_reason = exc.message
                self._log("error", exc.message)
                self._stopping.set()
                self._wake.set()
            except TnmError as exc:
                log.info("heartbeat failed: %s", exc)
                due = min(due, loop.time() + min(2.0, every / 4))

    async def _sync_loop(self) -> None:
        # The first sync comes as soon as the agent runs: the trader should not look at
        # yesterday's balance for a whole period after starting it.
        synced = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.sync_every if synced else min(1.0, self.settings.sync_every)):
                    await self._sync_requested.wait()
            manual = self._sync_requested.is_set()
            self._sync_requested.clear()
            if self._state not in (AgentState.RUNNING, AgentState.PAUSED, AgentState.DEGRADED):
                continue
            synced = True
            try:
                await self.runner.sync("manual" if manual else "scheduled")
                self._log("info", "Account synced" + (" (asked for)." if manual else "."))
            except TnmError as exc:
                self._log("warning", f"Account sync failed: {exc.message}")

    def _on_live_state(self, state: LiveState) -> None:
        self._live = state
        if state is LiveState.LIVE:
            self._reconnected.set()  # ends a backoff at once: the database answers again
        else:
            self._wake.set()  # re-enter the loop so it starts polling

    async def _unsubscribe(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.close()
            self._subscription = None

    # Errors and events -------------------------------------------------------------------------

    def _backoff_delay(self) -> float:
        raw = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** min(self._failures, 10))
        return float(raw * random.uniform(0.5, 1.0))  # noqa: S311 — jitter, not security

    async def _degraded(self, exc: TransientError) -> None:
        self._failures += 1
        repeated = exc.message == self._last_error
        self._last_error = exc.message
        delay = self._backoff_delay()
        self._set_state(AgentState.DEGRADED, f"{exc.message} Trying again every few seconds.")
        if repeated:  # once per outage in the log, not once per attempt
            log.debug("still failing: %s", exc.message)
        else:
            self._log("warning", exc.message)
        self._reconnected.clear()
        loop = asyncio.get_running_loop()
        until = loop.time() + delay
        with contextlib.suppress(TnmError, TimeoutError):
            async with asyncio.timeout(delay):
                await self.data.heartbeat(self.creds, AgentState.DEGRADED.value, exc.message, VERSION,
                                          self.settings.heartbeat_every)
        waits = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._reconnected)]
        try:
            await asyncio.wait(waits, timeout=max(0.0, until - loop.time()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _set_state(self, state: AgentState, detail: str = "") -> None:
        if state is self._state and detail == self._detail:
            return
        self._state, self._detail = state, detail
        self._emit(StateChanged(state, detail))

    def _log(self, level: str, text: str) -> None:
        getattr(log, "warning" if level == "warning" else level)(text)
        self._emit(LogLine(datetime.now(UTC), level, text))

    def _emit(self, event: AgentEvent) -> None:
        try:
            self._emit_cb(event)
        except Exception:  # a listener's bug must not stop trading
            log.exception("agent listener failed")


RunnerFactory = Callable[[], Awaitable[JobRunner]]
