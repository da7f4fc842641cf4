"""Running the whole pipeline locally: database, simulator, receiver, agent, and a first few alerts.

The simulator runs as its own process (a terminal outlives the agent). The agent runs as its
own process for the headless demo (``tnm-desktop agent --dir``, so it can be killed and started
again on its own) or embedded in the app's own thread for the windowed demo. Everything here
blocks; the app calls it off the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError

import psycopg

from tnm_desktop import keystore
from tnm_desktop.demo.seed import DemoIds, seed
from tnm_desktop.errors import OperationalError
from tnm_desktop.localdb import LocalCluster
from tnm_desktop.services import start_receiver
from tnm_desktop.terminal.simulator.process import SimulatorProcess, ensure_simulator
from tnm_desktop.webhook.server import WebhookReceiver
from tnm_desktop.workspace import Connections, Workspace

log = logging.getLogger(__name__)

# The first alerts of a new demo: real ones, through the receiver, so the log shows each outcome.
FIRST_ALERTS: tuple[tuple[str, str], ...] = (
    ("EURUSD trend", json.dumps({"id": "demo-1", "action": "buy", "symbol": "FX:EURUSD", "sl_pips": 20,
                                 "tp_pips": 40})),
    ("EURUSD trend", json.dumps({"id": "demo-1", "action": "buy", "symbol": "FX:EURUSD", "sl_pips": 20,
                                 "tp_pips": 40})),  # TradingView sent it twice: a duplicate
    ("EURUSD trend", json.dumps({"id": "demo-2", "action": "sell", "symbol": "GBPUSD", "sl_pips": 25})),
    ("EURUSD trend", json.dumps({"id": "demo-3", "action": "buy", "symbol": "XAUUSD"})),  # not an allowed pair
    ("EURUSD trend", '{"action": "buy", "symbol": EURUSD'),  # malformed JSON
    ("Gold breakout", "60123456789,buy,XAUUSD,risk=0.5,sl=300,tp=600"),  # PineConnector syntax
    ("EURUSD trend", json.dumps({"id": "demo-4", "action": "close", "symbol": "EURUSD", "percent": 50})),
    ("US30 momentum", json.dumps({"id": "demo-5", "action": "buy", "symbol": "US30", "lots": 0.5})),  # an index
)


@dataclass
class DemoRun:
    """A running demo; :meth:`stop` stops what it started."""

    workspace: Workspace
    conns: Connections
    ids: DemoIds
    receiver: WebhookReceiver
    simulator: SimulatorProcess | None
    agent: subprocess.Popen[bytes] | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def receiver_url(self) -> str:
        """The receiver's base URL."""
        return self.receiver.base_url or ""

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
        self.agent = subprocess.Popen(  # noqa: S603 — our own command
            [sys.executable, "-m", "tnm_desktop", "agent", "--dir", str(self.workspace.root)],
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
        if self.workspace.settings().demo_alerts_sent:
            return []
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


def post(url: str, body: str, timeout: float = 5.0) -> tuple[int, str]:
    """POST an alert body to a webhook URL; return the status and the answer."""
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310 — our receiver
                                     headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status), answer.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def start_demo(root: Path, *, agent_process: bool, receiver_port: int | None = None,
               fast_db: bool = False) -> DemoRun:
    """Open (creating and seeding the first time) a demo workspace and start its parts.

    Args:
        root: The demo workspace's folder.
        agent_process: Start the agent as a process of its own (headless demo); otherwise the
            caller embeds it (the app).
        receiver_port: Where the receiver listens (default: the workspace's setting, or any free port
            when that one is taken).
        fast_db: Trade durability for speed (tests).
    """
    workspace = Workspace(root)
    keystore.ensure_keyring(workspace.root)
    conns = workspace.open(fast=fast_db)
    simulator = None
    receiver = None
    try:
        ids = seed(workspace, conns)
        simulator = ensure_simulator(workspace.simulator_state)
        port = receiver_port if receiver_port is not None else workspace.settings().receiver_port
        receiver = start_receiver(conns.ingest, port)
        run = DemoRun(workspace, conns, ids, receiver, simulator)
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
