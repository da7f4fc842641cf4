"""The demo: the whole pipeline on this machine — database, simulator, receiver, agent — and its
first alerts, for the app (``tnm-desktop --demo``) and without a window (``demo --headless``).

The simulator runs as its own process (a terminal outlives the agent). The agent runs as its
own process for the headless demo (``tnm-desktop agent --dir``, so it can be killed and started
again on its own) or embedded in the app's own thread for the windowed demo. :func:`start_demo`
blocks; the app calls it off the GUI thread (:func:`open_demo`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tnm_desktop import keystore, lifeline
from tnm_desktop.composition.local_receiver import LocalReceiver
from tnm_desktop.composition.services import app_agents
from tnm_desktop.demo.alerts import FIRST_ALERTS, post
from tnm_desktop.demo.seed import DemoIds, seed
from tnm_desktop.errors import OperationalError, TnmError
from tnm_desktop.loops import stop_signals
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.services import Services
from tnm_desktop.terminal.simulator.process import SimulatorProcess, ensure_simulator
from tnm_desktop.workspace import Connections, Workspace

log = logging.getLogger(__name__)


@dataclass
class DemoRun:
    """A running demo; :meth:`stop` stops what it started."""

    workspace: Workspace
    conns: Connections
    ids: DemoIds
    receiver: LocalReceiver
    simulator: SimulatorProcess | None
    agent: subprocess.Popen[bytes] | None = None
    heartbeat: float | None = None  # the agent process's heartbeat period (None: its default)
    _stopped: bool = field(default=False, repr=False)

    @property
    def receiver_url(self) -> str:
        """The receiver's base URL (on its pinned port, listening or not)."""
        return self.receiver.base_url

    def webhooks(self) -> dict[str, str]:
        """Each demo strategy's webhook URL."""
        return {name: f"{self.receiver_url}/tv/{secret}" for name, secret in self.ids.strategies.items()}

    def lines(self) -> list[str]:
        """What ``tnm-desktop demo --headless`` prints."""
        cluster = LocalCluster(self.workspace.db_dir)
        out = [f"database={cluster.conninfo()}", f"receiver={self.receiver_url}",
               f"simulator={self.workspace.simulator_state}"]
        if self.agent is not None:
            out.append(f"agent_pid={self.agent.pid}")
        out += [f"webhook.{name}={url}" for name, url in self.webhooks().items()]
        return out

    def start_agent_process(self) -> subprocess.Popen[bytes]:
        """Start the agent as a process of its own (``tnm-desktop agent --dir``)."""
        beat = ["--heartbeat", f"{self.heartbeat:g}"] if self.heartbeat else []
        # Its own session (a Ctrl+C reaches the demo, which stops it in order), yet it ends with
        # the demo however the demo ends.
        self.agent = lifeline.popen(
            [sys.executable, "-m", "tnm_desktop", "agent", "--dir", str(self.workspace.root), *beat],
            stdout=subprocess.DEVNULL, start_new_session=True)
        return self.agent

    def wait_for_agent(self, timeout: float = 60.0, cancelled: threading.Event | None = None) -> None:
        """Return once the agent's heartbeat says it is running (or ``cancelled`` is set)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.conns.admin, autocommit=True) as conn:
            while time.monotonic() < deadline:
                if cancelled is not None and cancelled.is_set():
                    return
                row = conn.execute("select status, last_error from mt5_agents where id = %s", (self.ids.agent_id,)
                                   ).fetchone()
                if row and row[0] == "running":
                    return
                if self.agent is not None and self.agent.poll() is not None:
                    raise OperationalError(f"The demo agent exited ({row[1] if row else 'no heartbeat'}).",
                                           code="agent_failed")
                time.sleep(0.2)
        raise OperationalError("The demo agent did not start in time.", code="agent_failed")

    def send_first_alerts(self) -> list[tuple[int, str]]:
        """Post :data:`FIRST_ALERTS` once per workspace; return (status, body) of each."""
        if self.workspace.settings().demo_alerts_sent or not self.receiver.running:
            return []  # sent already, or the receiver's port is taken: the next start sends them
        answers = [post(self.webhooks()[name], body) for name, body in FIRST_ALERTS]
        self.workspace.update_settings(demo_alerts_sent=True)
        return answers

    def stop(self) -> None:
        """Stop the agent process, the receiver, the simulator and the database."""
        if self._stopped:
            return
        self._stopped = True
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(30)
            except subprocess.TimeoutExpired:
                self.agent.kill()
        self.receiver.stop()
        if self.simulator is not None:
            self.simulator.stop()
        self.workspace.close()


def start_demo(root: Path, *, agent_process: bool, receiver_port: int | None = None,
               fast_db: bool = False, heartbeat: float | None = None) -> DemoRun:
    """Open (creating and seeding the first time) a demo workspace and start its parts.

    Args:
        root: The demo workspace's folder.
        agent_process: Start the agent as a process of its own (headless demo: then a receiver that
            cannot listen is an error); otherwise the caller embeds it (the app, which shows why the
            receiver is not running and offers another port).
        receiver_port: Where the receiver listens instead of the workspace's pinned port (0: any
            free one).
        fast_db: Trade durability for speed (tests).
        heartbeat: The agent process's heartbeat period in seconds (None: its default).

    Raises:
        OperationalError: Headless, and the receiver's port is taken.
    """
    workspace = Workspace(root)
    conns = workspace.open(fast=fast_db)  # first: a folder that cannot be used is the one thing said
    simulator = None
    receiver = None
    try:
        keystore.ensure_keyring(workspace.root)
        ids = seed(workspace, conns)
        simulator = ensure_simulator(workspace.simulator_state)
        receiver = LocalReceiver(workspace, conns.ingest, port=receiver_port)
        try:
            receiver.start()
        except OperationalError as exc:
            if agent_process:
                raise OperationalError(f"{exc.message} Choose another port with --port.", code=exc.code) from exc
            log.warning("the demo's webhook receiver did not start: %s", exc.message)
        run = DemoRun(workspace, conns, ids, receiver, simulator, heartbeat=heartbeat)
        if agent_process:
            run.start_agent_process()
            run.wait_for_agent()
            run.send_first_alerts()
        return run
    except BaseException:
        if receiver is not None:
            receiver.stop()
        if simulator is not None:
            simulator.stop()
        workspace.close()
        raise


def default_demo_dir() -> Path:
    """Where ``tnm-desktop --demo`` keeps its workspace (``TNM_DEMO_DIR`` overrides it)."""
    from tnm_desktop.profiles import data_dir

    return Path(os.environ.get("TNM_DEMO_DIR") or data_dir() / "demo")


def run_headless(root: Path | None, receiver_port: int | None, heartbeat: float | None = None) -> int:
    """``tnm-desktop demo --headless``: start everything, print key=value lines, run until SIGTERM
    or SIGINT (Ctrl+C; on Windows also Ctrl+Break), then stop everything it started.

    ``heartbeat`` is the agent process's heartbeat period in seconds (None: its default).
    """
    root = root or default_demo_dir()
    _check_port(root, receiver_port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in stop_signals()}
    try:
        demo = start_demo(root, agent_process=True, receiver_port=receiver_port, heartbeat=heartbeat)
        try:
            for line in demo.lines():
                print(line, flush=True)
            # In slices: a wait without a timeout is not interrupted by Ctrl+C on Windows.
            while not stop.wait(0.5):
                pass
        finally:
            demo.stop()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return 0


def _check_port(root: Path, port: int | None) -> None:
    """Say at once, in one line, that the receiver's port is taken, before starting anything."""
    from tnm_desktop.composition.local_receiver import port_available

    wanted = port if port is not None else Workspace(root).settings().receiver_port
    if wanted and not port_available(wanted):
        raise OperationalError(f"Port {wanted} is in use by another program. Choose another port with --port.",
                               code="receiver_port")


async def open_demo(workspace: Path | None = None, *, fast_db: bool = False) -> Services:
    """Open the demo workspace for the app, signed in as the demo trader.

    The database, the simulator and the receiver start here (in a worker thread); the app embeds
    the agent itself. The first alerts are posted once the agent runs, so the signal log shows
    each outcome — filled, duplicate, refused, malformed — within the first minute.
    """
    from tnm_desktop.data.local.adapter import LocalAdapter
    from tnm_desktop.demo.seed import DEMO_EMAIL, DEMO_PASSWORD
    from tnm_desktop.profiles import DEMO_PROFILE_ID, ConnectionProfile, ProfileKind

    root = workspace or default_demo_dir()
    run = await asyncio.to_thread(start_demo, root, agent_process=False, fast_db=fast_db)
    profile = ConnectionProfile(id=DEMO_PROFILE_ID, name="Demo workspace", kind=ProfileKind.LOCAL,
                                workspace_dir=str(run.workspace.root), last_email=DEMO_EMAIL)
    data = LocalAdapter(run.conns.app, run.conns.auth, profile.session_key)
    keyring = await asyncio.to_thread(keystore.ensure_keyring, run.workspace.root)
    services = Services(profile, data, run.workspace, keyring=keyring, closers=[run.stop],
                        receiver=run.receiver, agents=app_agents(run.workspace, run.receiver.handover))
    try:
        await data.sign_in(DEMO_EMAIL, DEMO_PASSWORD, remember=False)
    except BaseException:
        await services.close()
        raise
    services.closers.append(_first_alerts_when_ready(run))
    return services


def _first_alerts_when_ready(run: DemoRun) -> Callable[[], None]:
    """Post the first alerts once the embedded agent runs; the returned closer stops waiting."""
    stop = threading.Event()

    def wait_and_send() -> None:
        try:
            run.wait_for_agent(timeout=120.0, cancelled=stop)
            if not stop.is_set():
                run.send_first_alerts()
        except TnmError as exc:
            log.warning("the demo's first alerts were not sent: %s", exc.message)

    threading.Thread(target=wait_and_send, name="demo-first-alerts", daemon=True).start()
    return stop.set
